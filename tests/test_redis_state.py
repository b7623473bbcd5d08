"""``transport.RedisState``: holds and budgets shared through a real redis-server."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
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
from policy.loop._state import BLIND_WAIT, WINDOW, LocalState

try:
    from tests.httpserver import LoopbackServer, Reply
    from tests.redis_server import RedisServer, redis_server
except ImportError:  # tests/ is not a package: pytest put it on sys.path
    from httpserver import LoopbackServer, Reply  # type: ignore[no-redef]
    from redis_server import RedisServer, redis_server  # type: ignore[no-redef]

__all__ = ["redis_server"]  # the session fixture, re-exported for pytest

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
    assert b.hold_until(ORIGIN, now) == pytest.approx(now + 5)
    b.hold(ORIGIN, now + 2, now)  # earlier: ignored
    assert a.hold_until(ORIGIN, now) == pytest.approx(now + 5)
    b.hold(ORIGIN, now + 7, now)  # later: extends
    assert a.hold_until(ORIGIN, now) == pytest.approx(now + 7)
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
        s.record_request(origin, now)
        s.spend_retry(origin, now, 0.2, 10)
    keys = _keys(client, prefix)
    assert len(keys) == 150
    ttls = [client.pttl(k) for k in keys]
    assert all(0 < t <= WINDOW * 1000 + 1000 for t in ttls)
    time.sleep(1.3)
    assert not [k for k in _keys(client, prefix) if b"hold:" in k]  # holds: gone
    assert len(_keys(client, prefix)) == 100  # budget windows: gone WINDOW + 1 s after use
    s.close()


def test_a_budget_counts_the_whole_fleet(redis_server: RedisServer) -> None:
    """Retries spent through one state are counted by another (one budget per origin)."""
    prefix = _prefix()
    a = transport.RedisState(redis_server.url, prefix=prefix, timeout=ROOMY)
    b = transport.RedisState(redis_server.url, prefix=prefix, timeout=ROOMY)
    now = time.time()
    for _ in range(10):
        a.record_request(ORIGIN, now)
    granted = [(a if i % 2 else b).spend_retry(ORIGIN, now, 0.5, 2) for i in range(10)]
    # 0.5 x 10 first attempts + a floor of 2 = 7 retries, whoever asks.
    assert [g for g, _ in granted] == [True] * 7 + [False] * 3
    assert {n for _, n in granted} == {10}
    # The window slides: 10 s later nothing is counted and the floor is free again.
    assert b.spend_retry(ORIGIN, now + WINDOW + 0.01, 0.5, 2) == (True, 0)


_ops = st.lists(
    st.tuples(
        st.sampled_from(["hold", "until", "record", "spend", "quota", "take"]),
        st.floats(0, 4, allow_nan=False),  # time step
        st.integers(0, 2),  # origin
        st.integers(0, 1),  # which of two RedisStates
        st.floats(0.01, 30, allow_nan=False),  # hold length
        st.sampled_from([0.0, 0.2, 0.5, 1.0]),  # ratio
        st.integers(0, 3),  # floor
    ),
    max_size=40,
)


@settings(max_examples=25)
@given(ops=_ops)
def test_redis_state_answers_as_a_local_state(redis_server: RedisServer, ops: list) -> None:  # type: ignore[type-arg]
    """Any sequence of calls, spread over two RedisStates, gets LocalState's answers."""
    prefix = _prefix()
    states = [
        transport.RedisState(redis_server.url, prefix=prefix, timeout=ROOMY) for _ in range(2)
    ]
    local = LocalState()
    now = time.time()
    try:
        for op, dt, o, which, length, ratio, floor in ops:
            now += dt
            origin = f"http://h{o}:80"
            s = states[which]
            if op == "hold":
                s.hold(origin, now + length, now)
                local.hold(origin, now + length, now)
            elif op == "until":
                got, want = s.hold_until(origin, now), local.hold_until(origin, now)
                assert (got is None) == (want is None)
                if got is not None:
                    assert got == pytest.approx(want)
            elif op == "quota":
                remaining = floor  # 0..3
                s.set_quota(origin, remaining, now + length / 10, now)
                local.set_quota(origin, remaining, now + length / 10, now)
            elif op == "take":
                got, want = s.take(origin, now), local.take(origin, now)
                assert (got is None) == (want is None)
                if got is not None:
                    assert got == pytest.approx(want)
            elif op == "record":
                s.record_request(origin, now)
                local.record_request(origin, now)
            else:
                assert s.spend_retry(origin, now, ratio, floor) == local.spend_retry(
                    origin, now, ratio, floor
                )
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


def _hammer(s: transport.RedisState, stop: threading.Event, errors: list, slowest: list) -> None:  # type: ignore[type-arg]
    while not stop.is_set():
        t = time.monotonic()
        try:
            now = time.time()
            s.hold(ORIGIN, now + 0.5, now)
            s.hold_until(ORIGIN, now)
            s.record_request(ORIGIN, now)
            s.spend_retry(ORIGIN, now, 0.2, 10)
        except BaseException as e:
            errors.append(e)
        slowest[0] = max(slowest[0], time.monotonic() - t)
        time.sleep(0.005)


def test_redis_killed_and_restarted(caplog: pytest.LogCaptureFixture) -> None:
    """An outage mid-run: no exception, no long call, one WARNING; sharing resumes after."""
    caplog.set_level(logging.INFO, logger="policy")
    with RedisServer() as server:
        prefix = _prefix()
        # 200 ms rather than the default 50 ms: a loaded CI machine must not turn a slow
        # answer into a second outage (and a second WARNING) after Redis is back.
        s = transport.RedisState(server.url, prefix=prefix, timeout=0.2)
        stop = threading.Event()
        errors: list[BaseException] = []
        slowest = [0.0]
        threads = [
            threading.Thread(target=_hammer, args=(s, stop, errors, slowest)) for _ in range(3)
        ]
        for t in threads:
            t.start()
        try:
            time.sleep(0.3)
            assert s.shared
            server.kill()
            time.sleep(1.5)  # several probe periods without Redis
            assert not s.shared
            server.start()
            end = time.monotonic() + 5
            while not s.shared and time.monotonic() < end:
                time.sleep(0.05)
            assert s.shared  # resumed within about a second
            time.sleep(0.2)
        finally:
            stop.set()
            for t in threads:
                t.join(10)
        assert errors == []
        assert slowest[0] < 1.0  # every call bounded (200 ms timeouts, no retry storms)
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1, [r.getMessage() for r in warnings]
        assert "did not answer" in warnings[0].getMessage()
        assert any("answers again" in r.getMessage() for r in caplog.records)
        # Sharing really resumed: a hold written by another client is seen.
        other = transport.RedisState(server.url, prefix=prefix)
        now = time.time()
        other.hold("http://fresh:80", now + 3, now)
        assert s.hold_until("http://fresh:80", now) == pytest.approx(now + 3)
        other.close()
        s.close()


def test_a_hung_redis_costs_at_most_a_timeout_per_second() -> None:
    """A stopped (SIGSTOP) Redis: calls time out in ~50 ms and then go local without waiting."""
    with RedisServer() as server:
        s = transport.RedisState(server.url, prefix=_prefix())
        now = time.time()
        s.hold(ORIGIN, now + 10, now)
        assert server._proc is not None
        os.kill(server._proc.pid, signal.SIGSTOP)
        try:
            durations = []
            for _ in range(40):
                t = time.monotonic()
                s.spend_retry(ORIGIN, time.time(), 0.2, 10)
                durations.append(time.monotonic() - t)
            assert max(durations) < 0.4
            # One 50 ms probe, then local at once: 40 probes would take 2 s.
            assert sum(durations) < 1.0
            assert s.hold_until(ORIGIN, time.time()) == pytest.approx(now + 10)  # mirrored
        finally:
            os.kill(server._proc.pid, signal.SIGCONT)
        s.close()


def test_an_unreachable_redis_from_the_start(caplog: pytest.LogCaptureFixture) -> None:
    """Nothing listening: the state works locally at once, with one WARNING."""
    caplog.set_level(logging.WARNING, logger="policy")
    with RedisServer() as server:
        url = server.url
    s = transport.RedisState(url)
    now = time.time()
    s.hold(ORIGIN, now + 1, now)
    assert s.hold_until(ORIGIN, now) == pytest.approx(now + 1)
    s.record_request(ORIGIN, now)
    assert s.spend_retry(ORIGIN, now, 0.0, 1) == (True, 1)
    assert s.spend_retry(ORIGIN, now, 0.0, 1) == (False, 1)
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    assert "local fallback" in repr(s)


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
        a.set_quota(ORIGIN, 3, now + 5, now)
        b.set_quota(ORIGIN, 7, now + 5, now)  # same window, more left: the lower count stays
        got = [s.take(ORIGIN, now + 0.1) for s in (a, b, b, a, b)]
        assert got[:3] == [None, None, None]
        assert got[3:] == [pytest.approx(now + 5)] * 2
        b.set_quota(ORIGIN, 1, now + 6, now + 1)  # a later reset: a new window
        assert a.take(ORIGIN, now + 1.1) is None
        assert b.take(ORIGIN, now + 1.1) == pytest.approx(now + 6)
        assert a.take(ORIGIN, now + 6.0) is None  # reset passed: forgotten
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
        a.set_quota(ORIGIN, 4, now + 1, now)
        got = [s.take(ORIGIN, now + 1.0) for s in (a, b, a, b, a, b, a)]
        assert got[:5] == [None] * 5
        assert got[5:] == [pytest.approx(now + 1.0 + BLIND_WAIT)] * 2
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
