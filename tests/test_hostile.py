"""Hostile servers: every call ends in time, within its bounds, with a defined outcome.

Two kinds of hostility, both from real sockets on 127.0.0.1:

* byte-level misbehaviour from ``tests/hostile_server.py`` (stalls, a dripped body, a close
  mid-body, 10 000 headers, a 1 MB header line, a non-HTTP status line, endless
  redirects, a gzip bomb): the call must end within its attempt timeouts (or deadline)
  plus a margin, as a response or a ``RetryError`` whose attempts say what happened;
* hostile *advice* from a correct server (``Retry-After`` of ten years, negative, NaN,
  garbage, dates in the far past and future; reset headers in every format with hostile
  values): no wait may exceed the strategy's ``max`` or the policy's ``deadline``.

Sleeps are recorded, not slept (``Recorder``), so a ten-year ``Retry-After`` that got
through would fail the test at once instead of hanging it.  Elapsed times are measured
with ``time.monotonic`` and compared with generous upper bounds only (``MARGIN_S``): the
assertion is "it did not hang", not a benchmark.  After each test the pool must hold no
checked-out connection and the thread count must be back where it was.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import urllib3
from hostile_server import (
    BOMB_SIZE,
    Behaviour,
    HostileServer,
    bad_status_line,
    close_mid_body,
    drip_body,
    endless_redirect,
    gzip_bomb,
    huge_header_line,
    many_headers,
    stall_after_headers,
    stall_before_headers,
)
from httpserver import LoopbackServer, Reply

import policy
import transport

MARGIN_S = 2.0
"""Slack on every time bound: thread scheduling on a loaded CI box, never a hang."""

ATTEMPT_S = 0.3
"""The per-attempt timeout of the byte-level scenarios."""


class Recorder:
    """A ``sleep`` that records each wait and fails at once on one above ``bound``."""

    def __init__(self, bound: float) -> None:
        self.bound = bound
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        assert 0 <= seconds <= self.bound, f"asked to wait {seconds}s (bound {self.bound}s)"


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as s:
        yield s


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    with HostileServer() as s:
        yield s


@pytest.fixture(autouse=True)
def _no_thread_leak() -> Iterator[None]:
    """Each test ends with no more threads than it started with."""
    before = threading.active_count()
    yield
    deadline = time.monotonic() + 5
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threading.active_count() <= before


def _checked_in(pm: urllib3.PoolManager) -> bool:
    """Every connection slot of every host pool is back in its queue (none leaked)."""
    pools = [pm.pools[k] for k in list(pm.pools.keys())]
    return all(p.pool is not None and p.pool.qsize() == p.pool.maxsize for p in pools)


# --- byte-level misbehaviour --------------------------------------------------------------

RAW_POLICY = "reset,timeout,5xx:backoff(2,10ms..20ms)"

# behaviour, the outcome label of every attempt (None: a response), attempts expected
RAW_CASES: list[tuple[Behaviour, str | None, int]] = [
    (stall_before_headers, "timeout", 3),
    (stall_after_headers, "timeout", 3),
    (drip_body, "timeout", 3),
    (close_mid_body, "reset", 3),
    (many_headers, "reset", 3),
    (huge_header_line, "reset", 3),
    (bad_status_line, "reset", 3),
]


@pytest.mark.parametrize(
    ("behaviour", "label", "n"), RAW_CASES, ids=lambda c: getattr(c, "__name__", None)
)
def test_byte_level_misbehaviour_ends_in_time(
    hostile: HostileServer, behaviour: Behaviour, label: str, n: int
) -> None:
    """A misbehaving server costs at most its attempts' timeouts and ends as a RetryError."""
    hostile.behaviour = behaviour
    sleep = Recorder(bound=0.02)
    pm = urllib3.PoolManager()
    with transport.RetryingPool(policy.parse(RAW_POLICY), pool=pm, sleep=sleep) as rp:
        t0 = time.monotonic()
        with pytest.raises(transport.RetryError) as info:
            rp.request("GET", hostile.url("/x"), timeout=ATTEMPT_S)
        elapsed = time.monotonic() - t0
    assert [a.label for a in info.value.attempts] == [label] * n
    assert len(sleep.waits) == n - 1
    assert elapsed <= n * ATTEMPT_S + sum(sleep.waits) + MARGIN_S
    assert _checked_in(pm)
    pm.clear()


def test_endless_redirects_end_as_retry_error(hostile: HostileServer) -> None:
    """Endless redirects stop after the redirect limit, as one attempt, without retries."""
    hostile.behaviour = endless_redirect
    sleep = Recorder(bound=0.0)
    with transport.RetryingPool(policy.parse(RAW_POLICY), sleep=sleep) as rp:
        t0 = time.monotonic()
        with pytest.raises(transport.RetryError, match="too many redirects") as info:
            rp.request("GET", hostile.url("/r/0"), timeout=ATTEMPT_S)
        elapsed = time.monotonic() - t0
    assert len(info.value.attempts) == 1
    assert len(hostile.heads) == transport._pool.MAX_REDIRECTS + 1
    assert sleep.waits == []
    assert elapsed <= ATTEMPT_S + MARGIN_S


def test_gzip_bomb_is_a_defined_outcome_in_time(hostile: HostileServer) -> None:
    """A gzip bomb ends within the attempt timeout as a full response or a timeout."""
    hostile.behaviour = gzip_bomb
    with transport.RetryingPool(policy.parse("timeout:never"), sleep=Recorder(0.0)) as rp:
        t0 = time.monotonic()
        try:
            resp = rp.request("GET", hostile.url("/bomb"), timeout=5.0)
        except transport.RetryError as e:
            assert [a.label for a in e.attempts] == ["timeout"]
        else:
            # decompression is on (urllib3's default): the whole bomb is read into memory
            assert resp.status == 200 and len(resp.data) == BOMB_SIZE
        elapsed = time.monotonic() - t0
    assert elapsed <= 5.0 + MARGIN_S


def test_gzip_bomb_over_max_body_ends_the_call(hostile: HostileServer) -> None:
    """A body that inflates past max_body ends the call with RetryError, not read further."""
    hostile.behaviour = gzip_bomb
    cap = 1024 * 1024
    with (
        transport.RetryingPool(policy.parse("5xx:backoff(3,1ms)"), max_body=cap) as rp,
        pytest.raises(transport.RetryError) as info,
    ):
        rp.request("GET", hostile.url("/bomb"), timeout=5.0)
    assert "max_body" in info.value.reason
    assert [a.label for a in info.value.attempts] == ["200"]
    assert len(hostile.heads) == 1


def test_deadline_bounds_the_whole_call(hostile: HostileServer) -> None:
    """With a deadline, attempt timeouts shrink to the time left: the call ends near it."""
    hostile.behaviour = stall_before_headers
    waits: list[float] = []

    def sleep(s: float) -> None:
        waits.append(s)
        time.sleep(s)

    p = policy.parse("timeout:backoff(1000,50ms) deadline=1s")
    with transport.RetryingPool(p, sleep=sleep) as rp:
        t0 = time.monotonic()
        with pytest.raises(transport.RetryError) as info:
            rp.request("GET", hostile.url("/slow"), timeout=0.4)
        elapsed = time.monotonic() - t0
    assert all(a.label == "timeout" for a in info.value.attempts)
    assert sum(waits) <= 1.0
    assert elapsed <= 1.0 + MARGIN_S


def test_pool_is_healthy_after_the_hostile_suite(
    hostile: HostileServer, server: LoopbackServer
) -> None:
    """After every kind of misbehaviour, the same pool serves a normal request."""
    pm = urllib3.PoolManager()
    with transport.RetryingPool(policy.parse(RAW_POLICY), pool=pm, sleep=Recorder(0.02)) as rp:
        for behaviour, _, _ in RAW_CASES:
            hostile.behaviour = behaviour
            with pytest.raises(transport.RetryError):
                rp.request("GET", hostile.url("/x"), timeout=0.1)
        url = server.route("/ok", Reply(200, body=b"fine"))
        assert rp.request("GET", url).data == b"fine"
    assert _checked_in(pm)
    pm.clear()


# --- hostile advice -----------------------------------------------------------------------

TEN_YEARS = str(10 * 365 * 86400)

HOSTILE_RETRY_AFTER = [
    TEN_YEARS,
    "-1",
    "-0",
    "NaN",
    "nan",
    "inf",
    "1e9",
    "99999999999999999999999999999",
    "garbage",
    "",
    "5; drop table",
    "Thu, 01 Jan 1970 00:00:00 GMT",
    "Mon, 01 Jan 0001 00:00:00 GMT",
    "Fri, 31 Dec 9999 23:59:59 GMT",
    "Sun, 06 Nov 2994 08:49:37 GMT",
    "Sunday, 06-Nov-94 08:49:37 GMT",
    "Wed, 31 Feb 2024 00:00:00 GMT",
    "0" * 300 + "1",
]

HOSTILE_RESETS = [
    *HOSTILE_RETRY_AFTER,
    "1" + "0" * 12,
    "9" * 20,
    "-1700000000",
    "1700000000.999999999",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "2026-13-45T99:99:99Z",
    "999999h",
    "1d22h8m1s",
    "6m0s6m0s",
    '"default";r=0;t=99999999999',
]

MAX_S = 60.0
DEADLINE_S = 120.0


def _advice_run(server: LoopbackServer, p: policy.Policy, headers: dict[str, str]) -> Recorder:
    url = server.route("/h", Reply(429, headers=headers), Reply(200, body=b"ok"))
    sleep = Recorder(bound=MAX_S)
    with transport.RetryingPool(p, sleep=sleep) as rp:
        resp = rp.request("GET", url)
    assert resp.status in (200, 429)
    assert sum(sleep.waits) <= DEADLINE_S
    return sleep


@pytest.mark.parametrize("value", HOSTILE_RETRY_AFTER)
def test_hostile_retry_after_never_waits_past_max(server: LoopbackServer, value: str) -> None:
    """Any Retry-After value ends as a retry within max, or a give-up: never a longer wait."""
    p = policy.parse("429:headers(max=1m)|backoff(1,10ms) deadline=2m")
    _advice_run(server, p, {"Retry-After": value})


@pytest.mark.parametrize("over", ["giveup", "clamp", "skip"])
@pytest.mark.parametrize("fmt", ["auto", "s", "ms", "epoch", "epoch-ms", "date", "iso", "duration"])
def test_hostile_reset_in_every_format(server: LoopbackServer, fmt: str, over: str) -> None:
    """Hostile reset values in every format never wait past max or the deadline."""
    p = policy.parse(
        f"429:headers(reset-header=x-reset,format={fmt},max=1m,over={over},jitter=30s)"
        "|backoff(1,10ms) deadline=2m"
    )
    for value in HOSTILE_RESETS:
        _advice_run(server, p, {"X-Reset": value, "RateLimit": value})


def test_ten_year_retry_after_gives_up_naming_the_wait(server: LoopbackServer) -> None:
    """A ten-year Retry-After over max gives up at once (over=giveup), naming the wait."""
    p = policy.parse("429:headers(max=1m)")
    sleep = _advice_run(server, p, {"Retry-After": TEN_YEARS})
    assert sleep.waits == []
    assert len(server.requests_to("/h")) == 1
