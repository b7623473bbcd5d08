"""``RedisState`` waits for no breaker or bucket verdict the last answer already told -- and
what that costs in staleness, bounded: a circuit another process opens stops this one
within ``TRUST_SECONDS`` of its last answer (real redis-server; explicit times, no timing
asserted: what was waited for is counted by the state's wire, what was sent by Redis)."""

from __future__ import annotations

import logging
import time
import uuid

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

import transport
from policy.loop._breaker import BreakerConfig
from transport._redis_wire import TRUST_SECONDS

try:
    from tests.redis_server import RedisServer, redis_server
except ImportError:  # tests/ is not a package: pytest put it on sys.path
    from redis_server import RedisServer, redis_server  # type: ignore[no-redef]

__all__ = ["redis_server"]  # the session fixture, re-exported for pytest

ORIGIN = "http://api.example:80"
ROOMY = 0.5  # Redis gets half a second per call: these are not outage tests


def _states(url: str, n: int) -> list[transport.RedisState]:
    prefix = f"gt-{uuid.uuid4().hex[:10]}:"
    return [transport.RedisState(url, prefix=prefix, timeout=ROOMY) for _ in range(n)]


def _ok(s: transport.RedisState, now: float, config: BreakerConfig, **kw: bool) -> list[str]:
    """Record a 200 (or what ``kw`` says) in ``s``'s breaker; the changes it reported."""
    changes: list[str] = []
    s.after(ORIGIN, now, breaker=config, changes=changes, **kw)  # type: ignore[arg-type]
    return changes


def test_a_closed_breaker_told_is_not_waited_for(redis_server: RedisServer) -> None:
    """Once an answer said "closed", a 200's check and record go without waiting for
    Redis (its first attempt still counted there, its answer still recorded) -- and the
    bucket told "off" likewise; an answer that said nothing of them is waited for."""
    (s,) = _states(redis_server.url, 1)
    client = redis.Redis.from_url(redis_server.url)
    config = BreakerConfig(5)
    now = time.time()
    try:
        kw = {"pace": False, "first": True, "breaker": config, "adaptive": True}
        assert s.before(ORIGIN, now, **kw) is None  # nothing known: waited for
        assert s._wire.waited == 1
        for i in range(1, 6):
            t = now + i * TRUST_SECONDS / 10
            assert s.before(ORIGIN, t, **kw) is None
            assert _ok(s, t, config, adaptive=True) == []
        assert s._wire.waited == 1  # five attempts, nothing waited for
        s._wire.flush()
        firsts = s._keys_of(ORIGIN)[1]
        assert client.zcard(firsts) == 6  # every first attempt counted in Redis
        # Another breaker on the same origin is not known: waited for.
        seven = BreakerConfig(7)
        assert s.before(ORIGIN, now + 0.06, pace=False, first=False, breaker=seven) is None
        assert s._wire.waited == 2
        # Too old: waited for again, and trusted again from that answer.
        late = t + TRUST_SECONDS
        assert s.before(ORIGIN, late, **kw) is None
        assert s._wire.waited == 3
        assert s.before(ORIGIN, late + 0.001, **kw) is None
        assert s._wire.waited == 3
        assert s.shared
    finally:
        s.close()
        client.close()


def test_a_told_attempt_goes_while_redis_is_paused(caplog: pytest.LogCaptureFixture) -> None:
    """While Redis answers nobody (CLIENT PAUSE), an attempt whose breaker verdict the last
    answer told completes without an outage; a check not told waits, and past the 50 ms
    bound falls back locally (the one WARNING)."""
    with RedisServer() as rs:
        admin = redis.Redis.from_url(rs.url)
        s = transport.RedisState(rs.url, prefix=f"p{uuid.uuid4().hex[:6]}:")  # 50 ms bound
        config = BreakerConfig(5)
        try:
            now = time.time()
            assert s.before(ORIGIN, now, pace=False, first=True, breaker=config) is None
            admin.client_pause(2000)
            with caplog.at_level(logging.WARNING, logger="policy"):
                t = now + 0.01
                assert s.before(ORIGIN, t, pace=False, first=True, breaker=config) is None
                assert _ok(s, t, config) == []
                assert s.before(ORIGIN, t, pace=False, first=False, breaker=config) is None
                assert s.shared and not caplog.records  # nothing waited for
                other = BreakerConfig(9)
                assert s.before(ORIGIN, t, pace=False, first=False, breaker=other) is None
                assert not s.shared and len(caplog.records) == 1
        finally:
            admin.client_unpause()
            admin.close()
            s.close()


def test_a_circuit_opened_elsewhere_stops_this_process_within_the_bound(
    redis_server: RedisServer,
) -> None:
    """B's last answer said "closed"; A opens the circuit.  B's requests may still go
    until TRUST_SECONDS after that answer (recorded as non-probes: they change nothing),
    and not one moment longer."""
    a, b = _states(redis_server.url, 2)
    config = BreakerConfig(3, open=30.0)
    kw = {"pace": False, "first": False, "breaker": config}
    now = time.time()
    try:
        assert b.before(ORIGIN, now, **kw) is None  # B learns "closed"
        for i in range(3):
            t = now + 0.001 * (i + 1)
            assert a.before(ORIGIN, t, **kw) is None
            changes = _ok(a, t, config, failed=True)
        assert changes == ["open"]
        refused = ("open", pytest.approx(now + 0.003 + 30.0, rel=0, abs=1e-6))
        # Within the bound B trusts its answer: the request goes ...
        waited = b._wire.waited
        assert b.before(ORIGIN, now + TRUST_SECONDS / 2, **kw) is None
        assert b.before(ORIGIN, now + TRUST_SECONDS * 0.99, **kw) is None
        assert b._wire.waited == waited
        # ... and TRUST_SECONDS after its answer, B asks again and is refused.
        assert b.before(ORIGIN, now + TRUST_SECONDS, **kw) == refused
        assert b._wire.waited == waited + 1
        # The requests that went are recorded as non-probes: they change nothing.
        assert _ok(b, now + TRUST_SECONDS, config) == []
        b._wire.flush()  # (Redis ran B's record)
        assert a.before(ORIGIN, now + TRUST_SECONDS, **kw) == refused
        assert a.shared and b.shared
    finally:
        a.close()
        b.close()


def test_a_deferred_answer_that_says_open_is_learnt(redis_server: RedisServer) -> None:
    """A 200's record goes without waiting; when its answer, read later, says another
    process opened the circuit, the next check is waited for (and refused)."""
    a, b = _states(redis_server.url, 2)
    config = BreakerConfig(1, open=30.0)
    kw = {"pace": False, "first": False, "breaker": config}
    now = time.time()
    try:
        assert b.before(ORIGIN, now, **kw) is None  # B learns "closed"
        assert a.before(ORIGIN, now + 0.001, **kw) is None
        assert _ok(a, now + 0.001, config, failed=True) == ["open"]
        assert _ok(b, now + 0.002, config) == []  # sent, its answer left on the wire
        b._wire.flush()  # read: "open", learnt
        waited = b._wire.waited
        assert b.before(ORIGIN, now + 0.003, **kw) == (
            "open",
            pytest.approx(now + 0.001 + 30.0, rel=0, abs=1e-6),
        )
        assert b._wire.waited == waited + 1
    finally:
        a.close()
        b.close()


def test_failures_and_probes_are_waited_for_and_reported(redis_server: RedisServer) -> None:
    """A failure's record, and a probe's, are waited for even with the breaker told
    closed: the phase they move it to is reported through ``changes`` at once."""
    (s,) = _states(redis_server.url, 1)
    config = BreakerConfig(2, open=0.5)
    kw = {"pace": False, "first": False, "breaker": config}
    now = time.time()
    try:
        assert s.before(ORIGIN, now, **kw) is None
        w = s._wire.waited
        assert _ok(s, now + 0.01, config, failed=True) == []  # one failure in a row
        assert s._wire.waited == w + 1
        assert s.before(ORIGIN, now + 0.02, **kw) is None  # still closed: told, not waited
        assert s._wire.waited == w + 1
        assert _ok(s, now + 0.03, config, failed=True) == ["open"]
        assert s._wire.waited == w + 2
        probe = s.before(ORIGIN, now + 0.6, **kw)  # "open" was learnt: waited, a probe
        assert probe is not None and probe[0] == "half-open"
        assert s._wire.waited == w + 3
        assert _ok(s, now + 0.61, config, probe=True) == ["closed"]
        assert s._wire.waited == w + 4
        assert s.before(ORIGIN, now + 0.62, **kw) is None  # closed again, told
        assert s._wire.waited == w + 4
    finally:
        s.close()


def test_one_probe_for_the_fleet_even_with_a_stale_closed(redis_server: RedisServer) -> None:
    """probes=1, two processes: B still trusts a "closed" when the circuit A opened turns
    half-open (an open span shorter than the trust span).  B's request goes as a
    non-probe and changes nothing; exactly one probe goes (A's), and its answer closes."""
    a, b = _states(redis_server.url, 2)
    config = BreakerConfig(1, open=TRUST_SECONDS / 4, probes=1)
    kw = {"pace": False, "first": False, "breaker": config}
    now = time.time()
    try:
        assert b.before(ORIGIN, now, **kw) is None  # B learns "closed"
        assert a.before(ORIGIN, now + 0.001, **kw) is None
        assert _ok(a, now + 0.001, config, failed=True) == ["open"]
        half = now + 0.001 + TRUST_SECONDS / 4 + 0.001  # half-open; B's answer still trusted
        verdicts = [s.before(ORIGIN, half + i / 1000, **kw) for i, s in enumerate((b, a, b, a))]
        kinds = [None if v is None else v[0] for v in verdicts]
        assert kinds == [None, "half-open", None, "busy"]
        assert _ok(b, half + 0.005, config) == []  # B's non-probe: nothing moves
        b._wire.flush()
        busy = a.before(ORIGIN, half + 0.006, **kw)
        assert busy is not None and busy[0] == "busy"
        assert _ok(a, half + 0.007, config, probe=True) == ["closed"]
        assert b.before(ORIGIN, half + TRUST_SECONDS, **kw) is None  # asks: closed
    finally:
        a.close()
        b.close()


_step = st.tuples(
    st.integers(0, 2),  # which state
    st.sampled_from([0.0, 0.001, 0.01, 0.04, 0.2]),  # time step
    st.sampled_from(["ok", "fail", "before"]),
)


@settings(max_examples=40, deadline=None)
@given(steps=st.lists(_step, min_size=1, max_size=40))
def test_probes_stay_limited_fleet_wide(redis_server: RedisServer, steps: list) -> None:  # type: ignore[type-arg]
    """Three processes, trust on, any interleaving: however stale a "closed" one of them
    trusts, no half-open round lets more than ``probes`` probes go for the whole fleet (a
    round whose probes are not answered within ``open`` gives way to a new one)."""
    states = _states(redis_server.url, 3)
    config = BreakerConfig(2, open=0.03, probes=1)
    kw = {"pace": False, "first": False, "breaker": config}
    now = time.time()
    probe_of = [False] * 3
    in_round, round_at = 0, 0.0
    try:
        for which, dt, op in steps:
            now += dt
            s = states[which]
            if op == "before":
                v = s.before(ORIGIN, now, **kw)
                if v is not None and v[0] in ("probe", "half-open"):
                    if v[0] == "half-open" or now >= round_at + config.open:
                        in_round, round_at = 0, now  # a round (unanswered: a new one)
                    in_round += 1
                    assert in_round <= config.probes
                    probe_of[which] = True
                continue
            changes = _ok(s, now, config, failed=op == "fail", probe=probe_of[which])
            probe_of[which] = False
            if "closed" in changes or "open" in changes:
                in_round = 0
        assert all(s.shared for s in states)
    finally:
        for s in states:
            s.close()
