"""Every way a request ends reaches the breaker and the adaptive bucket, against real
loopback servers.

* A probe that ends without an answer -- an exception the policy does not classify, a
  caller's cancellation -- gives its place back: the next call is the probe, at once,
  instead of waiting until the lost probe is due.
* A probe that may take longer than ``open`` is not counted lost while its attempt may
  still answer: no second probe goes meanwhile.
* A redirect the client follows, and a loop-form block that succeeds, answer a probe.
* ``pace=adaptive`` owes nothing for calls that give up rather than wait: once the
  server recovers, requests flow again.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from httpserver import LoopbackServer, Reply

import transport
import transport.httpx
from policy.loop import LocalState


@pytest.fixture
def http_server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as server:
        yield server


def test_a_retrying_probe_that_raises_an_unknown_error_gives_its_place_back() -> None:
    mode = {"now": "down"}
    calls: list[float] = []

    @transport.retrying("breaker=1/open=300ms error:never", on=(ValueError,))
    def f() -> str:
        calls.append(time.monotonic())
        if mode["now"] == "down":
            raise ValueError("down")
        if mode["now"] == "bug":
            raise KeyError("bug")
        return "ok"

    with pytest.raises(ValueError):
        f()  # opens the circuit
    time.sleep(0.35)
    mode["now"] = "bug"
    with pytest.raises(KeyError):
        f()  # the probe: an exception nothing classifies, no answer for the breaker
    mode["now"] = "up"
    t = time.monotonic()
    assert f() == "ok"
    assert time.monotonic() - t < 0.25  # not held until the lost probe is due (0.3 s)
    assert len(calls) == 3


def test_a_cancelled_httpx_probe_gives_its_place_back(http_server: LoopbackServer) -> None:
    url = http_server.route("/", Reply(503), Reply(200, delay=2.0), Reply(200), Reply(200))
    shell = transport.httpx.AsyncRetryTransport("breaker=1/open=1s 5xx:never")

    async def main() -> float:
        async with httpx.AsyncClient(transport=shell, timeout=10) as client:
            assert (await client.get(url)).status_code == 503  # opens the circuit
            await asyncio.sleep(1.05)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(client.get(url), 0.2)  # the probe, cancelled
            t = time.monotonic()
            assert (await client.get(url)).status_code == 200  # the next probe, at once
            return time.monotonic() - t

    assert asyncio.run(main()) < 0.5  # not held until the lost probe is due (1 s)
    assert len(http_server.requests) == 3


def test_a_probe_slower_than_open_is_waited_for_not_doubled(http_server: LoopbackServer) -> None:
    """``open=300ms``, a probe answered after 1 s: the calls meanwhile wait for it (none
    reaches the server) and go once it has closed the circuit."""
    url = http_server.route(
        "/", Reply(503), Reply(200, delay=1.0), Reply(200), Reply(200), Reply(200)
    )
    pool = transport.RetryingPool("breaker=1/open=300ms timeout=5s deadline=10s 5xx:never")
    try:
        assert pool.request("GET", url).status == 503
        time.sleep(0.35)
        probe = threading.Thread(target=lambda: pool.request("GET", url))
        probe.start()
        time.sleep(0.1)
        seen: list[tuple[float, int]] = []

        def other() -> None:
            seen.append((time.monotonic(), len(http_server.requests)))
            pool.request("GET", url)

        others = [threading.Thread(target=other) for _ in range(3)]
        for t in others:
            t.start()
            time.sleep(0.15)
        probe.join(10)
        for t in others:
            t.join(10)
    finally:
        pool.close()
    times = [r.time for r in http_server.requests]
    assert len(times) == 5  # the 503, the probe, then the three others, once it answered
    assert all(t >= times[1] + 0.9 for t in times[2:]), times
    assert all(at < times[1] + 0.9 for at, _ in seen)  # they asked while it was out


def test_a_followed_redirect_answers_the_probe(http_server: LoopbackServer) -> None:
    target = http_server.route("/there", Reply(200), cycle=True)
    url = http_server.route(
        "/", Reply(503), Reply(302, headers={"Location": target}), Reply(200), cycle=False
    )
    shell = transport.httpx.RetryTransport("breaker=1/open=1s 5xx:never")
    with httpx.Client(transport=shell, follow_redirects=True) as client:
        assert client.get(url).status_code == 503  # open
        time.sleep(1.05)
        t = time.monotonic()
        # the probe: a 302 that closes the circuit, so the hop it leads to goes at once
        assert client.get(url).status_code == 200
        assert time.monotonic() - t < 0.5


def _block(state: LocalState, failed: bool) -> None:
    for attempt in transport.attempts("breaker=2 error:never", on=(ValueError,), state=state):
        with attempt:
            if failed:
                raise ValueError("down")


def test_a_loop_form_success_reaches_the_breaker() -> None:
    """``breaker=2``: fail, succeed, fail, succeed, fail -- never two failures in a row,
    so never open (a success the breaker did not hear of would leave it open)."""
    state = LocalState()
    for failed in (True, False, True, False, True):
        if failed:
            with pytest.raises(ValueError):
                _block(state, True)
        else:
            _block(state, False)
    _block(state, False)  # would raise CircuitOpenError were the circuit open
    for _ in range(2):
        with pytest.raises(ValueError):
            _block(state, True)  # two in a row open it
    with pytest.raises(transport.CircuitOpenError):
        _block(state, False)


def test_adaptive_pacing_owes_nothing_for_calls_that_gave_up(http_server: LoopbackServer) -> None:
    """Throttled for 1.5 s, with callers whose deadline is shorter than the limiter's wait:
    their give-ups leave nothing owed, so once the server answers again requests flow at
    the limiter's rate instead of paying off a debt the calls that gave up ran up."""
    t0 = time.monotonic()
    url = http_server.route(
        "/", lambda r: Reply(429) if r.time - t0 < 1.5 else Reply(200), cycle=True
    )
    pool = transport.RetryingPool("429:backoff(5,50ms..200ms) pace=adaptive deadline=300ms")
    ok: list[float] = []
    gave_up = [0]

    def worker() -> None:
        while time.monotonic() - t0 < 5.0:
            try:
                if pool.request("GET", url).status == 200:
                    ok.append(time.monotonic() - t0)
            except transport.RetryError:
                gave_up[0] += 1
                time.sleep(0.02)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(15)
    finally:
        pool.close()
    assert gave_up[0] > 0  # calls did give up rather than wait
    assert len([t for t in ok if t >= 3.0]) >= 4, (ok, gave_up)  # and later ones go
