"""The loop form: ``for attempt in transport.attempts(p): with attempt: ...`` (and
``async for``), against a real loopback server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
import requests
from httpserver import LoopbackServer, Reply, free_port
from hypothesis import given, settings
from hypothesis import strategies as st

import policy
import transport


@pytest.fixture
def http_server() -> Iterator[LoopbackServer]:
    """A started loopback server, closed after the test."""
    with LoopbackServer() as server:
        yield server


def test_a_block_is_retried_until_it_succeeds(http_server: LoopbackServer) -> None:
    """503, 503, 200 with raise_for_status: three requests, the 200's body kept."""
    url = http_server.route("/r", Reply(503), Reply(503), Reply(200, body="ok"))
    loop = transport.attempts("5xx:backoff(3,100ms..1s,x2)")
    numbers: list[int] = []
    with transport.testing() as waits:
        for attempt in loop:
            with attempt:
                numbers.append(attempt.number)
                r = requests.get(url, timeout=attempt.timeout or 5)
                r.raise_for_status()
                body = r.text
    assert body == "ok"
    assert numbers == [1, 2, 3]
    assert waits == [0.1, 0.2]
    assert len(http_server.requests_to("/r")) == 3
    assert [a.label for a in transport.attempts_of(loop)] == ["503", "503"]


def test_the_give_up_re_raises_the_last_exception() -> None:
    """Connection refused every time: the last exception raised in the block propagates,
    with the reason as a note and the attempts on it."""
    url = f"http://127.0.0.1:{free_port()}/"
    raised: list[BaseException] = []
    with transport.testing(), pytest.raises(requests.ConnectionError) as info:
        for attempt in transport.attempts("connect:backoff(2,10ms)"):
            with attempt:
                try:
                    requests.get(url, timeout=2)
                except requests.ConnectionError as e:
                    raised.append(e)
                    raise
    assert len(raised) == 3
    assert info.value is raised[-1]
    assert any("limit reached" in n for n in info.value.__notes__)
    assert len(transport.attempts_of(info.value)) == 3


def test_an_unclassified_exception_propagates_at_once(http_server: LoopbackServer) -> None:
    url = http_server.route("/k", Reply(200, body="{}"))
    runs: list[int] = []
    with pytest.raises(KeyError) as info:
        for attempt in transport.attempts("error:backoff(3,10ms) 5xx:backoff(3)", on=OSError):
            with attempt:
                runs.append(attempt.number)
                requests.get(url, timeout=5).json()["missing"]
    assert runs == [1]
    assert not hasattr(info.value, "retry_attempts")
    assert not getattr(info.value, "__notes__", None)


def test_an_outcome_instead_of_raising_ends_normally_on_give_up(
    http_server: LoopbackServer,
) -> None:
    """attempt.outcome = Response(...): the server's Retry-After is waited, and a give-up
    ends the loop without an exception, the history on attempts_of."""
    url = http_server.route("/o", Reply(429, headers={"Retry-After": "3"}), cycle=True)
    loop = transport.attempts("429:headers(2)")
    with transport.testing() as waits:
        for attempt in loop:
            with attempt:
                r = requests.get(url, timeout=5)
                attempt.outcome = policy.Response(r.status_code, r.headers)
    assert r.status_code == 429
    assert waits == [3.0, 3.0]
    history = transport.attempts_of(loop)
    assert [a.label for a in history] == ["429", "429", "429"]
    assert history[-1].delay is None
    assert len(http_server.requests_to("/o")) == 3


def test_an_accepted_outcome_ends_the_loop(http_server: LoopbackServer) -> None:
    url = http_server.route("/a", Reply(503), Reply(200))
    loop = transport.attempts("5xx:backoff(3,10ms)")
    with transport.testing():
        for attempt in loop:
            with attempt:
                r = requests.get(url, timeout=5)
                attempt.outcome = policy.Response(r.status_code, r.headers)
    assert r.status_code == 200
    assert [a.label for a in transport.attempts_of(loop)] == ["503", "200"]


def test_async_for_with_httpx(http_server: LoopbackServer) -> None:
    url = http_server.route("/as", Reply(503), Reply(502), Reply(200, body="fine"))
    seen: list[transport.Attempt] = []

    async def main() -> str:
        async with httpx.AsyncClient() as client:
            async for attempt in transport.attempts("5xx:backoff(3,10ms)", on_retry=seen.append):
                with attempt:
                    r = await client.get(url)
                    r.raise_for_status()
                    return r.text
        raise AssertionError("the loop ended without a result")

    with transport.testing() as waits:
        assert asyncio.run(main()) == "fine"
    assert [a.label for a in seen] == ["503", "502"]
    assert len(waits) == 2
    assert len(http_server.requests_to("/as")) == 3


def test_async_sleeps_with_asyncio_by_default(http_server: LoopbackServer) -> None:
    """No test mode: the wait between attempts is asyncio.sleep (the loop keeps running)."""
    url = http_server.route("/sl", Reply(503), Reply(200))
    ticks: list[int] = []

    async def ticker() -> None:
        while True:
            ticks.append(1)
            await asyncio.sleep(0.01)

    async def main() -> int:
        t = asyncio.create_task(ticker())
        try:
            async with httpx.AsyncClient() as client:
                async for attempt in transport.attempts("5xx:backoff(2,200ms)"):
                    with attempt:
                        r = await client.get(url)
                        r.raise_for_status()
            return r.status_code
        finally:
            t.cancel()

    assert asyncio.run(main()) == 200
    assert len(ticks) >= 5  # the ticker ran during the 200 ms wait


def test_classify_is_consulted_first() -> None:
    class Busy(Exception):
        pass

    runs: list[int] = []
    with transport.testing():
        for attempt in transport.attempts(
            "503:backoff(3,10ms)",
            classify=lambda e: policy.Response(503) if isinstance(e, Busy) else None,
        ):
            with attempt:
                runs.append(attempt.number)
                if len(runs) < 3:
                    raise Busy
    assert runs == [1, 2, 3]


def test_keywords_are_checked_up_front() -> None:
    with pytest.raises(ValueError, match="no 'error' rule"):
        transport.attempts("5xx:backoff(3)", on=OSError)
    with pytest.raises(TypeError, match="on_retry"):
        transport.attempts("5xx:backoff(3)", on_retry=3)  # type: ignore[arg-type]
    with pytest.raises(policy.PolicyError):
        transport.attempts("5xx:bakoff(3)")


def test_an_attempt_is_entered_once() -> None:
    with pytest.raises(RuntimeError, match="already used"):
        for attempt in transport.attempts("error:backoff(3)", on=OSError):
            with attempt:
                pass
            with attempt:
                pass


def test_a_shared_state_carries_a_hold_between_loops(http_server: LoopbackServer) -> None:
    """pace=on: a 429's Retry-After seen by one loop holds the next loop's first attempt."""
    url = http_server.route("/p", Reply(429, headers={"Retry-After": "2"}), Reply(200))
    state = transport.LocalState()
    p = "429:headers() pace=on"
    with transport.testing() as waits:
        for attempt in transport.attempts(p, state=state, name="api"):
            with attempt:
                requests.get(url, timeout=5).raise_for_status()
        assert waits == [2.0]
        for attempt in transport.attempts(p, state=state, name="api"):
            with attempt:
                requests.get(url, timeout=5).raise_for_status()
    assert len(waits) == 2 and 0 < waits[1] <= 2.0


@settings(max_examples=60, deadline=None)
@given(failures=st.integers(0, 6), limit=st.integers(0, 4))
def test_attempts_are_failures_plus_one_up_to_the_limit(failures: int, limit: int) -> None:
    """The block runs min(failures, limit) + 1 times; it fails only when failures > limit,
    with the last exception; every retry waits once."""
    waits: list[float] = []
    raised: list[OSError] = []
    loop = transport.attempts(f"error:backoff({limit},1ms)", on=OSError, sleep=waits.append)
    try:
        for attempt in loop:
            with attempt:
                if len(raised) < failures:
                    raised.append(OSError(len(raised)))
                    raise raised[-1]
        outcome: OSError | None = None
    except OSError as e:
        outcome = e
    runs = min(failures, limit) + 1
    assert len(waits) == min(failures, limit)
    if failures > limit:
        assert outcome is raised[-1] and len(raised) == runs
    else:
        assert outcome is None and len(raised) == failures


def test_async_with_bounds_each_attempt_by_the_policy_timeout(http_server: LoopbackServer) -> None:
    """async with attempt: the block runs under asyncio.timeout(attempt.timeout); a server
    that answers too late is a `timeout` outcome, retried, whatever on= lists."""
    url = http_server.route(
        "/slow", Reply(200, delay=3.0), Reply(200, delay=3.0), Reply(200, body="late ok")
    )
    loop = transport.attempts("timeout:backoff(3,10ms) error:never timeout=1s", on=TimeoutError)

    async def main() -> str:
        async with httpx.AsyncClient(timeout=10) as client:
            async for attempt in loop:
                async with attempt:
                    assert attempt.timeout is not None and attempt.timeout <= 1.0
                    r = await client.get(url)
        return r.text

    assert asyncio.run(main()) == "late ok"
    assert [a.label for a in transport.attempts_of(loop)] == ["timeout", "timeout"]


def test_async_with_gives_up_with_a_timeout_error(http_server: LoopbackServer) -> None:
    url = http_server.route("/never", Reply(200, delay=3.0), cycle=True)

    async def main() -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            async for attempt in transport.attempts("timeout:backoff(1,10ms) timeout=1s"):
                async with attempt:
                    await client.get(url)

    with pytest.raises(TimeoutError) as info:
        asyncio.run(main())
    assert [a.label for a in transport.attempts_of(info.value)] == ["timeout", "timeout"]
