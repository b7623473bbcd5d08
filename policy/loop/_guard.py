"""``LocalState``'s part of the circuit breaker and the adaptive bucket: per origin, the
pure functions of ``_breaker`` and ``_adaptive`` applied under the state's lock.

``guard_admit`` asks the origin's breaker before anything else is spent (an open circuit
refuses at once); ``guard_token`` asks the bucket for a token (none yet: the caller waits
and asks again, nothing spent); ``guard_go`` commits the admission and the token once
pacing and budgets let the request go; ``guard_record`` and ``record_answer`` record an
answer; ``guard_release`` gives back the place of a probe that ended without one.  The
verdicts are those ``_resilience.step_for`` reads (see ``_resilience``).

A breaker's state is kept per origin and per config (two policies with different
breakers on one origin do not mix), in a ``Circuit``: the pure state, and the successes
of a closed ``breaker=P%`` *tallied* since.  Recording each success in the pure state
rebuilds its window; the tally is one addition.  Only a success that cannot open the
circuit is tallied -- one in the newest bucket of a window that already holds ``min``
attempts: a success then only lowers the share of failures -- and the tally is recorded
in one step (``_breaker.record_successes``) before anything else reads the window.  Any
other answer is recorded by the pure ``record``, so the states are exactly those of
recording every answer in turn (a property test drives both).  A success that changes
nothing for a ``breaker=N`` (closed, no failure counted) is a read without the lock.
"""

from __future__ import annotations

from typing import Any

from ._adaptive import AdaptiveState
from ._adaptive import acquire as _acquire
from ._adaptive import record as _record_bucket
from ._adaptive import start as _start_bucket
from ._breaker import (
    BUCKETS,
    CLOSED,
    OPEN,
    PROBE,
    BreakerConfig,
    BreakerState,
    admit,
    record,
    record_successes,
    release,
    start,
)

__all__ = [
    "Circuit",
    "Circuits",
    "guard_admit",
    "guard_go",
    "guard_record",
    "guard_release",
    "guard_token",
    "record_answer",
]

_INF = float("inf")

Admitted = tuple[BreakerConfig, BreakerState, "tuple[str, float] | None", "str | None"]


class Circuit:
    """One origin's breaker of one config: ``state`` (``_breaker.BreakerState``) and the
    successes tallied since: ``n`` of them, at ``t`` and later.  A success may be
    tallied while ``now < edge`` (it counts in the newest bucket: ``edge`` is a hair
    before that bucket's end, ``-inf`` when none may: not closed, not a ratio, or the
    window changed) and ``n >= need`` (``min`` less the attempts the window held when
    ``edge`` was set: the share is only checked from ``min`` attempts on)."""

    __slots__ = ("edge", "n", "need", "state", "step", "t")

    def __init__(self, config: BreakerConfig) -> None:
        self.state = start(config)
        self.step = config.window / BUCKETS  # a bucket's seconds (``bucket_of``)
        self.n = 0
        self.edge = -_INF
        self.need = 0
        self.t = 0.0

    def open_tally(self, config: BreakerConfig, new: BreakerState) -> None:
        """Successes in ``new``'s newest bucket may be tallied (a closed ratio breaker):
        until a hair before the bucket ends (near the edge the exact record decides)."""
        end = (new.bucket + 1) * self.step
        self.edge = end - abs(end) * 1e-12
        self.need = config.min - sum(new.total)

    def current(self, config: BreakerConfig) -> BreakerState:
        """The state with the tallied successes recorded in it."""
        if self.n:
            self.state = record_successes(config, self.state, self.n, self.t)
            self.n = 0
        return self.state


class Circuits(dict[BreakerConfig, Circuit]):
    """One origin's circuits, per config, and how many of them are not closed
    (``tripped``: while none is, ``LocalState.before`` has nothing to ask them)."""

    __slots__ = ("tripped",)

    def __init__(self) -> None:
        super().__init__()
        self.tripped = 0

    def move(self, c: Circuit, new: BreakerState) -> None:
        """Set ``c``'s state to ``new`` (its tally recorded first), counting the circuits
        not closed; no success is tallied until one is recorded in the new state."""
        was, now = c.state.phase != CLOSED, new.phase != CLOSED
        if was != now:
            self.tripped += 1 if now else -1
        c.state = new
        c.edge = -_INF


def _circuits(o: Any) -> Circuits:
    circuits: Circuits | None = o.circuit
    if circuits is None:
        circuits = o.circuit = Circuits()
    return circuits


def _circuit(o: Any, config: BreakerConfig) -> Circuit:
    """The origin's ``Circuit`` for ``config`` (created closed)."""
    circuits = _circuits(o)
    c: Circuit | None = circuits.get(config)
    if c is None:
        c = circuits[config] = Circuit(config)
    return c


def guard_admit(o: Any, config: BreakerConfig, now: float, lease: float) -> Admitted | None:
    """``None`` when the circuit is closed (send; nothing to commit), else ``(config, new
    state, refusal, kind)``: ``refusal`` is ``("open", until)`` or ``("busy", until)``
    (nothing to commit), else ``None`` and ``kind`` says whether the request is a probe
    (``"probe"``, ``"half-open"``: the first since the circuit was open).  ``lease``: the
    most the request may take (a probe's answer is due by then)."""
    circuits = o.circuit
    c = circuits.get(config) if circuits is not None else None
    if c is None or c.state.phase == CLOSED:
        return None  # admit(closed) sends and changes nothing (a tally is only closed)
    state = c.state
    new, verdict, wait = admit(config, state, now, lease)
    if verdict == PROBE:
        kind = "half-open" if state.phase == OPEN else "probe"
        return config, new, None, kind
    return config, new, (verdict, now + wait), None


def guard_token(o: Any, now: float) -> tuple[AdaptiveState | None, tuple[str, float] | None]:
    """The bucket's token: ``(new bucket, None)`` to commit with ``guard_go`` when there
    is one, else ``(None, ("rate", until))``: wait until then and ask again (the bucket
    is refilled to ``now``; nothing is taken)."""
    bucket = o.bucket if o.bucket is not None else _start_bucket(now)
    new, wait = _acquire(bucket, now)
    if wait:
        o.bucket = new
        return None, ("rate", now + wait)
    return new, None


def guard_go(o: Any, admitted: Admitted | None, token: AdaptiveState | None, now: float) -> Any:
    """Commit the admission and the token: the verdict ``before`` answers."""
    if token is not None:
        o.bucket = token
    if admitted is None:
        return None
    config, new, _, kind = admitted
    _circuits(o).move(_circuit(o, config), new)
    return (kind, now)


def _record(o: Any, config: BreakerConfig, failed: bool, probe: bool, now: float) -> str | None:
    """Record an answer in the origin's breaker: the phase it moved to, else ``None``."""
    c = _circuit(o, config)
    if not failed and now < c.edge and c.n >= c.need:
        if not c.n:
            c.t = now
        c.n += 1  # a success that cannot open the circuit: tallied
        return None
    new, change = record(config, c.current(config), failed, now, probe)
    o.circuit.move(c, new)
    if config.ratio and new.phase == CLOSED:  # successes in its newest bucket may be tallied
        c.open_tally(config, new)
    return change


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
    released: bool = False,
) -> None:
    """Record an answer: the breaker's (``changes`` gets the phase it moved to) and the
    bucket's; ``released``: no answer, a probe's place given back (``guard_release``)."""
    if released:
        if breaker is not None:
            guard_release(o, breaker)
        return
    if breaker is not None:
        change = _record(o, breaker, failed, probe, now)
        if change is not None and changes is not None:
            changes.append(change)
    if adaptive:
        bucket = o.bucket if o.bucket is not None else _start_bucket(now)
        o.bucket = _record_bucket(bucket, throttled, now)


def guard_release(o: Any, config: BreakerConfig) -> None:
    """A probe ended without an answer: its place goes to the next caller."""
    circuits = o.circuit
    c = circuits.get(config) if circuits is not None else None
    if c is not None:
        circuits.move(c, release(config, c.current(config)))


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
    it -- and everything else is recorded under the lock."""
    if breaker is not None and not failed and not adaptive and not breaker.ratio:
        o = local._origins.get(origin)
        circuits = o.circuit if o is not None else None
        c = circuits.get(breaker) if circuits is not None else None
        if c is None:
            return None
        state = c.state
        if state.phase == CLOSED and state.streak == 0:
            return None
    change = None
    with local._lock:
        o = local._origins.get(origin) or local._get(origin)
        if breaker is not None and not failed and not adaptive:
            # the common case, in one piece: a success that cannot open the circuit
            circuits = o.circuit
            c = circuits.get(breaker) if circuits is not None else None
            if c is not None and now < c.edge and c.n >= c.need:
                if not c.n:
                    c.t = now
                c.n += 1
                return None
        if breaker is not None:
            change = _record(o, breaker, failed, probe, now)
        if adaptive:
            bucket = o.bucket if o.bucket is not None else _start_bucket(now)
            o.bucket = _record_bucket(bucket, throttled, now)
    return change
