"""``RedisState`` waits for no answer the last one already told -- and what that costs in
staleness, bounded: a hold another process set stops this one within ``TRUST_SECONDS``,
and a quota is spent exactly near its end (real redis-server; no timing asserted)."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

import transport
from policy.loop._state import WINDOW
from transport._redis_lua import AFTER, BEFORE, BOTH, GRACE_MS, run_script
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
        assert verdict == ("hold", pytest.approx(now + 30, rel=0, abs=1e-6))
        # And from then on every check sees it.
        for i in range(5):
            assert a.before(ORIGIN, now + 0.2 + i / 1000, pace=True, first=False) == (
                "hold",
                pytest.approx(now + 30, rel=0, abs=1e-6),
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


def test_a_carried_check_goes_with_the_record() -> None:
    """A check carried (the origin's answers bring quota records, with room) reaches Redis
    with the attempt's record, as one EVALSHA running both scripts: the unit spent, the
    first attempt counted, then the answer counted -- and a hold set elsewhere is learnt
    from that one answer."""
    with RedisServer() as rs:
        s, other = _states(rs.url, 2)
        client = redis.Redis.from_url(rs.url)
        now = time.time()
        try:
            _record_quota(s, 1000, now + 60, now)
            s.after(ORIGIN, now + 0.001, quotas=(("", 999, now + 60),))  # records are due
            s.before(ORIGIN, now + 0.002, pace=True, first=False)  # waits: reads all answers
            s.after(ORIGIN, now + 0.003, quotas=(("", 998, now + 60),))
            s._wire.flush()
            other.hold(ORIGIN, now + 0.004, now + 0.003)  # (loads every script)
            key, firsts = s._keys_of(ORIGIN)[:2]
            sent = float(client.hget(key, "s") or 0)
            answered = float(client.hget(key, "a") or 0)
            client.config_resetstat()
            assert s.before(ORIGIN, now + 0.01, pace=True, first=True) is None  # carried
            assert float(client.hget(key, "s") or 0) == sent  # not in Redis yet
            other.hold(ORIGIN, now + 30, now + 0.015)  # another process holds the origin
            s.after(ORIGIN, now + 0.02, quotas=(("", 997, now + 60),))  # with the record
            s._wire.flush()
            evalsha = client.info("commandstats")["cmdstat_evalsha"]
            assert evalsha["calls"] == 2  # the hold, then check and record in one script
            assert evalsha["failed_calls"] == 0
            assert float(client.hget(key, "s") or 0) == sent  # held: the check spent nothing
            assert client.zcard(firsts) == 0  # and counted nothing
            # The record counted its answer (never more than were sent).
            assert float(client.hget(key, "a") or 0) == min(answered + 1, sent)
            assert s.before(ORIGIN, now + 0.03, pace=True, first=True) == (
                "hold",
                pytest.approx(now + 30, rel=0, abs=1e-6),
            )
            assert s.shared
        finally:
            client.close()
            s.close()
            other.close()


_pair = st.tuples(
    st.sampled_from([0.0, 0.001, 0.3, 1.5, 11.0]),  # time step
    st.booleans(),  # pace
    st.booleans(),  # first
    st.one_of(st.none(), st.sampled_from([0.5, 3.0])),  # hold, from now
    st.booleans(),  # retry
    st.sampled_from([None, 0.0, 0.5]),  # budget ratio
    st.one_of(st.none(), st.tuples(st.integers(0, 3), st.sampled_from([0.5, 1.2, 3.0]))),
)


@settings(max_examples=150, deadline=None)
@given(pairs=st.lists(_pair, max_size=25))
def test_one_script_for_check_and_record_is_the_two_in_a_row(
    redis_server: RedisServer, pairs: list[tuple[Any, ...]]
) -> None:
    """BOTH (a carried check with its record) answers and writes exactly what BEFORE then
    AFTER do, for any sequence of attempts: the scripts' twin, run as one."""
    client = redis.Redis.from_url(redis_server.url)
    conn = client.connection_pool.get_connection()
    one, two = (f"t-{uuid.uuid4().hex[:10]}:{{o}}" for _ in range(2))
    k1 = (one, f"{one}:firsts", f"{one}:retries")
    k2 = (two, f"{two}:firsts", f"{two}:retries")
    now = time.time()
    try:
        for i, (dt, pace, first, hold, retry, ratio, quota) in enumerate(pairs):
            now += dt
            b = [repr(now), "1" if pace else "0", "1" if first else "0", f"f{i}"]
            b += [repr(now - WINDOW), "", "", "", "", "1"]  # no breaker, bucket, lease
            a = [repr(now)]
            a += ("", 0) if hold is None else (repr(now + hold), int(hold * 1000) + GRACE_MS)
            a += ["1" if retry else "0"]
            a += ("", 0) if ratio is None else (repr(ratio), 2)
            a += ["", f"r{i}", repr(now - WINDOW), "", ""]
            if quota is not None:
                a += ["", quota[0], repr(now + quota[1]), 1]
            got = run_script(conn, BOTH, k1, [len(b), *b, *a])
            want = [
                run_script(conn, BEFORE, k2, b) or 0,
                run_script(conn, AFTER, k2, a),
            ]
            assert got == want
            assert client.hgetall(k1[0]) == client.hgetall(k2[0])
            for j in (1, 2):
                assert client.zrange(k1[j], 0, -1) == client.zrange(k2[j], 0, -1)
    finally:
        client.connection_pool.release(conn)
        client.close()
