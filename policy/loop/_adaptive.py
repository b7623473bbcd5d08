"""Adaptive pacing (``pace=adaptive``): a client-side rate limiter learnt from throttling.

When a server throttles without saying its quota -- a bare 429, a 503 -- there is no
reset to wait for, so the client has to find the rate the server tolerates on its own.
This is the arithmetic of the AWS SDKs' *adaptive* retry mode, as pure functions of
``(state, event, now)``:

* **The measured send rate.**  Answers are counted in half-second buckets; when an
  answer falls in a later bucket than the last one closed, the count over the elapsed
  time becomes the new rate, smoothed ``0.8 × new + 0.2 × old``.  (The first bucket
  starts at the whole second in which the limiter was created.)
* **CUBIC** (C = 0.4, β = 0.7).  On a throttle the rate the client was sending at
  becomes ``w_max`` and the new rate is ``β × w_max``; otherwise the rate grows back
  along ``C × (t − t_fail − K)³ + w_max`` with ``K = ∛(w_max × (1 − β) / C)``, slowly near
  ``w_max``, fast far from it.
* **The token bucket.**  Off until the first throttle: until then nothing waits.  Its
  fill rate is the CUBIC rate capped at twice the measured rate, and at least 0.5/s;
  it holds at most ``max(1, rate)`` tokens.  Each request takes one token, waiting
  ``(1 − tokens) / fill rate`` when there is less than one.

``acquire`` takes a token when there is one, and otherwise says how long until there is
one *without* reserving it: the caller waits that long and asks again, as botocore's
limiter loops under its lock (wait, refill, check).  Nothing is owed for a request that
is never sent (a call that gives up rather than wait past its deadline), so the bucket
never goes below zero, and a caller that asks again sees the rate in force *then*: when
the rate grows back after an outage, the waits shrink with it.  Callers sharing one state
(threads, or processes through a Redis hash) compete for each token as botocore's
threads do.  The waits and rates are exactly those of botocore's limiter (tests compare
the two on random event sequences).  The state is an immutable named tuple of numbers
(``to_fields`` / ``from_fields`` for a Redis hash).
"""

from __future__ import annotations

import math
from typing import Final, NamedTuple

__all__ = [
    "AdaptiveState",
    "acquire",
    "from_fields",
    "is_throttle",
    "record",
    "start",
    "to_fields",
]

_SMOOTHING: Final = 0.8
_BUCKET_SCALE: Final = 1 / 0.5  # half-second buckets
_C: Final = 0.4
_BETA: Final = 0.7
_MIN_RATE: Final = 0.5
_MAX_OVER_MEASURED: Final = 2.0


class AdaptiveState(NamedTuple):
    """One origin's limiter.

    ``enabled``: a throttle has been seen (the bucket is in force).  Token bucket:
    ``fill_rate`` (tokens per second), ``max_capacity``, ``capacity`` (the tokens,
    ``0 <= capacity <= max_capacity``), ``last_fill`` (when it was last refilled).  Send-rate
    clock: ``measured`` (requests per second), ``last_bucket`` (start of the last closed
    bucket), ``answers`` (answers since).  CUBIC: ``w_max``, ``k``, ``last_fail``.
    """

    enabled: bool
    fill_rate: float
    max_capacity: float
    capacity: float
    last_fill: float
    measured: float
    last_bucket: float
    answers: int
    w_max: float
    k: float
    last_fail: float


def start(now: float) -> AdaptiveState:
    """A limiter created at ``now``: off, fill rate 1/s, nothing measured."""
    return AdaptiveState(False, 1.0, 1.0, 0.0, now, 0.0, float(math.floor(now)), 0, 0.0, 0.0, now)


def is_throttle(outcome: object) -> bool:
    """A 429 or a 503: the server asks for less (every one counts, header or not)."""
    return getattr(outcome, "status", None) in (429, 503)


def _refill(s: AdaptiveState, now: float) -> float:
    """The bucket's tokens at ``now`` (a time before the last refill adds nothing)."""
    if now <= s.last_fill:
        return s.capacity
    return min(s.max_capacity, s.capacity + (now - s.last_fill) * s.fill_rate)


def acquire(state: AdaptiveState, now: float) -> tuple[AdaptiveState, float]:
    """Take a token for a request about to be sent: ``(new state, seconds to wait)``.

    Off (no throttle yet): no wait, nothing changes.  Otherwise the bucket is refilled
    to ``now``; with a token there it is taken (wait 0), else nothing is taken and the
    wait is ``(1 − tokens) / fill rate``: wait, then ``acquire`` again (another caller
    may have taken the token meanwhile, or the rate changed).
    """
    if not state.enabled:
        return state, 0.0
    tokens = _refill(state, now)
    last = now if now > state.last_fill else state.last_fill
    wait = 0.0 if tokens >= 1 else (1 - tokens) / state.fill_rate
    if now + wait > now:
        return state._replace(capacity=tokens, last_fill=last), wait
    # (a wait too short to move a float clock: the token is there, and nothing is owed)
    return state._replace(capacity=tokens - 1 if tokens >= 1 else 0.0, last_fill=last), 0.0


def record(state: AdaptiveState, throttled: bool, now: float) -> AdaptiveState:
    """Record an answer at ``now`` (``throttled``: see ``is_throttle``): measure the send
    rate, move the CUBIC rate, and set the bucket's fill rate to
    ``max(0.5, min(cubic, 2 × measured))``; a throttle turns the bucket on."""
    # the send rate, in half-second buckets
    measured, last_bucket, count = state.measured, state.last_bucket, state.answers + 1
    bucket = math.floor(now * _BUCKET_SCALE) / _BUCKET_SCALE
    if bucket > last_bucket:
        current = count / float(bucket - last_bucket)
        measured = (current * _SMOOTHING) + (measured * (1 - _SMOOTHING))
        count, last_bucket = 0, bucket
    # CUBIC
    w_max, k, last_fail, enabled = state.w_max, state.k, state.last_fail, state.enabled
    if not throttled:
        rate = _C * ((now - last_fail) - k) ** 3 + w_max
    else:
        w_max = measured if not enabled else min(measured, state.fill_rate)
        k = ((w_max * (1 - _BETA)) / _C) ** (1 / 3.0)
        last_fail = now
        rate = w_max * _BETA
        enabled = True
    # the bucket: refilled at the old rate up to now, then the new rate
    value = min(rate, _MAX_OVER_MEASURED * measured)
    tokens = _refill(state, now)
    max_capacity = value if value >= 1 else 1.0
    return AdaptiveState(
        enabled,
        max(value, _MIN_RATE),
        max_capacity,
        min(tokens, max_capacity),
        now if now > state.last_fill else state.last_fill,
        measured,
        last_bucket,
        count,
        w_max,
        k,
        last_fail,
    )


def to_fields(state: AdaptiveState) -> dict[str, str]:
    """The state as flat string fields (a Redis hash); floats exactly (``repr``)."""
    return {name: repr(value) for name, value in zip(AdaptiveState._fields, state, strict=True)}


def from_fields(fields: dict[str, str], now: float) -> AdaptiveState:
    """The state ``to_fields`` wrote; anything missing or unreadable gives ``start(now)``."""
    try:
        f = [float(fields[name]) for name in AdaptiveState._fields if name != "enabled"]
        return AdaptiveState(
            fields["enabled"] == "True",
            f[0],
            f[1],
            f[2],
            f[3],
            f[4],
            f[5],
            int(f[6]),
            f[7],
            f[8],
            f[9],
        )
    except (KeyError, ValueError):
        return start(now)
