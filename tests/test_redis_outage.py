"""``transport.RedisState`` when Redis fails: down, hung, unreachable, out of memory,
flushed scripts -- never an exception, every call bounded, one WARNING per outage."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import uuid

import pytest
import redis

import transport

try:
    from tests.redis_server import RedisServer
except ImportError:  # tests/ is not a package: pytest put it on sys.path
    from redis_server import RedisServer  # type: ignore[no-redef]

ORIGIN = "http://api.example:80"


def _prefix() -> str:
    return f"t-{uuid.uuid4().hex[:10]}:"


def _spend(s: transport.RedisState, now: float) -> tuple[bool, int]:
    _, granted, requests = s.after(ORIGIN, now, retry=True, budget=0.2)
    return granted, requests


def _hammer(s: transport.RedisState, stop: threading.Event, errors: list, slowest: list) -> None:  # type: ignore[type-arg]
    while not stop.is_set():
        t = time.monotonic()
        try:
            now = time.time()
            s.after(ORIGIN, now, hold=now + 0.5, quotas=(("", 5, now + 1),))
            s.before(ORIGIN, now, pace=True, first=True)
            s.after(ORIGIN, now, retry=True, budget=0.2)
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
        s = transport.RedisState(server.url, prefix=prefix, timeout=0.2, retry_every=0.2)
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
            time.sleep(1.0)  # several probe periods without Redis
            assert not s.shared
            server.start()
            end = time.monotonic() + 5
            while not s.shared and time.monotonic() < end:
                time.sleep(0.05)
            assert s.shared  # resumed within about a probe period
            # The outage is over once Redis answered for QUIET probe periods.
            end = time.monotonic() + 5
            while time.monotonic() < end and not any(
                "answers again" in r.getMessage() for r in caplog.records
            ):
                time.sleep(0.05)
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
                _spend(s, time.time())
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
    s.before(ORIGIN, now, pace=False, first=True)
    assert s.after(ORIGIN, now, retry=True, budget=0.0, floor=1)[1:] == (True, 1)
    assert s.after(ORIGIN, now, retry=True, budget=0.0, floor=1)[1:] == (False, 1)
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    assert "local fallback" in repr(s)


def test_out_of_memory_is_one_outage_not_a_flap(caplog: pytest.LogCaptureFixture) -> None:
    """Redis out of memory answers reads and refuses writes: one WARNING for the whole
    outage (no WARNING/INFO pair per probe); when memory is back, one INFO."""
    caplog.set_level(logging.INFO, logger="policy")
    with RedisServer() as server:
        admin = redis.Redis.from_url(server.url)
        s = transport.RedisState(server.url, prefix=_prefix(), timeout=0.5, retry_every=0.1)
        try:
            now = time.time()
            s.after(ORIGIN, now, hold=now + 0.01)  # the hash exists: reads find it
            admin.config_set("maxmemory-policy", "noeviction")
            admin.config_set("maxmemory", 1)  # every write refused from now on
            end = time.monotonic() + 1.5  # 15 probe periods
            while time.monotonic() < end:
                now = time.time()
                s.hold_until(ORIGIN, now)  # a read: answers (when it is the probe)
                s.before(ORIGIN, now, pace=True, first=True)  # reads, then writes: refused
                s.after(ORIGIN, now, retry=True, budget=0.2)  # a write: refused
                time.sleep(0.005)
            warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
            assert len(warnings) == 1, [r.getMessage() for r in warnings]
            assert "OOM" in warnings[0].getMessage()
            assert not [r for r in caplog.records if "answers again" in r.getMessage()]
            admin.config_set("maxmemory", 0)
            end = time.monotonic() + 5
            while time.monotonic() < end and not any(
                "answers again" in r.getMessage() for r in caplog.records
            ):
                now = time.time()
                s.after(ORIGIN, now, hold=now + 0.001)
                time.sleep(0.02)
            assert s.shared
            assert len([r for r in caplog.records if "answers again" in r.getMessage()]) == 1
        finally:
            admin.config_set("maxmemory", 0)
            admin.close()
            s.close()


def test_flushed_scripts_are_loaded_again(caplog: pytest.LogCaptureFixture) -> None:
    """SCRIPT FLUSH (or a restarted Redis) between calls: NOSCRIPT is answered by loading
    the script and running it again, once, with no outage and no WARNING."""
    caplog.set_level(logging.WARNING, logger="policy")
    with RedisServer() as server:
        admin = redis.Redis.from_url(server.url)
        s = transport.RedisState(server.url, prefix=_prefix(), timeout=0.5)
        try:
            now = time.time()
            s.before(ORIGIN, now, pace=False, first=True)
            admin.script_flush()
            assert s.after(ORIGIN, now, retry=True, budget=0.0, floor=1) == (None, True, 1)
            admin.script_flush()
            s.after(ORIGIN, now, hold=now + 5)
            admin.script_flush()
            assert s.before(ORIGIN, now, pace=True, first=False) == ("hold", now + 5)
            other = transport.RedisState(server.url, prefix=s.prefix, timeout=0.5)
            assert other.before(ORIGIN, now, pace=True, first=False) == ("hold", now + 5)
            other.close()
            assert s.shared and not caplog.records
        finally:
            admin.close()
            s.close()
