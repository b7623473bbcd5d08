"""``LocalState``'s part of the circuit breaker and the adaptive bucket: per origin, the
pure functions of ``_breaker`` and ``_adaptive`` applied under the state's lock.

``guard_admit`` asks the origin's breaker before anything else is spent (an open circuit
refuses at once); ``guard_go`` commits the admission and takes the bucket's token once
pacing and budgets let the request go; ``guard_record`` records an answer.  The verdicts
are those ``_resilience.step_for`` reads (see ``_resilience``).  A breaker's state is
kept per config, so two policies with different breakers on one origin do not mix.
"""

from __future__ import annotations

from typing import Any

from ._adaptive import acquire as _acquire
from ._adaptive import record as _record_bucket
from ._adaptive import start as _start_bucket
from ._breaker import CLOSED, OPEN, PROBE, BreakerConfig, BreakerState, admit, record, start

__all__ = ["guard_admit", "guard_go", "guard_record", "record_answer"]

Admitted = tuple[BreakerConfig, BreakerState, "tuple[str, float] | None", "str | None"]


def guard_admit(o: Any, config: BreakerConfig, now: float) -> Admitted | None:
    """``None`` when the circuit is closed (send; nothing to commit), else ``(config, new
    state, refusal, kind)``: ``refusal`` is ``("open", until)`` or ``("busy", until)``
    (nothing to commit), else ``None`` and ``kind`` says whether the request is a probe
    (``"probe"``, ``"half-open"``: the first since the circuit was open)."""
    states = o.circuit
    state = states.get(config) if states is not None else None
    if state is None or state.phase == CLOSED:
        return None  # admit(closed) sends and changes nothing
    new, verdict, wait = admit(config, state, now)
    if verdict == PROBE:
        kind = "half-open" if state.phase == OPEN else "probe"
        return config, new, None, kind
    return config, new, (verdict, now + wait), None


def guard_go(o: Any, admitted: Admitted | None, adaptive: bool, now: float) -> Any:
    """Commit the admission, take the bucket's token: the verdict ``before`` answers."""
    go = now
    kind = None
    if admitted is not None:
        config, new, _, kind = admitted
        if o.circuit is None:
            o.circuit = {}
        o.circuit[config] = new
    if adaptive:
        bucket = o.bucket if o.bucket is not None else _start_bucket(now)
        o.bucket, wait = _acquire(bucket, now)
        go = now + wait
    if kind is not None:
        return (kind, go)
    return ("rate", go) if go > now else None


def guard_record(
    o: Any,
    now: float,
    *,
    breaker: BreakerConfig | None = None,
    failed: bool = False,
    probe: bool = False,
    adaptive: bool = False,
    throttled: bool = False,
    changes: list[str] | None = None,
) -> None:
    """Record an answer: the breaker's (``changes`` gets the phase it moved to) and the
    bucket's."""
    if breaker is not None:
        states = o.circuit
        if states is None:
            states = o.circuit = {}
        state = states.get(breaker)
        if state is None:
            state = start(breaker)
        new, change = record(breaker, state, failed, now, probe=probe)
        if new is not state:
            states[breaker] = new
        if change is not None and changes is not None:
            changes.append(change)
    if adaptive:
        bucket = o.bucket if o.bucket is not None else _start_bucket(now)
        o.bucket = _record_bucket(bucket, throttled, now)


def record_answer(
    local: Any,
    origin: str,
    now: float,
    breaker: BreakerConfig | None,
    failed: bool,
    probe: bool,
    adaptive: bool,
    throttled: bool,
) -> str | None:
    """``LocalState.after`` with only an answer to record for the breaker and the bucket:
    the phase it moved the breaker to, else ``None``.  A success that changes nothing (a
    ``breaker=N`` closed with no failure counted, no bucket) reads the state without its
    lock -- one dictionary read, no write: it takes its place before any record racing
    it -- and everything else is ``guard_record`` under the lock."""
    if breaker is not None and not failed and not adaptive and not breaker.ratio:
        o = local._origins.get(origin)
        states = o.circuit if o is not None else None
        state = states.get(breaker) if states is not None else None
        if state is None or (state.phase == CLOSED and state.streak == 0):
            return None
    change = None
    with local._lock:
        o = local._origins.get(origin) or local._get(origin)
        if breaker is not None:
            states = o.circuit
            if states is None:
                states = o.circuit = {}
            state = states.get(breaker) or start(breaker)
            new, change = record(breaker, state, failed, now, probe)
            if new is not state:
                states[breaker] = new
        if adaptive:
            bucket = o.bucket if o.bucket is not None else _start_bucket(now)
            o.bucket = _record_bucket(bucket, throttled, now)
    return change
