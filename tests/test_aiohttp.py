"""aiohttp middleware against a real loopback server, under plain asyncio.run."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from httpserver import LoopbackServer, Reply, free_port

import policy
import transport

FAST = "5xx:backoff(3,10ms..20ms) 429:headers()"


@pytest.fixture
def http_server() -> Iterator[LoopbackServer]:
    """A started loopback server, closed after the test."""
    with LoopbackServer() as server:
        yield server


async def _get(
    p: str, url: str, *, session_timeout: aiohttp.ClientTimeout | None = None, **kw: Any
) -> tuple[int, bytes, tuple[transport.Attempt, ...]]:
    mw = transport.aiohttp_middleware(p, **kw)
    async with (
        aiohttp.ClientSession(
            middlewares=[mw], timeout=session_timeout or aiohttp.ClientTimeout()
        ) as s,
        s.get(url) as r,
    ):
        return r.status, await r.read(), r.retry_attempts  # type: ignore[attr-defined]


def _labels(attempts: tuple[transport.Attempt, ...]) -> list[str]:
    return [a.label for a in attempts]


def test_503_503_200_one_connection(http_server: LoopbackServer) -> None:
    """503, 503, 200 over one keep-alive connection; the attempts are on the response."""
    url = http_server.route("/f", Reply(503, body=b"busy"), Reply(503), Reply(200, body=b"ok"))
    with transport.testing() as waits:
        status, body, attempts = asyncio.run(_get(FAST, url))
    assert (status, body) == (200, b"ok")
    assert _labels(attempts) == ["503", "503", "200"]
    assert len(waits) == 2
    assert len(http_server.requests_to("/f")) == 3
    assert http_server.connections == 1


def test_give_up_on_status_returns_the_response(http_server: LoopbackServer) -> None:
    """The last response comes back when the policy gives up, its body readable."""
    url = http_server.route("/g", Reply(503, body=b"down"))
    with transport.testing():
        status, body, attempts = asyncio.run(_get("5xx:backoff(1,10ms)", url))
    assert (status, body) == (503, b"down")
    assert _labels(attempts) == ["503", "503"]


def test_retry_after_repeated_is_read_line_by_line(http_server: LoopbackServer) -> None:
    """Repeated Retry-After lines: the first wins (raw headers, never comma-joined)."""
    url = http_server.route(
        "/r", Reply(429, headers=[("Retry-After", "4"), ("Retry-After", "9")]), Reply(200)
    )
    with transport.testing() as waits:
        asyncio.run(_get("429:headers()", url))
    assert waits == [4.0]


def test_refused_is_connect() -> None:
    """A refused port is ClientConnectorError -> connect; giving up re-raises it with a note."""
    url = f"http://127.0.0.1:{free_port()}/"
    with transport.testing(), pytest.raises(aiohttp.ClientConnectorError) as info:
        asyncio.run(_get("connect:backoff(2,10ms)", url))
    assert _labels(info.value.retry_attempts) == ["connect"] * 3  # type: ignore[attr-defined]
    assert any("limit reached" in n for n in info.value.__notes__)


def test_silent_server_is_timeout_by_the_attempt_bound(http_server: LoopbackServer) -> None:
    """No answer within the middleware's per-attempt timeout: asyncio.TimeoutError -> timeout."""
    url = http_server.route("/s", Reply(200, delay=5.0), Reply(200, body=b"ok"))
    t0 = time.monotonic()
    with transport.testing():
        _, body, attempts = asyncio.run(_get("timeout:backoff(1,10ms)", url, timeout=0.3))
    assert time.monotonic() - t0 < 3.5
    assert _labels(attempts) == ["timeout", "200"]
    assert body == b"ok"


def test_sock_read_timeout_is_timeout(http_server: LoopbackServer) -> None:
    """ClientTimeout(sock_read=) raises ServerTimeoutError (a TimeoutError too) -> timeout."""
    url = http_server.route("/s", Reply(200, delay=5.0))
    with transport.testing(), pytest.raises(aiohttp.ServerTimeoutError) as info:
        t = aiohttp.ClientTimeout(sock_read=0.2)
        asyncio.run(_get("timeout:backoff(1,10ms)", url, session_timeout=t))
    assert _labels(info.value.retry_attempts) == ["timeout", "timeout"]  # type: ignore[attr-defined]


def test_dripping_body_is_bounded(http_server: LoopbackServer) -> None:
    """The per-attempt timeout covers the body read: a dripping body times out."""
    url = http_server.route("/d", Reply(200, body=b"x" * 100, drip=0.05))
    t0 = time.monotonic()
    with pytest.raises(TimeoutError) as info:
        asyncio.run(_get("timeout:never", url, timeout=0.4))
    assert time.monotonic() - t0 < 3.0
    assert _labels(info.value.retry_attempts) == ["timeout"]  # type: ignore[attr-defined]


def test_reset_before_answer_is_reset(http_server: LoopbackServer) -> None:
    """A reset before any answer (ServerDisconnectedError or ClientOSError) is `reset`."""
    url = http_server.route("/x", Reply(reset=True), Reply(200, body=b"ok"))
    with transport.testing():
        status, body, attempts = asyncio.run(_get("reset:backoff(1,10ms)", url))
    assert (status, body) == (200, b"ok")
    assert _labels(attempts) == ["reset", "200"]


def test_reset_mid_body_is_reset_and_retried(http_server: LoopbackServer) -> None:
    """A body cut short (ClientPayloadError) is `reset`, retried on a new connection."""
    cut = Reply(200, body=b"x" * 100, close_after=10)
    url = http_server.route("/m", cut, Reply(200, body=b"ok"))
    with transport.testing():
        _, body, attempts = asyncio.run(_get("reset:backoff(1,10ms)", url))
    assert body == b"ok"
    assert _labels(attempts) == ["reset", "200"]
    assert http_server.connections == 2


def test_unknown_errors_propagate(http_server: LoopbackServer) -> None:
    """An error that is no transport failure (a bad URL) propagates untouched, no retry."""
    with pytest.raises(aiohttp.InvalidURL):
        asyncio.run(_get(FAST, "http://"))


def test_consumed_stream_body_is_not_retried(http_server: LoopbackServer) -> None:
    """An async-generator body is sent once: a 503 after it is final."""
    url = http_server.route("/s", Reply(503), Reply(200))
    gave_up: list[transport.Attempt] = []

    async def body() -> Any:
        yield b"one"
        yield b"two"

    async def main() -> int:
        mw = transport.aiohttp_middleware(FAST, on_giveup=gave_up.append)
        async with aiohttp.ClientSession(middlewares=[mw]) as s, s.post(url, data=body()) as r:
            return r.status

    with transport.testing():
        assert asyncio.run(main()) == 503
    assert len(http_server.requests_to("/s")) == 1
    assert "cannot be replayed" in gave_up[0].reason


def test_bytes_body_is_replayed(http_server: LoopbackServer) -> None:
    """A bytes body is sent again on the retry."""
    url = http_server.route("/b", Reply(503), Reply(200))

    async def main() -> int:
        mw = transport.aiohttp_middleware(FAST)
        async with aiohttp.ClientSession(middlewares=[mw]) as s, s.post(url, data=b"abc") as r:
            return r.status

    with transport.testing():
        assert asyncio.run(main()) == 200
    assert [r.body for r in http_server.requests_to("/b")] == [b"abc", b"abc"]


def test_total_timeout_ends_the_whole_call(http_server: LoopbackServer) -> None:
    """ClientTimeout(total=) bounds the call, retries and waits included: it is not retried."""
    url = http_server.route("/t", Reply(503))
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        t = aiohttp.ClientTimeout(total=0.5)
        asyncio.run(_get("5xx:backoff(5,200ms)", url, session_timeout=t))
    assert time.monotonic() - t0 < 3.0
    assert 1 <= len(http_server.requests_to("/t")) <= 4


def _key() -> Any:
    from aiohttp.client_reqrep import ConnectionKey

    return ConnectionKey("h", 80, False, True, None, None, None)


def _classes() -> list[tuple[BaseException, str | None]]:
    """One instance of each aiohttp/asyncio class, most derived first, with its outcome."""
    os_err = OSError(111, "refused")
    return [
        (aiohttp.ClientConnectorDNSError(_key(), os_err), "connect"),
        (aiohttp.ClientConnectorSSLError(_key(), ssl.SSLError()), "connect"),
        (aiohttp.ClientProxyConnectionError(_key(), os_err), "connect"),
        (aiohttp.ClientConnectorError(_key(), os_err), "connect"),
        (aiohttp.ConnectionTimeoutError("connect"), "connect"),
        (aiohttp.SocketTimeoutError("read"), "timeout"),
        (aiohttp.ServerTimeoutError("read"), "timeout"),
        (TimeoutError(), "timeout"),
        (aiohttp.ServerDisconnectedError(), "reset"),
        (aiohttp.ClientPayloadError("cut"), "reset"),
        (aiohttp.ClientOSError(104, "reset by peer"), "reset"),
        (aiohttp.ClientConnectionResetError(), "reset"),
        (aiohttp.InvalidURL("x"), None),
        (aiohttp.ClientError(), None),
        (socket.gaierror(), None),
    ]


@pytest.mark.parametrize(("exc", "label"), _classes(), ids=lambda v: type(v).__name__)
def test_exception_hierarchy_maps_most_specific_first(
    exc: BaseException, label: str | None
) -> None:
    """Each aiohttp class maps to its outcome, whatever its base classes say."""
    from transport._aiohttp import aiohttp_outcome

    out = aiohttp_outcome(exc)
    got = None if out is None else transport.Attempt(1, out, None, "", None).label
    assert got == label


def test_middleware_takes_policy_objects() -> None:
    """A Policy works like its string; a bad string is a PolicyError at once."""
    p = policy.parse(FAST)
    assert transport.aiohttp_middleware(p).policy is p  # type: ignore[attr-defined]
    with pytest.raises(policy.PolicyError):
        transport.aiohttp_middleware("5xx:backof(1)")
