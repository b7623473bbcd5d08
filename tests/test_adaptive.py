"""``pace=adaptive``'s arithmetic against botocore's adaptive retry mode.

botocore's ``ClientRateLimiter`` (with its ``RateClocker``, ``CubicCalculator`` and
``TokenBucket``) runs on an injected clock: its bucket's condition variable is replaced
by one whose ``wait`` moves that clock on, so an acquire that would sleep returns at
once, having "slept" exactly as long as botocore would.  The same random sequence of
(time, throttled) events then goes through both; fill rates, measured rates and acquire
waits must agree.
"""

from __future__ import annotations

import math
from typing import Any

from botocore.retries.adaptive import ClientRateLimiter, RateClocker
from botocore.retries.bucket import TokenBucket
from botocore.retries.throttling import CubicCalculator
from hypothesis import given, settings
from hypothesis import strategies as st

from policy import ConnectFailure, Response, Timeout
from policy.loop._adaptive import (
    AdaptiveState,
    acquire,
    from_fields,
    is_throttle,
    record,
    start,
    to_fields,
)


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def current_time(self) -> float:
        return self.t

    def sleep(self, amount: float) -> None:
        self.t += amount


class VirtualCondition:
    """What the bucket waits on: waiting moves the virtual clock on instead of sleeping."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def __enter__(self) -> VirtualCondition:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def wait(self, timeout: float) -> bool:
        t = self.clock.t + timeout
        # a wait too short to move a float clock still moves it (else botocore's loop,
        # which waits until its refill covers the token, would spin)
        self.clock.t = t if t > self.clock.t else math.nextafter(t, math.inf)
        return True

    def notify(self) -> None:
        return None


class Detector:
    """Says whether an answer was a throttle (what botocore reads from the response)."""

    def is_throttling_error(self, **kwargs: Any) -> bool:
        return bool(kwargs["throttled"])


def botocore_limiter(t0: float) -> tuple[ClientRateLimiter, TokenBucket, RateClocker, Clock]:
    """Built the way ``register_retry_handler`` builds it, on a virtual clock."""
    clock = Clock(t0)
    cubic = CubicCalculator(starting_max_rate=0, start_time=clock.current_time())
    bucket = TokenBucket(max_rate=1, clock=clock)
    bucket._new_fill_rate_condition = VirtualCondition(clock)
    clocker = RateClocker(clock)
    limiter = ClientRateLimiter(
        rate_adjustor=cubic,
        rate_clocker=clocker,
        token_bucket=bucket,
        throttling_detector=Detector(),
        clock=clock,
    )
    return limiter, bucket, clocker, clock


gaps = st.one_of(
    st.sampled_from([0.0, 0.01, 0.1, 0.25, 0.5, 1.0]),
    st.floats(0.0, 3.0, allow_nan=False),
)
events = st.lists(
    st.tuples(gaps, st.floats(0.0, 0.2, allow_nan=False), st.booleans()),
    min_size=1,
    max_size=200,
)


@settings(max_examples=300, deadline=None)
@given(
    # clocks near zero: at epoch scale (1.8e9 s) a float resolves only 2.4e-7 s, too
    # coarse to compare waits to 1e-9 (bounds_hold below runs at epoch scale)
    t0=st.one_of(st.just(0.0), st.just(1234.5), st.floats(0.0, 1e5, allow_nan=False)),
    events=events,
)
def test_same_rates_and_waits_as_botocore(
    t0: float, events: list[tuple[float, float, bool]]
) -> None:
    """Each event: ``gap`` after the last answer a request is due; it waits for a token
    (both sides must say the same wait), is answered ``latency`` after it goes, and the
    answer is a throttle or not.  After every answer the fill rate and the measured rate
    agree to 1e-9."""
    limiter, bucket, clocker, clock = botocore_limiter(t0)
    state = start(t0)
    now = t0
    throttles = 0
    for gap, latency, throttled in events:
        now += gap
        clock.t = now
        limiter.on_sending_request(request=None)
        their_wait = clock.t - now
        state, wait = acquire(state, now)
        assert math.isclose(wait, their_wait, rel_tol=1e-9, abs_tol=1e-9)
        now += wait + latency
        clock.t = now
        limiter.on_receiving_response(throttled=throttled)
        state = record(state, throttled, now)
        throttles += throttled
        assert state.enabled == (throttles > 0)
        assert math.isclose(state.fill_rate, bucket.max_rate, rel_tol=1e-9, abs_tol=1e-9)
        assert math.isclose(state.measured, clocker.measured_rate, rel_tol=1e-9, abs_tol=1e-9)
        assert math.isclose(state.max_capacity, bucket.max_capacity, rel_tol=1e-9, abs_tol=1e-9)


@settings(max_examples=200, deadline=None)
@given(t0=st.floats(0.0, 2e9, allow_nan=False), events=events)
def test_bounds_hold(t0: float, events: list[tuple[float, float, bool]]) -> None:
    """Fill rate >= 0.5/s, <= 2x measured when above the floor; no wait while off; the
    state survives its flat (Redis hash) form."""
    state = start(t0)
    now = t0
    for gap, latency, throttled in events:
        now += gap
        state, wait = acquire(state, now)
        assert wait >= 0
        if not state.enabled:
            assert wait == 0
        now += wait + latency
        state = record(state, throttled, now)
        assert state.fill_rate >= 0.5
        if state.fill_rate > 0.5:
            assert state.fill_rate <= 2 * state.measured * (1 + 1e-12)
        assert state.capacity <= state.max_capacity
        assert from_fields(to_fields(state), now) == state


def test_callers_sharing_a_state_queue_behind_one_another() -> None:
    """Reserving tokens: three callers at one instant wait 1, 2 and 3 token-times."""
    s = record(start(100.0), True, 100.0)  # throttled at once: on, at the 0.5/s floor
    assert s.enabled and s.fill_rate == 0.5
    waits = []
    for _ in range(3):
        s, w = acquire(s, 100.0)
        waits.append(w)
    assert waits == [2.0, 4.0, 6.0]


def test_off_until_the_first_throttle() -> None:
    s = start(0.0)
    for k in range(100):
        s, w = acquire(s, k * 0.01)
        assert w == 0 and s == s._replace()
        s = record(s, False, k * 0.01 + 0.005)
    assert not s.enabled


def test_what_counts_as_a_throttle() -> None:
    assert is_throttle(Response(429)) and is_throttle(Response(503))
    assert not is_throttle(Response(500)) and not is_throttle(Response(200))
    assert not is_throttle(Timeout()) and not is_throttle(ConnectFailure())


def test_a_damaged_store_starts_over() -> None:
    fields = to_fields(record(start(5.0), True, 6.0))
    assert from_fields({**fields, "answers": "x"}, 7.0) == start(7.0)
    assert from_fields({}, 7.0) == start(7.0)
    assert isinstance(from_fields(fields, 7.0), AdaptiveState)
