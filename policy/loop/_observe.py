"""What a call reports besides its log line: test mode's recorded waits and OpenTelemetry.

``transport.testing()`` records waits instead of taking them, for every adapter at once,
and a retry adds an event to the current OpenTelemetry span when one is recording.  Both
are process-wide switches read on the hot path of ``Call``; they live here, apart from
the driver, so the loop reads as the conversation it is and these two side channels can
be found (and changed) in one place.  OpenTelemetry is imported on the first retry only.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from ._attempt import Attempt

__all__ = ["record", "recorders", "start_recording", "stop_recording", "trace_retry"]


class Named(Protocol):
    """What ``trace_retry`` reads of a call: its method and how it names the target."""

    @property
    def method(self) -> str: ...

    @property
    def display(self) -> str: ...


# -- test mode ----------------------------------------------------------------------------

recorders: list[list[float]] = []  # the active ``testing()`` lists, innermost last
_recorders_lock = threading.Lock()


def start_recording(waits: list[float]) -> None:
    """Start recording waits into ``waits`` instead of taking them (``testing()``)."""
    with _recorders_lock:
        recorders.append(waits)


def stop_recording(waits: list[float]) -> None:
    """Stop recording into ``waits``."""
    with _recorders_lock:
        for i in range(len(recorders) - 1, -1, -1):
            if recorders[i] is waits:
                del recorders[i]
                break


def record(seconds: float) -> bool:
    """Record a wait when test mode is on; true when the wait is to be skipped."""
    if not recorders:
        return False
    with _recorders_lock:
        if not recorders:
            return False
        recorders[-1].append(seconds)
    return True


# -- OpenTelemetry -------------------------------------------------------------------------

#: ``opentelemetry.trace.get_current_span`` once looked up (on the first retry, so that
#: ``import transport`` never imports OpenTelemetry); ``False``: not installed.
_otel: Any = None
#: OpenTelemetry's context variable when its runtime context is the default contextvars
#: one (else ``None``): while it holds an empty context no span can be current, and the
#: span lookup is skipped (a retry then costs one ``ContextVar.get`` for tracing).
_otel_var: Any = None


def _current_span() -> Any:
    """The current OpenTelemetry span, or ``None`` when opentelemetry-api is not installed."""
    global _otel, _otel_var
    if _otel is None:
        try:
            from opentelemetry import context as otel_context
            from opentelemetry import trace
        except ImportError:
            _otel = False
            return None
        rc = getattr(otel_context, "_RUNTIME_CONTEXT", None)
        var = getattr(rc, "_current_context", None)
        if type(rc).__name__ == "ContextVarsRuntimeContext" and hasattr(var, "get"):
            _otel_var = var
        _otel = trace.get_current_span
    return _otel() if _otel is not False else None


def _span_event(span: Any, attempt: Attempt, method: str, display: str) -> None:
    """Add a ``retry`` event to ``span`` (a recording OpenTelemetry span)."""
    span.add_event(
        "retry",
        {
            "retry.attempt": attempt.number,
            "retry.outcome": attempt.label,
            "retry.delay_s": float(attempt.delay or 0.0),
            "retry.rule": attempt.rule or "",
            "retry.reason": attempt.reason,
            "http.request.method": method,
            "retry.target": display,
        },
    )


def trace_retry(attempt: Attempt, call: Named) -> None:
    """Add a ``retry`` event for ``attempt`` to the current span, when one is recording.

    While OpenTelemetry's default context holds no context at all no span can be current,
    and the span lookup is skipped (a retry then costs one ``ContextVar.get`` here).
    """
    if _otel is False or (_otel_var is not None and not _otel_var.get()):
        return
    span = _otel() if _otel is not None else _current_span()
    if span is not None and span.is_recording():
        _span_event(span, attempt, call.method, call.display)
