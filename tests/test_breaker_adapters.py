"""``breaker=`` in every adapter, against a real loopback server that counts requests.

For each adapter: three failed calls open the circuit; the next call fails fast without
sending (the server sees no request) with ``transport.CircuitOpenError``, which is also
the client's own connection error; once ``open`` has passed, a probe that succeeds
closes the circuit and calls go through again.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import pickle
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpx
import httpx2
import pytest
import requests
from httpserver import LoopbackServer, Reply

import policy
import transport
import transport.httpx
import transport.httpx2
from policy.loop import add_breaker_listener, remove_breaker_listener

POLICY = "breaker=3/open=500ms 5xx:never"
OPEN_S = 0.5

Fetch = Callable[[str], int]
#: fetch, the client's connection error, on_giveup's attempts, close
Made = tuple[Fetch, type[BaseException] | None, list[Any], Callable[[], object]]


@pytest.fixture
def http_server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as server:
        yield server


def _pool() -> Made:
    gave_up: list[Any] = []
    pool = transport.RetryingPool(POLICY, on_giveup=gave_up.append)
    return lambda url: pool.request("GET", url).status, None, gave_up, pool.close


def _httpx(lib: Any, shell: Any) -> Made:
    gave_up: list[Any] = []
    client = lib.Client(transport=shell.RetryTransport(POLICY, on_giveup=gave_up.append))
    return lambda url: int(client.get(url).status_code), lib.ConnectError, gave_up, client.close


def _httpx_async(lib: Any, shell: Any) -> Made:
    gave_up: list[Any] = []
    t = shell.AsyncRetryTransport(POLICY, on_giveup=gave_up.append)

    async def get(url: str) -> int:
        client = lib.AsyncClient(transport=t)
        try:
            return int((await client.get(url)).status_code)
        finally:
            await t.transport.aclose()  # this loop's connections (a new loop per call)

    return lambda url: asyncio.run(get(url)), lib.ConnectError, gave_up, lambda: None


def _aiohttp() -> Made:
    gave_up: list[Any] = []
    mw = transport.aiohttp_middleware(POLICY, on_giveup=gave_up.append)

    async def get(url: str) -> int:
        async with aiohttp.ClientSession(middlewares=[mw]) as s, s.get(url) as r:
            return r.status

    return lambda url: asyncio.run(get(url)), aiohttp.ClientConnectionError, gave_up, lambda: None


def _requests() -> Made:
    gave_up: list[Any] = []
    session = requests.Session()
    session.mount("http://", transport.RetryAdapter(POLICY, on_giveup=gave_up.append))

    def get(url: str) -> int:
        with session.get(url, timeout=5) as r:
            return r.status_code

    return get, requests.ConnectionError, gave_up, session.close


class Down(Exception):
    """The server answered 5xx."""


def _retrying() -> Made:
    gave_up: list[Any] = []

    @transport.retrying(POLICY + " error:never", on=Down, on_giveup=gave_up.append)
    def get(url: str) -> int:
        u = urlsplit(url)
        conn = http.client.HTTPConnection(u.hostname or "", u.port, timeout=5)
        try:
            conn.request("GET", u.path)
            status = conn.getresponse().status
        finally:
            conn.close()
        if status >= 500:
            raise Down(status)
        return status

    return get, None, gave_up, lambda: None


ADAPTERS: dict[str, Callable[[], Made]] = {
    "RetryingPool": _pool,
    "httpx": lambda: _httpx(httpx, transport.httpx),
    "httpx-async": lambda: _httpx_async(httpx, transport.httpx),
    "httpx2": lambda: _httpx(httpx2, transport.httpx2),
    "httpx2-async": lambda: _httpx_async(httpx2, transport.httpx2),
    "aiohttp": _aiohttp,
    "RetryAdapter": _requests,
    "retrying": _retrying,
}


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_breaker_opens_fails_fast_and_closes(http_server: LoopbackServer, name: str) -> None:
    fetch, connect_error, gave_up, close = ADAPTERS[name]()
    changes: list[tuple[str, str, str]] = []
    listen = lambda *c: changes.append(c)  # noqa: E731
    add_breaker_listener(listen)
    try:
        down = http_server.route("/down", Reply(503))
        up = http_server.route("/up", Reply(200, body=b"ok"))
        for _ in range(3):  # three failed attempts in a row: the circuit opens
            with contextlib.suppress(Down):
                assert fetch(down) == 503
        assert len(http_server.requests) == 3
        started = time.monotonic()
        with pytest.raises(transport.CircuitOpenError) as info:
            fetch(up)
        err = info.value
        assert len(http_server.requests) == 3  # failed fast: nothing was sent
        assert isinstance(err, transport.RetryError)
        if connect_error is not None:  # the client's own connection error too
            assert isinstance(err, connect_error)
        # per origin; a function's calls are their own origin
        want = "call:" if name == "retrying" else f"http://127.0.0.1:{http_server.port}"
        assert err.origin.startswith(want)
        assert 0 < err.retry_after <= OPEN_S
        assert f"circuit open for {err.origin} until" in str(err)
        assert gave_up and gave_up[-1].number == 0 and "circuit open" in gave_up[-1].reason
        time.sleep(max(0.0, OPEN_S - (time.monotonic() - started)) + 0.05)
        assert fetch(up) == 200  # the probe: it succeeds, the circuit closes
        assert fetch(up) == 200
        assert len(http_server.requests) == 5
        origin = err.origin
        assert changes == [
            (origin, "closed", "open"),
            (origin, "open", "half-open"),
            (origin, "half-open", "closed"),
        ]
    finally:
        remove_breaker_listener(listen)
        close()


def test_a_failed_probe_opens_it_again(http_server: LoopbackServer) -> None:
    fetch, _, _, close = _pool()
    down = http_server.route("/down", Reply(503))
    for _ in range(3):
        fetch(down)
    time.sleep(OPEN_S + 0.05)
    assert fetch(down) == 503  # the probe fails
    with pytest.raises(transport.CircuitOpenError):
        fetch(down)
    assert len(http_server.requests) == 4
    close()


def test_a_retry_waits_for_half_open_within_the_deadline(http_server: LoopbackServer) -> None:
    """A retry whose wait ends in the open span waits for half-open when the deadline
    allows, else gives up naming the origin and the time."""
    url = http_server.route("/f", Reply(503), Reply(503), Reply(200))
    pool = transport.RetryingPool("breaker=2/open=300ms 5xx:backoff(3,10ms) deadline=5s")
    started = time.monotonic()
    with pool:
        r = pool.request("GET", url)
    assert r.status == 200 and len(http_server.requests) == 3
    assert time.monotonic() - started >= 0.3  # waited for half-open
    http_server.route("/g", Reply(503))
    short = transport.RetryingPool("breaker=2/open=10s 5xx:backoff(3,10ms) deadline=2s")
    with short, pytest.raises(transport.CircuitOpenError) as info:
        short.request("GET", http_server.url("/g"))
    assert "circuit open for http://127.0.0.1" in info.value.reason
    assert [a.label for a in info.value.attempts] == ["503", "503"]


def test_4xx_and_429_are_successes(http_server: LoopbackServer) -> None:
    url = http_server.route("/x", Reply(429), Reply(404), cycle=True)
    with transport.RetryingPool("breaker=2 429:never") as pool:
        for _ in range(6):
            assert pool.request("GET", url).status in (429, 404)
    assert len(http_server.requests) == 6


def test_circuit_open_error_pickles() -> None:
    err = transport.CircuitOpenError("GET", "http://h/", (), "open", origin="o", retry_after=2.0)
    back = pickle.loads(pickle.dumps(err))
    assert (back.origin, back.retry_after, str(back)) == ("o", 2.0, str(err))


def test_no_breaker_no_change(http_server: LoopbackServer) -> None:
    url = http_server.route("/down", Reply(503))
    with transport.RetryingPool("5xx:never") as pool:
        for _ in range(10):
            assert pool.request("GET", url).status == 503
    assert len(http_server.requests) == 10
    assert policy.parse("5xx:never").breaker is None
