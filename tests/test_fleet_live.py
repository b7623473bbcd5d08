"""Pacing and retry budgets through ``RetryingPool`` (the one attempt loop) on real servers.

The loopback server stamps each request when it arrives, so "no request before the reset"
is read from the server's side.  Flask-Limiter is a real rate limiter nobody here wrote.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from httpserver import LoopbackServer, Reply, Request
from limited_server import LimitedServer

import policy
import transport
from policy.loop import start_recording, stop_recording


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as s:
        yield s


PACED = "429:headers(x-ratelimit-*) 5xx:backoff(2,100ms..200ms,x2,jitter) pace=on"


def _threads(n: int, target: Callable[[], object], timeout: float = 60.0) -> None:
    """Run ``target`` in ``n`` threads and join them (bounded: a hang fails the test)."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target()
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads), "a worker thread hung"
    if errors:
        raise errors[0]


def test_remaining_zero_on_a_200_holds_every_thread_until_the_reset(
    server: LoopbackServer,
) -> None:
    """After a 200 with remaining 0 and a reset 1 s ahead, no thread's request arrives early."""
    first = Reply(200, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1"}, body=b"ok")
    url = server.route("/api", first, Reply(200, {"x-ratelimit-remaining": "9"}, body=b"ok"))
    with transport.RetryingPool(policy.parse(PACED)) as pool:
        assert pool.request("GET", url).status == 200
        (spent,) = server.requests

        def work() -> None:
            for _ in range(3):
                assert pool.request("GET", url).status == 200

        _threads(4, work)
    later = server.requests[1:]
    assert len(later) == 12
    assert min(r.time for r in later) >= spent.time + 1.0 - 0.005


def test_without_pace_the_threads_do_not_wait(server: LoopbackServer) -> None:
    """The same exchange with pacing off sends at once (the hold above is pacing's doing)."""
    first = Reply(200, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1"}, body=b"ok")
    url = server.route("/api", first, Reply(200, body=b"ok"))
    with transport.RetryingPool(policy.parse(PACED.replace(" pace=on", ""))) as pool:
        assert pool.request("GET", url).status == 200
        _threads(4, lambda: pool.request("GET", url))
    spent, *later = server.requests
    assert min(r.time for r in later) < spent.time + 0.9


def test_retry_after_on_a_429_holds_the_other_threads(server: LoopbackServer) -> None:
    """One thread's 429 with Retry-After: 1 keeps every other thread away for that second."""
    url = server.route("/api", Reply(429, {"retry-after": "1"}), Reply(200, body=b"ok"))
    retried = threading.Event()
    with transport.RetryingPool(
        policy.parse(PACED), on_retry=lambda attempt: retried.set()
    ) as pool:
        first = threading.Thread(target=lambda: pool.request("GET", url))
        first.start()
        assert retried.wait(10), "the 429 was not retried"
        _threads(4, lambda: [pool.request("GET", url) for _ in range(2)])
        first.join(10)
    limited, *later = server.requests
    assert limited.path == "/api" and len(later) == 9
    assert min(r.time for r in later) >= limited.time + 1.0 - 0.005


def test_a_hold_past_the_deadline_gives_up_before_sending(server: LoopbackServer) -> None:
    """A held origin whose hold outlasts the call's deadline is not contacted at all."""
    url = server.route("/api", Reply(429, {"retry-after": "30"}), Reply(200))
    with transport.RetryingPool(policy.parse("429:headers(limit=0) pace=on deadline=5s")) as pool:
        assert pool.request("GET", url).status == 429
        with pytest.raises(transport.RetryError, match="deadline"):
            pool.request("GET", url)
    assert len(server.requests) == 1


def _limited_429s(text: str, state: transport.State | None = None) -> int:
    """429s Flask-Limiter (5/s, fixed window) answers 3 threads × 25 requests under ``text``."""
    with (
        LimitedServer("5 per second") as server,
        transport.RetryingPool(policy.parse(text), state=state) as pool,
    ):

        def work() -> None:
            for _ in range(25):
                assert pool.request("GET", server.url).status == 200

        _threads(3, work, timeout=120)
        assert server.counts[200] == 75
        return server.counts[429]


def test_pacing_against_flask_limiter_gets_fewer_429s() -> None:
    """Against a real limiter, pace=on gets clearly fewer 429s than the same policy without."""
    text = "429:headers(x-ratelimit-*,1000) 5xx:backoff(2,100ms,jitter)"
    unpaced = _limited_429s(text)
    paced = _limited_429s(text + " pace=on")
    # Unpaced, every thread meets the spent quota in each 1 s window (and retries at once
    # on the limiter's "Retry-After: 0" late in a window); paced, only requests already in
    # flight when the quota ran out do.
    assert paced * 5 <= unpaced * 4, (paced, unpaced)


class _HoldsOnly(transport.LocalState):
    """A state that keeps holds but ignores quotas: pacing as it was before them."""

    def after(self, origin: str, now: float, **kw: Any) -> tuple[float | None, bool, int]:
        kw["quotas"] = ()  # quotas are not recorded, so none is ever spent
        return super().after(origin, now, **kw)


def test_the_remaining_quota_gets_fewer_429s_than_holds_alone() -> None:
    """Spending the quota a response announces beats waiting for "remaining: 0" alone:
    back-to-back threads no longer overrun the window with requests already on the wire."""
    text = "429:headers(x-ratelimit-*,1000) 5xx:backoff(2,100ms,jitter) pace=on"
    holds_only = _limited_429s(text, _HoldsOnly())
    with_quota = _limited_429s(text)
    assert with_quota < holds_only, (with_quota, holds_only)


def test_a_quota_lets_n_requests_through_then_waits_for_the_reset(
    server: LoopbackServer,
) -> None:
    """ "2 left, reset in 1 s": two more requests go at once, the third waits the reset out."""
    first = Reply(200, {"x-ratelimit-remaining": "2", "x-ratelimit-reset": "1"}, body=b"ok")
    url = server.route("/api", first, Reply(200, body=b"ok"))
    with transport.RetryingPool(policy.parse(PACED)) as pool:
        for _ in range(4):
            assert pool.request("GET", url).status == 200
    spent, _, b, c = server.requests
    assert b.time < spent.time + 0.9
    assert c.time >= spent.time + 1.0 - 0.005


# --- retry budgets ---------------------------------------------------------------------------


def test_budget_caps_retries_when_a_dependency_is_down(server: LoopbackServer) -> None:
    """16 threads × 50 calls to a server that only answers 503: retries stay in the budget."""
    url = server.route("/down", Reply(503))
    waits: list[float] = []
    start_recording(waits)
    try:
        with transport.RetryingPool(
            policy.parse("5xx:backoff(3,1s..4s,x2,jitter) budget=20%")
        ) as pool:
            _threads(16, lambda: [pool.request("GET", url) for _ in range(50)])
    finally:
        stop_recording(waits)
    firsts = 16 * 50
    total = len(server.requests)
    assert firsts + 10 <= total <= 1.2 * firsts + 10


def test_a_hold_past_the_deadline_returns_the_response_that_set_it(
    server: LoopbackServer,
) -> None:
    """A 503 asking for 60 s (held for its rule's max, 30 s), a 10 s deadline: the call
    gives up at once on that 503 and returns it (as any give-up on a status does), and
    on_giveup hears of it; the backoff alone would have retried after 100 ms."""
    url = server.route("/away", Reply(503, headers={"Retry-After": "60"}, body=b"away"))
    gave_up: list[transport.Attempt] = []
    with transport.RetryingPool(
        policy.parse("5xx:backoff(3,100ms..30s) deadline=10s pace=on"),
        on_giveup=gave_up.append,
    ) as pool:
        started = time.monotonic()
        r = pool.request("GET", url)
        elapsed = time.monotonic() - started
    assert r.status == 503 and r.data == b"away"
    assert len(server.requests) == 1 and elapsed < 5
    assert len(gave_up) == 1 and "deadline would pass" in gave_up[0].reason
    assert [a.label for a in transport.attempts_of(r)] == ["503"]


def test_retrying_shares_one_budget_between_its_calls() -> None:
    """Every call of a function decorated with a budget draws on one budget: 20 calls that
    always fail retry at most 20 % of 20 first attempts plus the floor of 10."""
    calls = 0

    @transport.retrying(
        "error:backoff(1000,1ms..1ms) budget=20%", on=ValueError, sleep=lambda s: None
    )
    def always_fails() -> None:
        nonlocal calls
        calls += 1
        raise ValueError("down")

    for _ in range(20):
        with pytest.raises(ValueError):
            always_fails()
    assert 20 + 10 <= calls <= 20 + 0.2 * 20 + 10


def test_budget_give_up_names_the_budget(server: LoopbackServer) -> None:
    """A refused retry ends the call with a reason naming the budget."""
    url = server.route("/down", Reply(503))
    gave_up: list[transport.Attempt] = []
    with transport.RetryingPool(
        policy.parse("5xx:backoff(1,1ms) budget=0%"),
        on_giveup=gave_up.append,
        sleep=lambda s: None,
    ) as pool:
        for _ in range(12):
            pool.request("GET", url)
    assert "retry budget exhausted: 0% of 12 requests in the last 10s" in gave_up[-1].reason
    assert len(server.requests) == 12 + 10  # the floor: 10 retries per window


def test_connect_failures_spend_the_budget() -> None:
    """A refused connection is a retry like any other: it counts against the budget."""
    from httpserver import free_port

    url = f"http://127.0.0.1:{free_port()}/"
    attempts = 0
    with transport.RetryingPool(
        policy.parse("connect:backoff(5,1ms) budget=0%"), sleep=lambda s: None
    ) as pool:
        for _ in range(5):
            with pytest.raises(transport.RetryError) as info:
                pool.request("GET", url)
            attempts += len(info.value.attempts)
    # 5 first attempts, then retries until the floor of 10 is spent, then none.
    assert attempts == 5 + 10
    assert "retry budget exhausted" in info.value.reason


def test_requests_are_stamped_on_arrival() -> None:
    """The loopback server's timestamps are taken when a request arrives (sanity check)."""
    with LoopbackServer() as server:
        server.route("/", lambda req: Reply(200, body=f"{req.time}"))
        before = time.monotonic()
        with transport.RetryingPool(policy.parse("")) as pool:
            pool.request("GET", server.url("/"))
        (req,) = server.requests
        assert isinstance(req, Request) and before <= req.time <= time.monotonic()


def test_background_fetches_share_one_hold(server: LoopbackServer) -> None:
    """A BackgroundFetcher's fetches share pacing holds: the next fetch waits the reset out."""
    first = Reply(200, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1"}, body=b"{}")
    url = server.route("/api", first, Reply(200, body=b"{}"))
    state = transport.LocalState()
    fetcher = transport.BackgroundFetcher(state=state)
    try:
        assert fetcher.fetch("a", url, retry=PACED).result(10) == {}
        assert state.hold_until(f"http://127.0.0.1:{server.port}", 0.0) is not None
        assert fetcher.fetch("b", url, retry=PACED).result(10) == {}
    finally:
        fetcher.close()
    spent, later = server.requests
    assert later.time >= spent.time + 1.0 - 0.005
