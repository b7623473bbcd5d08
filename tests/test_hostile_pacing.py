"""Pacing under hostile or unusual answers: the right origin held, every header line read.

Real loopback servers; the pacing state is a real ``LocalState`` read back after the call.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import urllib3
from httpserver import LoopbackServer, Reply

import policy
import transport
from policy.loop import LocalState
from transport._attempt import Sender
from transport._celery_wire import answer_of, encode_headers, first_message, outcome_of_answer
from transport._wire import response_outcome

PACED = "5xx:backoff(2,1ms) pace=on"


@pytest.fixture
def a() -> Iterator[LoopbackServer]:
    s = LoopbackServer().start()
    yield s
    s.close()


@pytest.fixture
def b() -> Iterator[LoopbackServer]:
    s = LoopbackServer().start()
    yield s
    s.close()


def _origin(s: LoopbackServer) -> str:
    return f"http://127.0.0.1:{s.port}"


def _held(state: LocalState, s: LoopbackServer) -> float | None:
    """How long ``s``'s origin is held or out of quota from now (``None``: free)."""
    now = time.time()
    verdict = state.before(_origin(s), now, pace=True, first=False)
    return None if verdict is None else verdict[1] - now


# -- 4. the origin that sent a response is the one paced -----------------------------------


def test_redirect_target_is_held_not_the_first_origin(a: LoopbackServer, b: LoopbackServer) -> None:
    """A -> 302 -> B, B answers ``remaining: 0, reset: 600``: B is held 600 s, A not."""
    target = b.route(
        "/b", Reply(200, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "600"})
    )
    a.route("/a", Reply(302, headers={"Location": target}))
    state = LocalState()
    with transport.RetryingPool(PACED, state=state) as rp:
        r = rp.request("GET", a.url("/a"))
    assert r.status == 200
    held_b = _held(state, b)
    assert held_b is not None and 590 < held_b <= 600
    assert _held(state, a) is None


def test_celery_wire_answer_names_the_origin_that_sent_it(
    a: LoopbackServer, b: LoopbackServer
) -> None:
    """CeleryFetcher's attempt (the same single-attempt code) says who answered."""
    target = b.route("/b", Reply(200))
    a.route("/a", Reply(302, headers={"Location": target}))
    direct = a.route("/direct", Reply(200))
    sender = Sender(urllib3.PoolManager(), own_pool=True, clock=time.monotonic)
    try:
        m = first_message("k", "id", "GET", a.url("/a"), encode_headers({}), None, PACED, None)
        got, _ = answer_of(sender, m, a.url("/a"), "GET", 5.0)
        assert got["sent_by"] == _origin(b)
        got, _ = answer_of(sender, m, direct, "GET", 5.0)
        assert got["sent_by"] is None  # no redirect: the call's own origin
    finally:
        sender.close()


# -- 11. every line of a repeated header reaches the workers --------------------------------

LINES = [("RateLimit", '"b";r=5;t=60'), ("RateLimit", '"a";r=0;t=600')]


def test_celery_answer_keeps_every_line_of_a_repeated_header(a: LoopbackServer) -> None:
    """Two ``RateLimit`` lines, the exhausted one second: the worker's outcome holds 600 s,
    exactly as ``RetryingPool``'s outcome of the same response does."""
    url = a.route("/r", Reply(200, headers=LINES), cycle=True)
    p = policy.parse(PACED)
    sender = Sender(urllib3.PoolManager(), own_pool=True, clock=time.monotonic)
    try:
        m = first_message("k", "id", "GET", url, encode_headers({}), None, PACED, None)
        got, _ = answer_of(sender, m, url, "GET", 5.0)
    finally:
        sender.close()
    worker = outcome_of_answer(got)
    with urllib3.PoolManager() as pm:
        resp = pm.request("GET", url)
    pool = response_outcome(resp.status, resp.headers)
    assert p.hold(worker, 0.0) == p.hold(pool, 0.0) == 600.0


# -- a negative remaining count -------------------------------------------------------------


def test_negative_remaining_gives_neither_hold_nor_quota(a: LoopbackServer) -> None:
    """``X-RateLimit-Remaining: -1`` is not a count: no hold, no quota (as documented)."""
    url = a.route(
        "/n", Reply(200, headers={"X-RateLimit-Remaining": "-1", "X-RateLimit-Reset": "600"})
    )
    state = LocalState()
    with transport.RetryingPool(PACED, state=state) as rp:
        assert rp.request("GET", url).status == 200
    assert _held(state, a) is None


# -- 13. an injected sleep that only records, with pace=on ----------------------------------


class Recording:
    """``sleep=delays.append`` as docs recommend for tests, failing past ``limit`` calls
    (before the fix the call looped here forever, handed the same hold again and again)."""

    def __init__(self, limit: int = 100) -> None:
        self.delays: list[float] = []
        self.limit = limit

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if len(self.delays) > self.limit:
            raise AssertionError(f"{len(self.delays)} sleeps: the call never moves on")


QUOTA_SPENT = Reply(200, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "30"})


def test_recorded_sleep_with_pace_moves_the_call_on(a: LoopbackServer) -> None:
    """A 200 with ``remaining: 0, reset: 30``, then a second call, ``sleep`` only
    recording: the second call is handed the 30 s wait once, its own time moves on by it,
    and it is sent."""
    url = a.route("/q", QUOTA_SPENT, Reply(200, body=b"ok"))
    sleep = Recording()
    with transport.RetryingPool("5xx:backoff(3,1ms) pace=on", sleep=sleep) as rp:
        rp.request("GET", url)
        r = rp.request("GET", url)
    assert r.data == b"ok"
    assert len(a.requests_to("/q")) == 2
    assert sleep.delays == [pytest.approx(30, abs=1)]


def test_recorded_sleep_with_pace_still_honours_the_deadline(a: LoopbackServer) -> None:
    """The same with ``deadline=10s``: the 30 s wait would pass it, so the second call
    gives up at once, nothing sent and nothing slept."""
    url = a.route("/q", QUOTA_SPENT, Reply(200))
    sleep = Recording()
    with transport.RetryingPool("5xx:backoff(3,1ms) pace=on deadline=10s", sleep=sleep) as rp:
        rp.request("GET", url)
        with pytest.raises(transport.RetryError):
            rp.request("GET", url)
    assert sleep.delays == []
    assert len(a.requests_to("/q")) == 1


def test_async_recorded_sleep_with_pace_moves_the_call_on(a: LoopbackServer) -> None:
    """The aiohttp middleware, with an async recording sleep."""
    import asyncio

    import aiohttp

    url = a.route("/q", QUOTA_SPENT, Reply(200, body=b"ok"))
    sleep = Recording()

    async def record(seconds: float) -> None:
        sleep(seconds)

    async def go() -> int:
        mw = transport.aiohttp_middleware("5xx:backoff(3,1ms) pace=on", sleep=record)
        async with aiohttp.ClientSession(middlewares=[mw]) as s:
            async with s.get(url) as r:
                await r.read()
            async with s.get(url) as r:
                return r.status

    assert asyncio.run(go()) == 200
    assert len(a.requests_to("/q")) == 2
    assert sleep.delays == [pytest.approx(30, abs=1)]
