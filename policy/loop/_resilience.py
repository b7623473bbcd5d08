"""The circuit breaker and the adaptive limiter in the attempt loop (``breaker=``,
``pace=adaptive``): what ``Call`` does with the ``State``'s verdicts, and the reports of a
breaker's changes of phase.

``Call.before`` asks the shared ``State`` (one call per attempt, as for pacing holds and
budgets); the state consults the origin's breaker and adaptive bucket and answers, besides
``None`` (go) and the pacing verdicts ``("hold", until)`` / ``("quota", until)``:

* ``("open", until)`` -- the circuit is open until ``until`` (then half-open).  A first
  attempt fails fast (nothing is sent: the shells raise ``transport.CircuitOpenError``);
  a retry waits for half-open when the deadline allows, else gives up naming the origin
  and the time.
* ``("busy", until)`` -- half-open, every probe out: wait (a little at a time) for the
  probes' answers while the deadline allows, else fail fast.
* ``("probe", now)`` / ``("half-open", now)`` -- send it: it is a probe (``half-open``:
  the first of a round, the circuit just left ``open``), its answer due within
  ``max(open, the attempt's timeout)`` (the ``lease`` the call passes).
* ``("rate", until)`` -- the adaptive bucket has no token yet: wait until then and ask
  again (nothing was taken or spent; a call whose deadline comes first gives up, owing
  nothing).

``Call.after`` records the answer: a failure (5xx, ``timeout``, ``connect``, ``reset``,
``error``) or a success for the breaker, a throttle (429, 503) or not for the bucket;
the phase it moved the breaker to (``open``, ``closed``) comes back and is reported.  A
probe that ends without an answer (cancelled, an exception the policy does not classify:
the shells call ``Call.abandon``) gives its place back (``after(..., released=True)``),
so the calls waiting for the probes need not wait until it is due.

Reports of a change of phase (``closed → open → half-open → closed``): a log line on the
``policy`` logger (WARNING when a circuit opens, INFO otherwise) with the structured
fields ``breaker_origin``, ``breaker_from``, ``breaker_to``; a ``circuit`` event on the
current OpenTelemetry span; and every listener added with ``add_breaker_listener``
(``transport.prometheus_hooks`` adds a counter).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any, Final, Protocol

import policy

from ._adaptive import is_throttle
from ._attempt import Attempt, Done, Wait
from ._breaker import CLOSED, HALF_OPEN, OPEN, BreakerConfig, config_of, is_failure
from ._guard import record_answer
from ._logline import wait_reason
from ._observe import _current_span
from ._state import LocalState


class Call(Protocol):
    """What this module reads of a ``_loop.Call`` (not imported: the loop imports this)."""

    _deadline_at: float
    _held_to: float
    _sent: int
    _origin: str | None
    _res: Any
    _probe: bool
    _due: float
    _skipped: float
    _circuit: tuple[str, float] | None
    _state: Any
    _on_giveup: Callable[[Attempt], object] | None
    attempts: list[Attempt]

    @property
    def display(self) -> str: ...

    def _finish(self, attempt: Attempt | None, reason: str) -> Done: ...

    def _wait(self, seconds: float, attempt: Attempt | None) -> Wait: ...


__all__ = [
    "BUSY_POLL",
    "Guard",
    "abandon",
    "add_breaker_listener",
    "after_guard",
    "circuit_of",
    "guard_of",
    "heard",
    "quiet",
    "remove_breaker_listener",
    "report_change",
    "step_for",
]

log = logging.getLogger("policy")
_Response: Final = policy.Response

_INF: Final = float("inf")

#: While the probes are out, a call looks again this often (seconds).
BUSY_POLL: Final = 0.05

#: Per policy (by identity): (policy, its guard).
_cache: dict[int, tuple[Any, Guard | None]] = {}

BreakerListener = Callable[[str, str, str], object]
_listeners: list[BreakerListener] = []
#: Set while a simulation runs: its circuits are virtual, so nothing is reported.
_quiet: ContextVar[bool] = ContextVar("policy_breaker_quiet", default=False)


def guard_of(p: policy.Policy) -> Guard | None:
    """The policy's ``Guard`` when it has ``breaker=`` or ``pace=adaptive`` (one per
    policy, kept: a call asks on every construction)."""
    hit = _cache.get(id(p))
    if hit is not None and hit[0] is p:
        return hit[1]
    if len(_cache) >= 256:
        _cache.clear()
    setting = p.breaker
    config = None if setting is None else config_of(setting)
    adaptive = bool(p.adaptive)
    guard = Guard(config, adaptive) if config is not None or adaptive else None
    _cache[id(p)] = (p, guard)
    return guard


def add_breaker_listener(listener: BreakerListener) -> None:
    """Call ``listener(origin, old, new)`` on every change of a circuit's phase seen by
    this process (``"closed"``, ``"open"``, ``"half-open"``)."""
    _listeners.append(listener)


def remove_breaker_listener(listener: BreakerListener) -> None:
    """Stop calling ``listener``."""
    if listener in _listeners:
        _listeners.remove(listener)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """No change of phase is reported inside (the simulator's circuits are virtual: a
    log line, a span event or a Prometheus counter for them would mislead)."""
    token = _quiet.set(True)
    try:
        yield
    finally:
        _quiet.reset(token)


def report_change(origin: str, old: str, new: str) -> None:
    """Report a change of phase: log line, OpenTelemetry event, listeners."""
    if _quiet.get():
        return
    level = logging.WARNING if new == OPEN else logging.INFO
    if log.isEnabledFor(level):
        log.log(
            level,
            "circuit for %s: %s -> %s",
            origin,
            old,
            new,
            extra={"breaker_origin": origin, "breaker_from": old, "breaker_to": new},
        )
    span = _current_span()
    if span is not None and span.is_recording():
        span.add_event(
            "circuit", {"circuit.origin": origin, "circuit.from": old, "circuit.to": new}
        )
    for listener in tuple(_listeners):
        listener(origin, old, new)


class Guard:
    """A policy's breaker and bucket: its breaker's config (``None``: none) and whether it
    paces adaptively.  What one call adds (whether the request about to go is a probe,
    whether its token is already taken, the circuit that ended it) is the call's own."""

    __slots__ = ("adaptive", "breaker")

    def __init__(self, breaker: BreakerConfig | None, adaptive: bool) -> None:
        self.breaker = breaker
        self.adaptive = adaptive

    def after_kw(self, call: Call, outcome: Any) -> dict[str, Any]:
        """``State.after``'s arguments: the answer's verdicts (``changes`` collects the
        phases the answer moved the breaker to)."""
        return {
            "breaker": self.breaker,
            "failed": self.breaker is not None and is_failure(outcome),
            "probe": call._probe,
            "adaptive": self.adaptive,
            "throttled": self.adaptive and is_throttle(outcome),
            "changes": [],
        }

    def record(self, call: Call, outcome: Any, now: float) -> None:
        """Record an answer that has nothing else to share (no hold, quota or retry):
        with a ``LocalState``, directly (``_guard.record_answer``: positional, without
        the lock when nothing changes); with another state, its ``after``."""
        state = call._state
        origin = call._origin or ""
        if type(state) is LocalState:
            breaker = self.breaker
            change = record_answer(
                state,
                origin,
                now,
                breaker,
                breaker is not None
                and (outcome.status >= 500 if type(outcome) is _Response else is_failure(outcome)),
                call._probe,
                self.adaptive,
                self.adaptive and is_throttle(outcome),
            )
            if change is not None:
                report_change(
                    origin, HALF_OPEN if call._probe or change == CLOSED else CLOSED, change
                )
            call._probe = False
            return
        kw = self.after_kw(call, outcome)
        state.after(origin, now, **kw)
        after_guard(call, kw)


def circuit_of(call: Call) -> tuple[str, float] | None:
    """``(origin, seconds until half-open)`` when an open circuit ended ``call``."""
    return call._circuit


def heard(call: Call, outcome: Any, now: float) -> None:
    """An answer the loop is not asked to decide on -- a redirect the client follows, a
    success the shell saw without an outcome -- still reaches the breaker and the bucket
    (a probe's answer among them); ``now`` is the shell's clock."""
    res: Guard | None = call._res
    if res is not None:
        res.record(call, outcome, now + call._skipped)


def abandon(call: Call, now: float) -> None:
    """The probe ``call`` sent ended without an answer: its place goes to the next call
    (unless its answer was due already: then its place has lapsed, and another probe may
    hold it now)."""
    call._probe = False
    res: Guard | None = call._res
    if now >= call._due:
        return
    if res is not None and res.breaker is not None and call._state is not None:
        call._state.after(call._origin or "", now, breaker=res.breaker, released=True)


def after_guard(call: Call, kw: dict[str, Any]) -> None:
    """Report the changes of phase the answer caused; the probe, if it was one, is over."""
    for new in kw["changes"]:
        old = HALF_OPEN if call._probe or new == CLOSED else CLOSED
        report_change(call._origin or "", old, new)
    call._probe = False


def _when(t: float, now: float) -> str:
    """``12:00:31 (in 30s)``: a wall-clock time, and how far from ``now`` it is."""
    import time

    return time.strftime("%H:%M:%S", time.localtime(t)) + f" (in {t - now:.3g}s)"


def step_for(
    call: Call, why: str, until: float, now: float, limit: float = _INF
) -> Wait | Done | None:
    """What ``call`` does on the state's verdict ``(why, until)`` (``None``: send now):
    a pacing hold or quota, a breaker's or the adaptive bucket's.  ``limit``: the
    attempt's time limit (a probe's answer is due ``max(open, limit)`` after it goes)."""
    if why == "hold" or why == "quota":
        if until <= now:
            return None
        if until > call._deadline_at:
            reason = wait_reason(why, call.display or call._origin, until - now)
            return call._finish(call.attempts[-1] if call.attempts else None, reason)
        call._held_to = until  # a recording sleep still moves the call's time on
        return call._wait(until - now, None)
    if why == "probe" or why == "half-open":
        call._probe = True
        wait = call._res.breaker.open  # as the breaker counts it: max(open, the lease)
        call._due = now + (limit if wait < limit < _INF else wait)
        if why == "half-open":
            report_change(call._origin or "", OPEN, HALF_OPEN)
        why = "rate"
    if why == "rate":
        if until <= now:
            return None
        if until > call._deadline_at:
            return call._finish(
                call.attempts[-1] if call.attempts else None,
                f"the adaptive rate limit for {call.display or call._origin} holds the "
                f"request {until - now:.3g}s; the deadline would pass",
            )
        call._held_to = until  # then ask again (nothing was taken): a recording sleep too
        return call._wait(until - now, None)
    origin = call._origin or ""
    if why == "open":
        if call._sent > 0 and until <= call._deadline_at:
            return call._wait(until - now, None)  # a retry waits for half-open
        return _fail_fast(
            call, origin, until, now, f"circuit open for {origin} until {_when(until, now)}"
        )
    # busy: half-open with the probes out; their answers decide
    if now + BUSY_POLL <= call._deadline_at:
        return call._wait(min(BUSY_POLL, max(until - now, 0.001)), None)
    return _fail_fast(
        call, origin, until, now, f"circuit half-open for {origin}: the probes' answers are due"
    )


def _fail_fast(call: Call, origin: str, until: float, now: float, reason: str) -> Done:
    """Give up without sending: the shells raise ``CircuitOpenError`` from ``circuit``."""
    call._circuit = (origin, max(until - now, 0.0))
    last = call.attempts[-1] if call.attempts else None
    done = call._finish(last, reason)
    if last is None and call._on_giveup is not None:
        # nothing was sent: on_giveup is told with an attempt numbered 0, outcome connect
        call._on_giveup(Attempt(0, policy.ConnectFailure(), None, reason, None))
    return done
