"""``LocalState``'s part of the circuit breaker and the adaptive bucket: per origin, the
pure functions of ``_breaker`` and ``_adaptive`` applied under the state's lock.

``guard_admit`` asks the origin's breaker before anything else is spent (an open circuit
refuses at once); ``guard_go`` commits the admission and takes the bucket's token once
pacing and budgets let the request go; ``guard_record`` and ``record_answer`` record an
answer.  The verdicts are those ``_resilience.step_for`` reads (see ``_resilience``).

A breaker's state is kept per origin and per config (two policies with different
breakers on one origin do not mix), in a ``Circuit``: the pure state, and the successes
of a closed ``breaker=P%`` *tallied* since -- a count and the window's bucket they fall
in.  Recording each success in the pure state rebuilds its window; the tally is one
addition, and it is recorded in one step (``_breaker.record_successes``) when something
must read the window: a failure, a success in a newer bucket.  Successes never move a
closed breaker, so the states are exactly those of recording every answer in turn (a
property test drives both).  A success that changes nothing for a ``breaker=N`` (closed,
no failure counted) is a read without the lock.
"""

from __future__ import annotations

from math import floor
from typing import Any

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
    bucket_of,
    record,
    record_successes,
    start,
)

__all__ = ["Circuit", "Circuits", "guard_admit", "guard_go", "guard_record", "record_answer"]

Admitted = tuple[BreakerConfig, BreakerState, "tuple[str, float] | None", "str | None"]


class Circuit:
    """One origin's breaker of one config: ``state`` (``_breaker.BreakerState``) and the
    successes tallied since (closed, ``breaker=P%``): ``n`` of them, counted in bucket
    ``b``; the first at ``t``.  (``floor(now / step)`` is ``bucket_of(config, now)``.)
    A tally is only kept while closed: whatever moves the breaker records it first."""

    __slots__ = ("b", "n", "state", "step", "t")

    def __init__(self, config: BreakerConfig) -> None:
        self.state = start(config)
        self.step = config.window / BUCKETS  # a bucket's seconds (``bucket_of``)
        self.n = 0
        self.b = 0
        self.t = 0.0

    def current(self, config: BreakerConfig) -> BreakerState:
        """The state with the tallied successes recorded in it."""
        if self.n:
            self.state = record_successes(config, self.state, self.n, self.t)
            self.n = 0
        return self.state

    def success(self, config: BreakerConfig, now: float) -> None:
        """Tally a success of a closed ``breaker=P%`` (a late one, older than the
        newest bucket, counts in the newest, as ``record`` counts it)."""
        if self.n and bucket_of(config, now) <= self.b:
            self.n += 1
            return
        state = self.current(config)  # a newer bucket: the tally so far goes in first
        b = bucket_of(config, now)
        self.b = b if b > state.bucket else state.bucket
        self.n = 1
        self.t = now


class Circuits(dict[BreakerConfig, Circuit]):
    """One origin's circuits, per config, and how many of them are not closed
    (``tripped``: while none is, ``LocalState.before`` has nothing to ask them)."""

    __slots__ = ("tripped",)

    def __init__(self) -> None:
        super().__init__()
        self.tripped = 0

    def move(self, c: Circuit, new: BreakerState) -> None:
        """Set ``c``'s state to ``new``, counting the circuits not closed."""
        was, now = c.state.phase != CLOSED, new.phase != CLOSED
        if was != now:
            self.tripped += 1 if now else -1
        c.state = new


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


def guard_admit(o: Any, config: BreakerConfig, now: float) -> Admitted | None:
    """``None`` when the circuit is closed (send; nothing to commit), else ``(config, new
    state, refusal, kind)``: ``refusal`` is ``("open", until)`` or ``("busy", until)``
    (nothing to commit), else ``None`` and ``kind`` says whether the request is a probe
    (``"probe"``, ``"half-open"``: the first since the circuit was open)."""
    circuits = o.circuit
    c = circuits.get(config) if circuits is not None else None
    if c is None or c.state.phase == CLOSED:
        return None  # admit(closed) sends and changes nothing (a tally is only closed)
    state = c.state
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
        _circuits(o).move(_circuit(o, config), new)
    if adaptive:
        bucket = o.bucket if o.bucket is not None else _start_bucket(now)
        o.bucket, wait = _acquire(bucket, now)
        go = now + wait
    if kind is not None:
        return (kind, go)
    return ("rate", go) if go > now else None


def _record(o: Any, config: BreakerConfig, failed: bool, probe: bool, now: float) -> str | None:
    """Record an answer in the origin's breaker: the phase it moved to, else ``None``."""
    c = _circuit(o, config)
    if not failed and config.ratio and c.state.phase == CLOSED:
        c.success(config, now)
        return None
    new, change = record(config, c.current(config), failed, now, probe)
    o.circuit.move(c, new)
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
) -> None:
    """Record an answer: the breaker's (``changes`` gets the phase it moved to) and the
    bucket's."""
    if breaker is not None:
        change = _record(o, breaker, failed, probe, now)
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
        if breaker is not None and not failed and not adaptive and breaker.ratio:
            # the common case, in one piece: one more success in the tally's bucket
            circuits = o.circuit
            c = circuits.get(breaker) if circuits is not None else None
            if c is not None and c.n and floor(now / c.step) <= c.b:  # a tally: closed
                c.n += 1
                return None
        if breaker is not None:
            change = _record(o, breaker, failed, probe, now)
        if adaptive:
            bucket = o.bucket if o.bucket is not None else _start_bucket(now)
            o.bucket = _record_bucket(bucket, throttled, now)
    return change
