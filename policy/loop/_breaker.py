"""The circuit breaker (``breaker=5``, ``breaker=50%``), as pure functions of time.

A retry policy protects one call; a breaker protects the *dependency*: when an origin
keeps failing for everybody, calls stop being sent to it for a while (``open``), then a
few trial calls (``probes``) are let through (``half-open``); if they all succeed the
circuit closes again, if one fails it opens for another ``open`` span.

Everything here is a function of ``(config, state, ..., now)`` returning a new state and
a verdict: no clock, no lock, no I/O.  The state is an immutable ``BreakerState`` (a
named tuple of plain numbers and strings), so it can live in ``LocalState`` under a
lock, or in a Redis hash (``to_fields`` / ``from_fields``) updated by a script.  The
caller asks ``admit`` before sending and tells ``record`` each answer::

    state, verdict, wait = admit(config, state, now)   # "send" | "probe" | "open" | "busy"
    ... send only on "send" / "probe" ...
    state, change = record(config, state, is_failure(outcome), now, probe=verdict == "probe")

``change`` (and a different ``state.phase`` after ``admit``) is what hooks and log lines
report: ``closed → open → half-open → closed``.

Two ways to trip:

* ``breaker=N`` (``ratio`` false): ``N`` failed attempts in a row open the circuit;
  a success in between starts the count again.
* ``breaker=P%``: at least ``P`` % of the attempts recorded in the last ``window``
  seconds failed, and there were at least ``min`` of them.  The window moves in ten
  steps (``BUCKETS``): attempts are counted in buckets of ``window / 10`` seconds and
  the window is the current bucket and the nine before it (so it covers between 90 %
  and 100 % of ``window``).  That keeps the state a fixed size whatever the traffic.
  The condition is checked after every answer recorded, a success included: a success
  lowers the share of failures, but it may be the answer that brings the window to
  ``min`` attempts, or the one whose new bucket lets older successes leave the window.

Open: ``admit`` answers ``"open"`` with the seconds until half-open.  Half-open: the
first ``probes`` admissions are probes; later ones answer ``"busy"`` (wait for the
probes' answers) with the seconds until the probes count as lost: answers that never
come (a caller that crashed mid-probe) must not hold the circuit half-open forever, so
a new round of probes is let through once every probe of the round is past its due
time: ``max(open, lease)`` seconds after it went, ``lease`` being the most the request
may take (its attempt's timeout, which the caller passes to ``admit``).  A caller whose
probe ends without an answer (cancelled, or an exception the policy does not know)
gives its place back with ``release``.  Answers
recorded while open, and answers of non-probes while half-open (requests sent before
the circuit opened), change nothing.
"""

from __future__ import annotations

import math
from typing import Final, NamedTuple

from ..language._outcomes import is_failure

__all__ = [
    "BUCKETS",
    "BUSY",
    "CLOSED",
    "HALF_OPEN",
    "OPEN",
    "PROBE",
    "SEND",
    "BreakerConfig",
    "BreakerState",
    "admit",
    "bucket_of",
    "config_of",
    "from_fields",
    "is_failure",
    "record",
    "record_successes",
    "release",
    "start",
    "to_fields",
]

#: Phases (``BreakerState.phase``).
CLOSED: Final = "closed"
OPEN: Final = "open"
HALF_OPEN: Final = "half-open"
#: Verdicts of ``admit`` (``OPEN`` doubles as the verdict "refused: the circuit is open").
SEND: Final = "send"
PROBE: Final = "probe"
BUSY: Final = "busy"

#: Steps in a ratio breaker's window.
BUCKETS: Final = 10


class BreakerConfig(NamedTuple):
    """What ``breaker=`` says, in seconds.

    ``threshold`` is N failed attempts in a row (``ratio`` false) or P percent
    (``ratio`` true, 1..100); ``window`` and ``min`` matter only for a ratio.
    """

    threshold: int
    ratio: bool = False
    window: float = 30.0
    open: float = 30.0
    min: int = 20
    probes: int = 1


class BreakerState(NamedTuple):
    """One origin's breaker.

    ``phase``: ``"closed"``, ``"open"`` or ``"half-open"``.  ``streak``: failed attempts
    in a row (closed, ``breaker=N``).  ``until``: open -- when half-open begins;
    half-open -- when outstanding probes count as lost.  ``sent`` / ``passed``: probes
    let through / succeeded in this half-open round.  ``bucket``: the index
    (``floor(now / (window / 10))``) of the newest bucket; ``fails`` / ``total``: per
    bucket (ring, by index modulo ``BUCKETS``) failed and all attempts; empty tuples for
    ``breaker=N``.
    """

    phase: str
    streak: int
    until: float
    sent: int
    passed: int
    bucket: int
    fails: tuple[int, ...]
    total: tuple[int, ...]


_ZEROS: Final = (0,) * BUCKETS
_new = tuple.__new__  # a BreakerState from a tuple, without the keyword handling
_COUNT_CLOSED: Final = BreakerState(CLOSED, 0, 0.0, 0, 0, 0, (), ())
_RATIO_CLOSED: Final = BreakerState(CLOSED, 0, 0.0, 0, 0, 0, _ZEROS, _ZEROS)


def start(config: BreakerConfig) -> BreakerState:
    """A closed breaker with nothing recorded."""
    return _RATIO_CLOSED if config.ratio else _COUNT_CLOSED


def admit(
    config: BreakerConfig, state: BreakerState, now: float, lease: float = 0.0
) -> tuple[BreakerState, str, float]:
    """May a request go now?  ``(new state, verdict, wait)``.

    ``"send"`` (closed) and ``"probe"`` (half-open: this request is a probe; record its
    answer with ``probe=True``): send it, ``wait`` is 0.  ``"open"``: do not send;
    ``wait`` is the seconds until half-open.  ``"busy"``: half-open with every probe
    out; do not send; the probes' answers decide, and ``wait`` is the most that takes
    (the seconds until the probes count as lost).  An open circuit whose time is up
    becomes half-open here, and this request is its first probe.  ``lease``: the most
    seconds the request may take; a probe's answer is due ``max(open, lease)`` seconds
    after it goes.
    """
    phase = state.phase
    if phase == CLOSED:
        return state, SEND, 0.0
    if phase == OPEN:
        if now < state.until:
            return state, OPEN, state.until - now
        return _half_open(config, state, now, lease), PROBE, 0.0
    if state.sent < config.probes:
        due = now + (lease if lease > config.open else config.open)
        return state._replace(sent=state.sent + 1, until=max(due, state.until)), PROBE, 0.0
    if now >= state.until:  # the probes' answers never came: a new round
        return _half_open(config, state, now, lease), PROBE, 0.0
    return state, BUSY, state.until - now


def release(
    config: BreakerConfig, state: BreakerState, now: float = -math.inf, due: float = math.inf
) -> BreakerState:
    """A probe that ends without an answer (cancelled; an exception the policy does not
    classify) gives its place back: the next admission is a probe instead of waiting
    for it.  A probe whose answer was ``due`` before ``now`` has no place left to give
    (it lapsed: a new round may have begun, and its places are other probes').  Anything
    but a half-open breaker with a probe unanswered is unchanged."""
    if state.phase != HALF_OPEN or state.sent <= state.passed or due <= now:
        return state
    return state._replace(sent=state.sent - 1)


def record(
    config: BreakerConfig,
    state: BreakerState,
    failed: bool,
    now: float,
    probe: bool = False,
) -> tuple[BreakerState, str | None]:
    """Record an attempt's answer (``failed``: see ``is_failure``).  ``(new state,
    change)`` with ``change`` the new phase when this answer moved it (``"open"``,
    ``"closed"``), else ``None``.  ``probe``: the request was admitted as a probe."""
    phase = state.phase
    if phase == CLOSED:
        if not config.ratio:
            if not failed:
                if state.streak == 0:
                    return state, None
                return _COUNT_CLOSED, None
            streak = state.streak + 1
            if streak >= config.threshold:
                return _opened(config, state, now), OPEN
            return BreakerState(CLOSED, streak, 0.0, 0, 0, 0, (), ()), None
        return _record_ratio(config, state, failed, now)
    if phase == OPEN or not probe:
        return state, None
    if failed:
        opened = _opened(config, state, now)
        if state.sent - state.passed > 1 and state.until > opened.until:
            # the round's other probes are still out: half-open again once they are due
            opened = opened._replace(until=state.until)
        return opened, OPEN
    passed = state.passed + 1
    if passed >= config.probes:
        return start(config), CLOSED
    return state._replace(passed=passed), None


def record_successes(
    config: BreakerConfig, state: BreakerState, n: int, now: float
) -> BreakerState:
    """``n`` successes of a closed ``breaker=P%`` at ``now``, at once: the state ``n``
    calls of ``record(config, state, False, now)`` give (open, if one of them opened it).
    ``LocalState`` tallies successes that cannot open the circuit and records them here
    when something must read the window."""
    return _record_ratio(config, state, False, now, n)[0]


def _half_open(
    config: BreakerConfig, state: BreakerState, now: float, lease: float
) -> BreakerState:
    due = now + (lease if lease > config.open else config.open)
    return BreakerState(HALF_OPEN, 0, due, 1, 0, 0, state.fails, state.total)


def _opened(config: BreakerConfig, state: BreakerState, now: float) -> BreakerState:
    fresh = _ZEROS if config.ratio else ()
    return BreakerState(OPEN, 0, now + config.open, 0, 0, 0, fresh, fresh)


def _record_ratio(
    config: BreakerConfig, state: BreakerState, failed: bool, now: float, n: int = 1
) -> tuple[BreakerState, str | None]:
    """Count ``n`` attempts in the current bucket (a late report, older than the newest
    bucket, counts in the newest) and open when the window's failures reach the ratio."""
    b = bucket_of(config, now)
    fails, total = state.fails, state.total
    newest = state.bucket
    if b > newest:  # a new bucket: the ones that left the window are emptied
        if b - newest >= BUCKETS:
            fails, total = _ZEROS, _ZEROS
        else:
            f, t = list(fails), list(total)
            for k in range(newest + 1, b + 1):
                f[k % BUCKETS] = t[k % BUCKETS] = 0
            fails, total = tuple(f), tuple(t)
        newest = b
    slot = newest % BUCKETS
    if failed:
        fails = (*fails[:slot], fails[slot] + 1, *fails[slot + 1 :])
    total = (*total[:slot], total[slot] + n, *total[slot + 1 :])
    counted, failures = sum(total), sum(fails)
    if failed:
        if counted >= config.min and failures * 100 >= config.threshold * counted:
            return _opened(config, state, now), OPEN
    else:
        # Successes only lower the share of failures: the first of them that brings the
        # window to ``min`` attempts (the first of them, if it had that many) decides.
        before = counted - n
        k = config.min - before if config.min - before > 1 else 1
        if k <= n and failures * 100 >= config.threshold * (before + k):
            return _opened(config, state, now), OPEN
    return _new(BreakerState, (CLOSED, 0, 0.0, 0, 0, newest, fails, total)), None


def bucket_of(config: BreakerConfig, now: float) -> int:
    """The index of the ratio window's bucket ``now`` falls in (as Redis' Lua computes it)."""
    return math.floor(now / (config.window / BUCKETS))


def to_fields(state: BreakerState) -> dict[str, str]:
    """The state as flat string fields (a Redis hash); ``from_fields`` reads them back."""
    return {
        "phase": state.phase,
        "streak": str(state.streak),
        "until": repr(state.until),
        "sent": str(state.sent),
        "passed": str(state.passed),
        "bucket": str(state.bucket),
        "fails": ",".join(map(str, state.fails)),
        "total": ",".join(map(str, state.total)),
    }


def from_fields(config: BreakerConfig, fields: dict[str, str]) -> BreakerState:
    """The state ``to_fields`` wrote; missing or unreadable fields give a closed breaker
    (a store that lost its keys forgets the breaker, it never breaks the caller)."""
    try:
        phase = fields["phase"]
        if phase not in (CLOSED, OPEN, HALF_OPEN):
            return start(config)

        def ints(text: str) -> tuple[int, ...]:
            return tuple(int(x) for x in text.split(",")) if text else ()

        fails, total = ints(fields["fails"]), ints(fields["total"])
        size = BUCKETS if config.ratio else 0
        if len(fails) != size or len(total) != size:
            return start(config)
        return BreakerState(
            phase,
            int(fields["streak"]),
            float(fields["until"]),
            int(fields["sent"]),
            int(fields["passed"]),
            int(fields["bucket"]),
            fails,
            total,
        )
    except (KeyError, ValueError):
        return start(config)


def config_of(setting: object) -> BreakerConfig:
    """The config of a ``breaker=`` setting (its ``threshold``, ``ratio``, ``window_ms``,
    ``open_ms``, ``min`` and ``probes``)."""
    return BreakerConfig(
        int(getattr(setting, "threshold")),  # noqa: B009
        bool(getattr(setting, "ratio")),  # noqa: B009
        getattr(setting, "window_ms", 30_000) / 1000,
        getattr(setting, "open_ms", 30_000) / 1000,
        int(getattr(setting, "min", 20)),
        int(getattr(setting, "probes", 1)),
    )
