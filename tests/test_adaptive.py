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
        state, wait = take(state, now)
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
        state, wait = take(state, now)
        assert wait >= 0
        if not state.enabled:
            assert wait == 0
        assert 0 <= state.capacity <= state.max_capacity  # nothing is ever owed
        now += wait + latency
        state = record(state, throttled, now)
        assert state.fill_rate >= 0.5
        if state.fill_rate > 0.5:
            assert state.fill_rate <= 2 * state.measured * (1 + 1e-12)
        assert state.capacity <= state.max_capacity
        assert from_fields(to_fields(state), now) == state


def take(state: Any, now: float) -> tuple[Any, float]:
    """A caller's loop: ``acquire``, wait what it says, ``acquire`` again, until a token
    is taken; the state and the whole wait (botocore's loop under its lock)."""
    total = 0.0
    for _ in range(100):
        state, wait = acquire(state, now + total)
        if not wait:
            return state, total
        total += wait
    raise AssertionError("no token after 100 waits")


def test_callers_sharing_a_state_compete_for_each_token_and_owe_nothing() -> None:
    """Three callers at one instant: none takes a token, each is told the wait until the
    next one; the first to ask again then takes it, the others wait again.  A caller that
    gives up instead leaves nothing owed."""
    s = record(start(100.0), True, 100.0)  # throttled at once: on, at the 0.5/s floor
    assert s.enabled and s.fill_rate == 0.5
    waits = []
    for _ in range(3):
        s, w = acquire(s, 100.0)
        waits.append(w)
    assert waits == [2.0, 2.0, 2.0] and s.capacity == 0.0
    s, w = acquire(s, 102.0)
    assert w == 0.0 and s.capacity == 0.0
    s, w = acquire(s, 102.0)
    assert w == 2.0
    # a thousand callers that gave up rather than wait: the next one waits one token
    for _ in range(1000):
        s, _ = acquire(s, 102.5)
    assert acquire(s, 102.5)[1] == 1.5


def test_a_rate_that_grows_shortens_the_waits_of_those_asking_again() -> None:
    """Waits are not fixed when asked: after the rate grows, asking again waits less."""
    s = record(start(0.0), True, 0.0)
    s, w = acquire(s, 0.0)
    assert w == 2.0
    for k in range(1, 400):  # a stretch of successes: CUBIC grows the rate back
        s = record(s, False, k * 0.01)
    assert s.fill_rate > 0.5
    s2, w2 = acquire(s, 4.0)
    assert w2 < 2.0 or s2.capacity < s.capacity


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
