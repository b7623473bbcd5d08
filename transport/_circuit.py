"""``CircuitOpenError``: a call the circuit breaker (``breaker=``) failed fast.

A ``RetryError`` with ``retry_after`` (seconds until the circuit is half-open) and
``origin``.  Nothing was sent, so each client's shell raises it as that client's
connection error too -- a subclass of both, built on first use for the library in hand
(``httpx.ConnectError``, ``httpx2.ConnectError``, ``aiohttp.ClientConnectionError``,
``requests.ConnectionError``) -- so code and SDKs that catch connection errors still do.
No client library is imported here.
"""

from __future__ import annotations

import threading
from typing import Any

from policy.loop import Attempt, circuit_of

from ._pool import CIRCUIT_ERROR, RetryError

__all__ = ["CircuitOpenError", "circuit_error"]


class CircuitOpenError(RetryError):
    """The circuit breaker refused the call: its origin failed too often lately.

    ``origin`` is ``scheme://host:port``; ``retry_after`` the seconds until the circuit
    lets a probe through (half-open).  ``attempts`` are the attempts made before (none
    when the call was refused at once).
    """

    def __init__(
        self,
        method: str,
        url: str,
        attempts: tuple[Attempt, ...],
        reason: str,
        *,
        origin: str = "",
        retry_after: float = 0.0,
    ) -> None:
        self.origin = origin
        self.retry_after = retry_after
        super().__init__(method, url, attempts, reason)

    def __reduce__(self) -> Any:
        base = type(self).__mro__[3] if type(self) is not CircuitOpenError else None
        args = (self.method, self.url, self.attempts, self.reason, self.origin, self.retry_after)
        return (_rebuild, (base, *args))


_lock = threading.Lock()
_classes: dict[type, type[CircuitOpenError]] = {}


def _class_for(base: type[BaseException]) -> type[CircuitOpenError]:
    """``CircuitOpenError`` that is also a ``base`` (a client's connection error)."""
    cls = _classes.get(base)
    if cls is None:
        with _lock:
            cls = _classes.get(base)
            if cls is None:
                name = f"{base.__module__.split('.')[0]}.{base.__name__}"
                cls = type(
                    "CircuitOpenError",
                    (CircuitOpenError, base),
                    {
                        "__module__": "transport",
                        "__doc__": f"``CircuitOpenError`` raised as a ``{name}``.",
                    },
                )
                _classes[base] = cls
    return cls


def _rebuild(
    base: type[BaseException] | None,
    method: str,
    url: str,
    attempts: tuple[Attempt, ...],
    reason: str,
    origin: str,
    retry_after: float,
) -> CircuitOpenError:
    cls = CircuitOpenError if base is None else _class_for(base)
    return cls(method, url, attempts, reason, origin=origin, retry_after=retry_after)


def circuit_error(
    call: Any, method: str, url: str, reason: str, base: type[BaseException] | None = None
) -> CircuitOpenError | None:
    """The ``CircuitOpenError`` (a ``base`` too, when given) for a call an open circuit
    ended, or ``None`` when something else ended it."""
    found = circuit_of(call)
    if found is None:
        return None
    origin, retry_after = found
    return _rebuild(base, method, url, tuple(call.attempts), reason, origin, retry_after)


CIRCUIT_ERROR[:] = [circuit_error]


def not_called(call: Any, method: str, display: str, reason: str) -> Exception:
    """The error of a function call that gave up before calling (``retrying``):
    ``CircuitOpenError`` when an open circuit ended it, else ``TimeoutError``."""
    found = circuit_error(call, method, display, reason)
    return found if found is not None else TimeoutError(f"{display} not called: {reason}")
