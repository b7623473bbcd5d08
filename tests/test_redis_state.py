"""``transport.RedisState``: holds and budgets shared through a real redis-server."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

import policy
import transport
from policy.loop._state import BLIND_WAIT, WINDOW, LocalState, State

try:
    from tests.httpserver import LoopbackServer, Reply
    from tests.redis_server import RedisServer
except ImportError:  # tests/ is not a package: pytest put it on sys.path
    from httpserver import LoopbackServer, Reply  # type: ignore[no-redef]
    from redis_server import RedisServer  # type: ignore[no-redef]

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
ORIGIN = "http://api.example:80"


# The sharing tests give Redis half a second per call: on a loaded machine a 50 ms stall
# would turn them into outage tests (the outage tests below keep the 50 ms default).
ROOMY = 0.5


def _prefix() -> str:
    return f"t-{uuid.uuid4().hex[:10]}:"


def _keys(client: redis.Redis, prefix: str) -> list[bytes]:
    return sorted(client.scan_iter(match=prefix + "*"))


def _record(s: State, origin: str, now: float) -> None:
    """Count a first attempt (``before`` without pacing)."""
    assert s.before(origin, now, pace=False, first=True) is None


def _spend(s: State, origin: str, now: float, ratio: float, floor: int) -> tuple[bool, int]:
    """Try to spend a retry (``after`` granting one, with a budget)."""
    _, granted, requests = s.after(origin, now, retry=True, budget=ratio, floor=floor)
    return granted, requests


def _set_quota(s: State, origin: str, remaining: int, until: float, now: float) -> None:
    """Record a quota, waiting for Redis' answer: a quota alone is otherwise sent without
    waiting, and another state's next command could be read before it (microseconds)."""
    if isinstance(s, transport.RedisState):
        s._defer = False
    s.after(origin, now, quotas=(("", remaining, until),))


def _take(s: State, origin: str, now: float) -> float | None:
    """Spend a request of the quota (``before`` with pacing): ``None``, else the wait's end."""
    v = s.before(origin, now, pace=True, first=False)
    return v[1] if v is not None else None


@pytest.fixture
def client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_server.url)
    yield c
    c.close()


def test_a_hold_is_seen_by_another_state_and_only_grows(
    redis_server: RedisServer, client: redis.Redis
) -> None:
    """Two RedisStates (two processes' worth) see one hold; an earlier one never shortens it."""
    prefix = _prefix()
    a = transport.RedisState(redis_server.url, prefix=prefix, timeout=ROOMY)
    b = transport.RedisState(client, prefix=prefix, timeout=ROOMY)
    now = time.time()
    assert b.hold_until(ORIGIN, now) is None
    a.hold(ORIGIN, now + 5, now)
    assert b.hold_until(ORIGIN, now) == pytest.approx(now + 5, rel=0, abs=1e-6)
    b.hold(ORIGIN, now + 2, now)  # earlier: ignored
    assert a.hold_until(ORIGIN, now) == pytest.approx(now + 5, rel=0, abs=1e-6)
    b.hold(ORIGIN, now + 7, now)  # later: extends
    assert a.hold_until(ORIGIN, now) == pytest.approx(now + 7, rel=0, abs=1e-6)
    assert a.hold_until(ORIGIN, now + 8) is None  # over
    assert a.hold_until("http://other:80", now) is None
    assert a.shared and b.shared
    a.close()
    b.close()


def test_keys_expire_on_their_own(redis_server: RedisServer, client: redis.Redis) -> None:
    """Every key has a TTL bounded by what it records; short holds are gone after a run."""
    prefix = _prefix()
    s = transport.RedisState(redis_server.url, prefix=prefix, timeout=ROOMY)
    now = time.time()
    for i in range(50):
        origin = f"http://h{i}:80"
        s.hold(origin, now + 0.1, now)
        _record(s, origin, now)
        _spend(s, origin, now, 0.2, 10)
    keys = _keys(client, prefix)
    assert len(keys) == 150  # per origin: its hash, its two budget windows
    ttls = [client.pttl(k) for k in keys]
    assert all(0 < t <= WINDOW * 1000 + 1000 for t in ttls)
    time.sleep(1.3)
    assert not [k for k in _keys(client, prefix) if k.endswith(b"}")]  # holds: gone
    assert len(_keys(client, prefix)) == 100  # budget windows: gone WINDOW + 1 s after use
    s.close()


def test_a_budget_counts_the_whole_fleet(redis_server: RedisServer) -> None:
    """Retries spent through one state are counted by another (one budget per origin)."""
    prefix = _prefix()
    a = transport.RedisState(redis_server.url, prefix=prefix, timeout=ROOMY)
    b = transport.RedisState(redis_server.url, prefix=prefix, timeout=ROOMY)
    now = time.time()
    for _ in range(10):
        _record(a, ORIGIN, now)
    granted = [_spend(a if i % 2 else b, ORIGIN, now, 0.5, 2) for i in range(10)]
    # 0.5 x 10 first attempts + a floor of 2 = 7 retries, whoever asks.
    assert [g for g, _ in granted] == [True] * 7 + [False] * 3
    assert {n for _, n in granted} == {10}
    # The window slides: 10 s later nothing is counted and the floor is free again.
    assert _spend(b, ORIGIN, now + WINDOW + 0.01, 0.5, 2) == (True, 0)


_ops = st.lists(
    st.tuples(
        st.sampled_from(["before", "before", "after", "after", "until"]),
        st.sampled_from([0.0, 0.0, 0.001, 0.05, 0.3, 1.0, 2.5, 11.0]),  # time step
        st.integers(0, 2),  # origin
        st.integers(0, 1),  # which of two RedisStates
        st.tuples(st.booleans(), st.booleans()),  # before: pace, first
        st.one_of(st.none(), st.sampled_from([0.01, 0.5, 3.0, 30.0])),  # after: hold length
        st.one_of(st.none(), st.tuples(st.integers(0, 3), st.sampled_from([0.5, 1.2, 3.0]))),
        st.booleans(),  # after: a retry
        st.sampled_from([None, 0.0, 0.2, 0.5, 1.0]),  # budget ratio
        st.integers(0, 3),  # floor
        st.one_of(st.none(), st.floats(0, 20)),  # deadline, from now
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(ops=_ops)
def test_redis_state_answers_as_a_local_state(redis_server: RedisServer, ops: list) -> None:  # type: ignore[type-arg]
    """Any sequence of before/after calls, spread over two RedisStates (two processes),
    gets LocalState's answers: the Lua scripts and the Python are twins (300 sequences)."""
    prefix = _prefix()
    states = [
        transport.RedisState(redis_server.url, prefix=prefix, timeout=ROOMY) for _ in range(2)
    ]
    for s in states:
        s._defer = False  # every record waits for Redis' answer (as in _set_quota)
    local = LocalState()
    now = time.time()
    try:
        for op, dt, o, which, flags, hold, quota, retry, ratio, floor, deadline in ops:
            now += dt
            origin = f"http://h{o}:80"
            s = states[which]
            if op == "before":
                pace, first = flags
                got = s.before(origin, now, pace=pace, first=first)
                want = local.before(origin, now, pace=pace, first=first)
                assert (got is None) == (want is None), (got, want)
                if got is not None and want is not None:
                    assert got[0] == want[0], (got, want)
                    if want[0] == "hold" and got[1] < want[1] - 1e-6:
                        # a state answers a hold it mirrored itself without asking Redis,
                        # which may know a later end (another state's): once the shorter
                        # one is over, the next check asks Redis and gets the later one
                        assert s._local.hold_until(origin, now) == got[1]
                    else:
                        assert got[1] == pytest.approx(want[1], rel=0, abs=1e-6)
            elif op == "until":
                got_h, want_h = s.hold_until(origin, now), local.hold_until(origin, now)
                assert (got_h is None) == (want_h is None)
                if got_h is not None:
                    assert got_h == pytest.approx(want_h, rel=0, abs=1e-6)
            else:
                kw = {
                    "hold": None if hold is None else now + hold,
                    "quotas": () if quota is None else (("", quota[0], now + quota[1]),),
                    "retry": retry,
                    "budget": ratio,
                    "floor": floor,
                    "deadline": float("inf") if deadline is None else now + deadline,
                }
                g_held, g_granted, g_n = s.after(origin, now, **kw)  # type: ignore[arg-type]
                w_held, w_granted, w_n = local.after(origin, now, **kw)  # type: ignore[arg-type]
                assert (g_granted, g_n) == (w_granted, w_n)
                assert (g_held is None) == (w_held is None)
                if g_held is not None:
                    assert g_held == pytest.approx(w_held, rel=0, abs=1e-6)
        assert all(s.shared for s in states)
    finally:
        for s in states:
            s.close()


def test_a_client_is_copied_with_bounded_timeouts(redis_server: RedisServer) -> None:
    """A redis.Redis given is not changed; the state's own copy is bounded to 50 ms."""
    c = redis.Redis.from_url(redis_server.url, socket_timeout=30)
    s = transport.RedisState(c)
    assert c.connection_pool.connection_kwargs["socket_timeout"] == 30
    kw = s._client.connection_pool.connection_kwargs
    assert kw["socket_timeout"] <= 0.05 and kw["socket_connect_timeout"] <= 0.05
    assert s.prefix == "retry-policy:"
    quick = transport.RedisState(redis_server.url, timeout=0.02)
    assert quick._client.connection_pool.connection_kwargs["socket_timeout"] == 0.02
    quick.close()
    with pytest.raises(ValueError, match="timeout must be positive"):
        transport.RedisState(redis_server.url, timeout=0)
    with pytest.raises(TypeError, match=r"redis:// URL or a redis\.Redis"):
        transport.RedisState(42)  # type: ignore[arg-type]
    s.close()
    c.close()


_PROCESS = r"""
import sys
import transport
state = transport.RedisState(sys.argv[2], prefix=sys.argv[3], timeout=0.5) if sys.argv[3] else None
with transport.RetryingPool("5xx:backoff(1,10ms) pace=on", state=state) as pool:
    r = pool.request("GET", sys.argv[4])
print(r.status)
"""


def _process(redis_url: str, prefix: str, url: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _PROCESS, str(TESTS), redis_url, prefix, url],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize("shared", [True, False])
def test_one_process_response_holds_another_process(
    redis_server: RedisServer, shared: bool
) -> None:
    """Process A gets Retry-After: 2; process B's next request to that origin waits it out.

    Without a shared state (each process its own LocalState) B does not wait: the control.
    """
    with LoopbackServer() as server:
        server.route("/a", Reply(429, headers={"Retry-After": "2"}))
        server.route("/b", Reply(200, body=b"{}"))
        prefix = _prefix() if shared else ""
        assert _process(redis_server.url, prefix, server.url("/a")) == "429"
        assert _process(redis_server.url, prefix, server.url("/b")) == "200"
        a, b = server.requests_to("/a")[0], server.requests_to("/b")[0]
        gap = b.time - a.time  # server-side arrival times
        if shared:
            assert gap >= 1.95
        else:
            assert gap < 1.95


def test_a_quota_is_spent_once_across_states(redis_server: RedisServer) -> None:
    """Two RedisStates (two processes' worth) spend one quota: each unit once, then wait."""
    prefix = _prefix()
    a, b = (transport.RedisState(redis_server.url, prefix=prefix, timeout=ROOMY) for _ in range(2))
    now = time.time()
    try:
        _set_quota(a, ORIGIN, 3, now + 5, now)
        _set_quota(b, ORIGIN, 7, now + 5, now)  # same window, more left: the lower count stays
        got = [_take(s, ORIGIN, now + 0.1) for s in (a, b, b, a, b)]
        assert got[:3] == [None, None, None]
        assert got[3:] == [pytest.approx(now + 5, rel=0, abs=1e-6)] * 2
        _set_quota(b, ORIGIN, 1, now + 6, now + 1)  # a later reset: a new window
        assert _take(a, ORIGIN, now + 1.1) is None
        assert _take(b, ORIGIN, now + 1.1) == pytest.approx(now + 6, rel=0, abs=1e-6)
        assert _take(a, ORIGIN, now + 6.0) is None  # reset passed: forgotten
        assert a.shared and b.shared
    finally:
        a.close()
        b.close()


def test_the_herd_at_a_reset_is_held_across_states(redis_server: RedisServer) -> None:
    """A window of 5: just after its reset, two RedisStates together let 5 requests go
    before the new count is known; the rest wait BLIND_WAIT for it."""
    prefix = _prefix()
    a, b = (transport.RedisState(redis_server.url, prefix=prefix, timeout=ROOMY) for _ in range(2))
    now = time.time()
    try:
        _set_quota(a, ORIGIN, 4, now + 1, now)
        got = [_take(s, ORIGIN, now + 1.0) for s in (a, b, a, b, a, b, a)]
        assert got[:5] == [None] * 5
        assert got[5:] == [pytest.approx(now + 1.0 + BLIND_WAIT, rel=0, abs=1e-6)] * 2
        assert a.shared and b.shared
    finally:
        a.close()
        b.close()


_QUOTA_PROCESS = r"""
import sys, time
import transport
state = transport.RedisState(sys.argv[1], prefix=sys.argv[2], timeout=0.5) if sys.argv[2] else None
with transport.RetryingPool("pace=on", state=state) as pool:
    for url in sys.argv[3:]:
        assert pool.request("GET", url).status == 200
"""


@pytest.mark.parametrize("shared", [True, False])
def test_one_process_quota_is_spent_by_another(redis_server: RedisServer, shared: bool) -> None:
    """A learns "1 request left, reset in 5 s"; B spends it; C's request waits for the reset.

    Without a shared state B and C know of no quota and do not wait: the control.
    """
    with LoopbackServer() as server:
        server.route(
            "/a", Reply(200, headers={"X-RateLimit-Remaining": "1", "X-RateLimit-Reset": "5"})
        )
        server.route("/b", Reply(200, body=b"{}"))
        prefix = _prefix() if shared else ""
        for path in ("/a", "/b", "/b"):
            done = subprocess.run(
                [sys.executable, "-c", _QUOTA_PROCESS, redis_server.url, prefix, server.url(path)],
                capture_output=True,
                text=True,
                timeout=60,
                cwd=ROOT,
            )
            assert done.returncode == 0, done.stderr
        a = server.requests_to("/a")[0]
        first, second = server.requests_to("/b")
        assert first.time - a.time < 4.9  # the unit left: no wait
        if shared:
            assert second.time - a.time >= 4.9
        else:
            assert second.time - a.time < 4.9


def test_budget_through_call_is_shared_between_pools(redis_server: RedisServer) -> None:
    """Two pools on one RedisState-backed budget: retries stop at ratio x firsts + floor."""
    prefix = _prefix()
    with LoopbackServer() as server:
        url = server.route("/down", Reply(503))
        p = policy.parse("5xx:backoff(100,1ms) budget=20%")
        pools = [
            transport.RetryingPool(
                p, state=transport.RedisState(redis_server.url, prefix=prefix, timeout=ROOMY)
            )
            for _ in range(2)
        ]
        for i in range(10):
            pools[i % 2].request("GET", url)
        for pool in pools:
            pool.close()
        # 10 first attempts; retries: 1/5 x (firsts so far) + 10, across both pools.
        total = len(server.requests_to("/down"))
        assert total <= 10 + 0.2 * 10 + 10
        assert total >= 10 + 10
