"""RedisState costs at most two Redis commands per attempt, counted by Redis itself
(``INFO commandstats`` on a real redis-server; no timing)."""

from __future__ import annotations

import time
import uuid

import redis

import transport

try:
    from tests.httpserver import LoopbackServer, Reply
    from tests.redis_server import RedisServer
except ImportError:  # tests/ is not a package: pytest put it on sys.path
    from httpserver import LoopbackServer, Reply  # type: ignore[no-redef]
    from redis_server import RedisServer  # type: ignore[no-redef]

POLICY = "5xx:backoff(2,1ms) pace=on budget=20%"
#: What the scripts run inside Redis: counted by commandstats, but no round trip.
INSIDE = {"hget", "hmget", "hset", "pttl", "pexpire", "zremrangebyscore", "zadd", "zcard"}


def _sent(admin: redis.Redis) -> dict[str, int]:
    """Commands the clients sent since the last CONFIG RESETSTAT, by name."""
    got: dict[str, int] = {}
    for name, stats in admin.info("commandstats").items():
        cmd = name.removeprefix("cmdstat_")
        if cmd not in INSIDE and cmd not in ("config", "info"):
            got[cmd] = int(stats["calls"])
    return got


def test_at_most_two_commands_per_attempt() -> None:
    """pace=on budget=20% through RetryingPool on RedisState: one EVALSHA before each
    attempt and one after an answer that has something to record (a quota, a retry) --
    or a single one for both, when the check went with the record."""
    with RedisServer() as rs, LoopbackServer() as server:
        plain = server.route("/plain", Reply(200, body=b"ok"))
        quota = server.route(
            "/quota",
            Reply(200, {"X-RateLimit-Remaining": "1000", "X-RateLimit-Reset": "60"}, b"ok"),
        )
        flaky = server.route("/flaky", Reply(503), Reply(200, body=b"ok"), cycle=True)
        admin = redis.Redis.from_url(rs.url)
        state = transport.RedisState(rs.url, prefix=f"c{uuid.uuid4().hex[:6]}:", timeout=0.5)
        try:
            with transport.RetryingPool(POLICY, state=state) as pool:
                pool.request("GET", flaky)  # both scripts are loaded here (503, then 200)
                for _ in range(3):  # and the one running a check with its record
                    pool.request("GET", quota)
                state._wire.flush()
                counts = {}
                for name, url, n in (
                    ("plain", plain, 20),
                    ("quota", quota, 20),
                    ("flaky", flaky, 10),
                ):
                    admin.config_resetstat()
                    before = len(server.requests)
                    for _ in range(n):
                        assert pool.request("GET", url).status == 200
                    # A check a thread carries goes with its next write: send it now, and
                    # read every answer (so Redis ran all of them before INFO is asked).
                    state._wire.flush()
                    attempts = len(server.requests) - before
                    counts[name] = (_sent(admin), attempts)
            assert state.shared
        finally:
            state.close()
            admin.close()
    for name, (sent, attempts) in counts.items():
        assert set(sent) == {"evalsha"}, (name, sent)  # nothing but the two scripts
        assert sent["evalsha"] <= 2 * attempts, (name, sent, attempts)
    # A plain 200 records nothing: the check before sending only.
    assert counts["plain"][0]["evalsha"] == counts["plain"][1] == 20
    # A quota on every answer: the check and the record, two per attempt -- or one, when
    # the check was carried to go with the record (while the last answer, under 0.1 s
    # old, left room: nearly always here; on a stalled machine the two go apart).
    assert counts["quota"][1] == 20
    assert 20 <= counts["quota"][0]["evalsha"] <= 40
    # 503 then 200: check + record (a retry to grant) for the 503, the check for the 200.
    assert counts["flaky"][1] == 20
    assert counts["flaky"][0]["evalsha"] == 30


def test_breaker_and_adaptive_travel_inside_the_two_commands() -> None:
    """``breaker=`` and ``pace=adaptive`` add no command: the check before sending asks
    the shared breaker and takes the bucket's token, the record tells them the answer --
    at most two EVALSHA per attempt, nothing else -- and the breaker is in Redis.  (A
    call the bucket holds asks again when its token is due: one more check per wait.)"""
    policy_text = "5xx:backoff(2,1ms) pace=adaptive budget=20% breaker=50%"
    with RedisServer() as rs, LoopbackServer() as server:
        plain = server.route("/plain", Reply(200, body=b"ok"))
        flaky = server.route("/flaky", Reply(503), Reply(200, body=b"ok"), cycle=True)
        admin = redis.Redis.from_url(rs.url)
        prefix = f"c{uuid.uuid4().hex[:6]}:"
        state = transport.RedisState(rs.url, prefix=prefix, timeout=0.5)
        waits: list[float] = []

        def sleep(seconds: float) -> None:
            waits.append(seconds)
            time.sleep(seconds)

        try:
            with transport.RetryingPool(policy_text, state=state, sleep=sleep) as pool:
                pool.request("GET", flaky)  # both scripts are loaded here
                state._wire.flush()
                counts = {}
                for name, url, n in (("plain", plain, 20), ("flaky", flaky, 10)):
                    admin.config_resetstat()
                    before = len(server.requests)
                    waits.clear()
                    for _ in range(n):
                        assert pool.request("GET", url).status == 200
                    state._wire.flush()
                    counts[name] = (_sent(admin), len(server.requests) - before, len(waits))
            assert state.shared
            fields = set()
            for key in admin.scan_iter(match=prefix + "*"):
                if admin.type(key) == b"hash":
                    fields |= {f.decode() for f in admin.hkeys(key)}
        finally:
            state.close()
            admin.close()
    for name, (sent, attempts, waited) in counts.items():
        assert set(sent) == {"evalsha"}, (name, sent)
        # two per attempt, and one more check after each wait (a retry's, the bucket's)
        assert sent["evalsha"] <= 2 * attempts + waited, (name, sent, attempts, waited)
    # every answer is recorded (the breaker counts successes too): two per attempt at least
    assert counts["plain"][1] == 20 and counts["plain"][0]["evalsha"] >= 40
    assert counts["flaky"][1] == 20 and counts["flaky"][0]["evalsha"] >= 40
    assert any(f.startswith("cb:") for f in fields) and "ab:r" in fields, fields


def test_a_breaker_told_closed_stays_within_two_commands() -> None:
    """``breaker=5`` with the breaker's verdict taken on trust (its last answer said
    "closed"): still at most two EVALSHA per attempt and nothing else -- a 200's check
    goes with its record, a 503's record is waited for -- and every failure and success
    still reaches the breaker in Redis."""
    policy_text = "5xx:backoff(2,1ms) budget=20% breaker=5"
    with RedisServer() as rs, LoopbackServer() as server:
        plain = server.route("/plain", Reply(200, body=b"ok"))
        flaky = server.route("/flaky", Reply(503), Reply(200, body=b"ok"), cycle=True)
        admin = redis.Redis.from_url(rs.url)
        prefix = f"c{uuid.uuid4().hex[:6]}:"
        state = transport.RedisState(rs.url, prefix=prefix, timeout=0.5)
        try:
            with transport.RetryingPool(policy_text, state=state) as pool:
                pool.request("GET", flaky)  # the scripts are loaded here
                pool.request("GET", plain)
                state._wire.flush()
                counts = {}
                for name, url, n in (("plain", plain, 20), ("flaky", flaky, 10)):
                    admin.config_resetstat()
                    before = len(server.requests)
                    for _ in range(n):
                        assert pool.request("GET", url).status == 200
                    state._wire.flush()
                    counts[name] = (_sent(admin), len(server.requests) - before)
            assert state.shared
            streak = {
                k: v
                for key in admin.scan_iter(match=prefix + "*")
                if admin.type(key) == b"hash"
                for k, v in admin.hgetall(key).items()
                if k.startswith(b"cb:") and k.endswith(b":n")
            }
        finally:
            state.close()
            admin.close()
    for name, (sent, attempts) in counts.items():
        assert set(sent) == {"evalsha"}, (name, sent)
        assert sent["evalsha"] <= 2 * attempts, (name, sent, attempts)
    assert counts["plain"][1] == 20 and counts["flaky"][1] == 20
    # the last answer, a 200, reset the failures in a row: the records all reached Redis
    assert list(streak.values()) == [b"0"], streak
