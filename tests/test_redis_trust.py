"""``RedisState`` waits for no answer the last one already told -- and what that costs in
staleness, bounded: a hold another process set stops this one within ``TRUST_SECONDS``,
and a quota is spent exactly near its end (real redis-server; no timing asserted)."""

from __future__ import annotations

import logging
import time
import uuid

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

import transport
from transport._redis_wire import CARRY, SEND, TRUST_ROOM, TRUST_SECONDS, WAIT

try:
    from tests.redis_server import RedisServer, redis_server
except ImportError:  # tests/ is not a package: pytest put it on sys.path
    from redis_server import RedisServer, redis_server  # type: ignore[no-redef]

__all__ = ["redis_server"]  # the session fixture, re-exported for pytest

ORIGIN = "http://api.example:80"
ROOMY = 0.5  # Redis gets half a second per call: these are not outage tests


def _states(url: str, n: int) -> list[transport.RedisState]:
    prefix = f"t-{uuid.uuid4().hex[:10]}:"
    return [transport.RedisState(url, prefix=prefix, timeout=ROOMY) for _ in range(n)]


def _record_quota(s: transport.RedisState, remaining: int, until: float, now: float) -> None:
    """Record a quota and wait for Redis' answer (a record alone is otherwise not waited
    for, and another state's next command could reach Redis first)."""
    s._defer = False
    s.after(ORIGIN, now, quotas=(("", remaining, until),))
    s._defer = True


def test_a_hold_set_elsewhere_stops_trusted_checks_within_the_bound(
    redis_server: RedisServer,
) -> None:
    """A learns there is room; B holds the origin; A's checks may be trusted (not waited
    for) until TRUST_SECONDS after A's last answer, and not one moment longer."""
    a, b = _states(redis_server.url, 2)
    now = time.time()
    try:
        assert a.before(ORIGIN, now, pace=True, first=True) is None  # waited: learns the room
        b.hold(ORIGIN, now + 30, now)
        # Within the bound the check may go on trust (its answer, a hold, is read later).
        a.before(ORIGIN, now + TRUST_SECONDS / 2, pace=True, first=True)
        verdict = a.before(ORIGIN, now + TRUST_SECONDS * 1.01, pace=True, first=True)
        assert verdict == ("hold", pytest.approx(now + 30))
        # And from then on every check sees it.
        for i in range(5):
            assert a.before(ORIGIN, now + 0.2 + i / 1000, pace=True, first=False) == (
                "hold",
                pytest.approx(now + 30),
            )
        assert a.shared and b.shared
    finally:
        a.close()
        b.close()


def test_a_trusted_check_is_sent_and_not_waited_for(caplog: pytest.LogCaptureFixture) -> None:
    """While Redis is paused, a check the last answer told is sent without waiting (no
    outage); one it did not tell waits and, past the 50 ms bound, falls back locally."""
    with RedisServer() as rs:
        admin = redis.Redis.from_url(rs.url)
        s = transport.RedisState(rs.url, prefix=f"p{uuid.uuid4().hex[:6]}:")  # 50 ms bound
        try:
            now = time.time()
            assert s.before(ORIGIN, now, pace=True, first=True) is None  # learns the room
            admin.client_pause(2000)  # every other client's commands wait for 2 s
            with caplog.at_level(logging.WARNING, logger="policy"):
                assert s.before(ORIGIN, now + 0.01, pace=True, first=True) is None
                assert s.shared and not caplog.records  # nothing waited for
                # Another origin: nothing known, so the check waits -- and times out.
                assert s.before("http://other:80", now + 0.02, pace=True, first=True) is None
                assert not s.shared
                assert len(caplog.records) == 1
        finally:
            admin.client_unpause()
            admin.close()
            s.close()


# A take: which state, and the time since the previous one (the fleet spends fewer than
# TRUST_ROOM units within TRUST_SECONDS: the bound within which a quota is spent exactly).
_TAKE = st.tuples(st.integers(0, 2), st.floats(TRUST_SECONDS / TRUST_ROOM * 1.1, 0.02))


@settings(max_examples=40, deadline=None)
@given(remaining=st.integers(1, 2 * TRUST_ROOM + 20), data=st.data())
def test_a_quota_is_spent_exactly_with_trusted_checks(
    redis_server: RedisServer, remaining: int, data: st.DataObject
) -> None:
    """Three states (three processes' worth) take turns spending one quota, with checks
    sent on trust where the last answer allows: exactly `remaining` requests go, never
    more, however the turns fall (more turns than the quota has room for)."""
    extra = data.draw(st.integers(1, 20))
    takes = data.draw(st.lists(_TAKE, min_size=remaining + extra, max_size=remaining + extra))
    states = _states(redis_server.url, 3)
    now = time.time()
    try:
        _record_quota(states[0], remaining, now + 3600, now)
        went = 0
        for which, dt in takes:
            now += dt
            if states[which].before(ORIGIN, now, pace=True, first=True) is None:
                went += 1
        assert went == min(remaining, len(takes))
        assert all(s.shared for s in states)
    finally:
        for s in states:
            s.close()


def test_how_checks_are_sent_follows_what_the_last_answer_told(
    redis_server: RedisServer,
) -> None:
    """No quota known: a check after the first is sent at once, not waited for; a quota
    with room: carried to go with the attempt's record; fewer than TRUST_ROOM left, or
    an answer too old: waited for."""
    (s,) = _states(redis_server.url, 1)
    now = time.time()
    try:
        assert s._wire.trusted(ORIGIN, now, None) == WAIT  # nothing known yet
        assert s.before(ORIGIN, now, pace=True, first=True) is None
        assert s._wire.trusted(ORIGIN, now + 0.001, None) == SEND
        _record_quota(s, 10 * TRUST_ROOM, now + 60, now + 0.002)
        assert s._wire.trusted(ORIGIN, now + 0.003, None) == CARRY
        assert s._wire.trusted(ORIGIN, now + 0.002 + TRUST_SECONDS, None) == WAIT  # too old
        _record_quota(s, TRUST_ROOM // 2, now + 60, now + 0.004)
        assert s._wire.trusted(ORIGIN, now + 0.005, None) == WAIT
    finally:
        s.close()


def test_a_carried_check_goes_with_the_record(redis_server: RedisServer) -> None:
    """A check carried (a live quota with room) reaches Redis with the attempt's record,
    in one write: both run, in order -- the unit spent, then the answer counted."""
    (s,) = _states(redis_server.url, 1)
    client = redis.Redis.from_url(redis_server.url)
    now = time.time()
    try:
        _record_quota(s, 1000, now + 60, now)
        key = s._keys_of(ORIGIN)[0]
        sent = float(client.hget(key, "s") or 0)
        assert s.before(ORIGIN, now + 0.01, pace=True, first=True) is None  # carried
        assert float(client.hget(key, "s") or 0) == sent  # not in Redis yet
        s.after(ORIGIN, now + 0.02, quotas=(("", 999, now + 60),))  # sent with the record
        s.before(ORIGIN, now + 2 * TRUST_SECONDS, pace=True, first=False)  # waits: reads all
        assert float(client.hget(key, "s") or 0) == sent + 2
        assert float(client.hget(key, "a") or 0) == sent + 1  # the record's answer counted
        assert client.zcard(s._keys_of(ORIGIN)[1]) == 1  # the first attempt counted
        assert s.shared
    finally:
        client.close()
        s.close()
