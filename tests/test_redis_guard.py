"""The circuit breaker and the adaptive bucket shared through a real redis-server: the Lua
and the pure Python are twins, and one process's breaker is every process's."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import transport
from policy.loop import LocalState
from policy.loop._breaker import BreakerConfig

try:
    from tests.redis_server import RedisServer
except ImportError:  # tests/ is not a package: pytest put it on sys.path
    from redis_server import RedisServer  # type: ignore[no-redef]

ORIGIN = "http://api.example:80"
ROOMY = 0.5  # half a second per Redis call: a loaded machine is not an outage here

CONFIGS = [
    BreakerConfig(3),
    BreakerConfig(1, open=0.5, probes=2),
    BreakerConfig(50, True, 3.0, 2.0, 4, 2),
    BreakerConfig(30, True, 1.0, 0.7, 2, 1),
]


def _states(url: str, n: int = 2) -> list[transport.RedisState]:
    prefix = f"g-{uuid.uuid4().hex[:10]}:"
    states = [transport.RedisState(url, prefix=prefix, timeout=ROOMY) for _ in range(n)]
    for s in states:
        s._defer = False  # every command waits for its answer
    return states


_ops = st.lists(
    st.tuples(
        st.sampled_from(["before", "after", "after"]),
        st.sampled_from([0.0, 0.001, 0.05, 0.2, 0.3, 0.6, 1.0, 2.5]),  # time step
        st.integers(0, 1),  # origin
        st.integers(0, 1),  # which of two RedisStates (two processes)
        st.integers(0, len(CONFIGS)),  # breaker config (the last: none)
        st.booleans(),  # adaptive
        st.tuples(st.booleans(), st.booleans()),  # before: pace, first
        st.tuples(st.booleans(), st.booleans(), st.booleans()),  # failed, throttled, probe
        st.one_of(st.none(), st.sampled_from([0.1, 1.5])),  # after: a hold
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(ops=_ops)
def test_breaker_and_bucket_answer_as_a_local_state(redis_server: RedisServer, ops: list) -> None:  # type: ignore[type-arg]
    """Random sequences of checks and answers (breakers of both kinds, the bucket, holds),
    spread over two RedisStates, get LocalState's verdicts, waits and phase changes
    exactly: the Lua and ``_breaker`` / ``_adaptive`` compute the same numbers."""
    states = _states(redis_server.url)
    local = LocalState()
    now = time.time()
    try:
        for op, dt, o, which, c, adaptive, (pace, first), outcome, hold in ops:
            now += dt
            origin = f"http://h{o}:80"
            breaker = CONFIGS[c] if c < len(CONFIGS) else None
            s = states[which]
            if op == "before":
                kw: dict[str, Any] = {"breaker": breaker, "adaptive": adaptive}
                got = s.before(origin, now, pace=pace, first=first, **kw)
                want = local.before(origin, now, pace=pace, first=first, **kw)
                if want is not None and want[0] == "hold" and got is not None:
                    # a state answers a hold it mirrored itself without asking Redis,
                    # which may know a later end of it (another state's): the kind agrees
                    assert got[0] == "hold", (got, want)
                else:
                    assert got == want, (got, want)
            else:
                failed, throttled, probe = outcome
                g: dict[str, Any] = {
                    "breaker": breaker,
                    "failed": failed,
                    "probe": probe,
                    "adaptive": adaptive,
                    "throttled": throttled,
                }
                w = dict(g)
                g["changes"], w["changes"] = [], []
                h = None if hold is None else now + hold
                got_a = s.after(origin, now, hold=h, **g)
                want_a = local.after(origin, now, hold=h, **w)
                assert got_a == want_a
                assert g["changes"] == w["changes"]
        assert all(s.shared for s in states)
    finally:
        for s in states:
            s.close()


def test_one_process_opens_the_circuit_for_another(redis_server: RedisServer) -> None:
    """Two RedisStates (two processes' worth): three failures recorded by one open the
    origin's ``breaker=3`` for the other, which refuses until half-open, then lets exactly
    one probe through for the whole fleet."""
    a, b = _states(redis_server.url)
    config = BreakerConfig(3, open=5.0)
    now = time.time()
    try:
        for i in range(3):
            assert a.before(ORIGIN, now + i, pace=False, first=False, breaker=config) is None
            changes: list[str] = []
            a.after(ORIGIN, now + i, breaker=config, failed=True, changes=changes)
        assert changes == ["open"]
        t = now + 3
        assert b.before(ORIGIN, t, pace=False, first=False, breaker=config) == (
            "open",
            now + 2 + 5.0,
        )
        # half-open: b's request is the probe; a waits for its answer
        probe = b.before(ORIGIN, now + 7.5, pace=False, first=False, breaker=config)
        assert probe is not None and probe[0] == "half-open"
        busy = a.before(ORIGIN, now + 7.6, pace=False, first=False, breaker=config)
        assert busy is not None and busy[0] == "busy"
        closed: list[str] = []
        b.after(ORIGIN, now + 7.7, breaker=config, failed=False, probe=True, changes=closed)
        assert closed == ["closed"]
        assert a.before(ORIGIN, now + 7.8, pace=False, first=False, breaker=config) is None
        assert a.shared and b.shared
    finally:
        a.close()
        b.close()


def test_one_bucket_for_the_fleet(redis_server: RedisServer) -> None:
    """A throttle seen by one process turns the origin's adaptive bucket on for the other,
    and both take their tokens from one bucket: a token taken by one is not there for the
    other, who waits for the next (and nothing is reserved: both are told the same wait)."""
    a, b = _states(redis_server.url)
    now = time.time()
    try:
        for i in range(4):
            assert a.before(ORIGIN, now + i * 0.1, pace=False, first=False, adaptive=True) is None
            a.after(ORIGIN, now + i * 0.1, adaptive=True, throttled=False)
        a.after(ORIGIN, now + 0.5, adaptive=True, throttled=True)
        waits = []
        for s in (a, b, a, b):
            v = s.before(ORIGIN, now + 0.6, pace=False, first=False, adaptive=True)
            waits.append(0.0 if v is None else v[1] - (now + 0.6))
        assert waits[1] > 0 and waits[1:] == [waits[1]] * 3
        t = now + 0.6 + waits[1]
        assert b.before(ORIGIN, t, pace=False, first=False, adaptive=True) is None  # b's
        v = a.before(ORIGIN, t, pace=False, first=False, adaptive=True)
        assert v is not None and v[0] == "rate" and v[1] > t  # ...so a waits for the next
    finally:
        a.close()
        b.close()


def test_keys_expire_on_their_own(redis_server: RedisServer) -> None:
    """A breaker's and a bucket's fields make the origin's hash expire on its own."""
    import redis

    (s,) = _states(redis_server.url, 1)
    client = redis.Redis.from_url(redis_server.url)
    now = time.time()
    try:
        s.before(ORIGIN, now, pace=False, first=False, breaker=CONFIGS[0], adaptive=True)
        s.after(ORIGIN, now, breaker=CONFIGS[0], failed=True, adaptive=True, throttled=True)
        keys = list(client.scan_iter(match=s.prefix + "*"))
        assert keys
        for key in keys:
            assert 0 < client.pttl(key) <= 600_000 + 1000
    finally:
        s.close()
        client.close()


@pytest.mark.parametrize("config", CONFIGS[:2])
def test_an_outage_falls_back_to_the_local_breaker(config: BreakerConfig) -> None:
    """With Redis gone, the breaker still works, in this process."""
    with RedisServer() as rs:
        (s,) = _states(rs.url, 1)
        rs.kill()
        now = time.time()
        try:
            changes: list[str] = []
            for i in range(config.threshold):
                assert s.before(ORIGIN, now + i, pace=False, first=False, breaker=config) is None
                s.after(ORIGIN, now + i, breaker=config, failed=True, changes=changes)
            assert changes == ["open"]
            v = s.before(
                ORIGIN, now + config.threshold - 0.9, pace=False, first=False, breaker=config
            )
            assert v is not None and v[0] == "open"
            assert not s.shared
        finally:
            s.close()
