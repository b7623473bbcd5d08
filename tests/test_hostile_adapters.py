"""Hostile servers against the httpx, httpx2 and aiohttp adapters: as hard as RetryingPool.

Every case runs each adapter (httpx and httpx2, sync and async, and the aiohttp middleware)
against a real server on 127.0.0.1 -- a raw-socket ``HostileServer`` where HTTP itself is
broken, a ``LoopbackServer`` (plain or TLS) where it is not -- and checks what reached the
server (request heads counted server-side), what the caller got and what the hooks saw.
A call that hangs fails its test (``_bounded``) instead of blocking the suite.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx
import httpx2
import pytest
from hostile_server import (
    Behaviour,
    HostileServer,
    bad_status_line,
    big_gzip,
    drip_head,
    endless_continue,
    endless_early_hints,
    hang_up,
    huge_header_line,
    many_headers,
    status,
)
from httpserver import LoopbackServer, Reply
from tls import TLSCerts, TLSLoopbackServer, certs_or_skip

import transport
import transport.httpx as thx
import transport.httpx2 as thx2

MARGIN_S = 2.0
"""Slack on every time bound (a loaded CI box), never a benchmark."""

HANG_S = 20.0
"""A call still running after this long has hung."""

ADAPTERS = ["httpx", "httpx-async", "httpx2", "httpx2-async", "aiohttp"]
HTTPX = ADAPTERS[:4]


@dataclass
class Run:
    """What one call through an adapter gave: a status or an exception, and the hooks."""

    status: int | None = None
    error: BaseException | None = None
    attempts: tuple[Any, ...] = ()
    retries: list[int] = field(default_factory=list)
    giveups: list[str] = field(default_factory=list)
    elapsed: float = 0.0


def _libs(kind: str) -> tuple[Any, Any]:
    return (httpx2, thx2) if kind.startswith("httpx2") else (httpx, thx)


def run(
    kind: str,
    url: str,
    p: str,
    *,
    headers: dict[str, str] | None = None,
    verify: ssl.SSLContext | None = None,
) -> Run:
    """One GET of ``url`` through adapter ``kind`` with policy ``p`` (redirects followed)."""
    out = Run()

    def on_retry(a: Any) -> None:
        out.retries.append(a.number)

    def on_giveup(a: Any) -> None:
        out.giveups.append(a.label)

    hooks: dict[str, Any] = {"on_retry": on_retry, "on_giveup": on_giveup}
    t0 = time.monotonic()
    try:
        if kind == "aiohttp":
            _aiohttp(out, url, p, hooks, headers, verify)
        elif kind.endswith("-async"):
            _httpx_async(kind, out, url, p, hooks, headers, verify)
        else:
            lib, mod = _libs(kind)
            inner = lib.HTTPTransport(verify=verify) if verify is not None else None
            tr = mod.RetryTransport(p, transport=inner, **hooks)
            with lib.Client(transport=tr, follow_redirects=True) as c:
                r = c.get(url, headers=headers)
                out.status = r.status_code
                out.attempts = r.extensions.get("retry_attempts", ())
    except Exception as e:
        out.error = e
        out.attempts = getattr(e, "retry_attempts", ())
    out.elapsed = time.monotonic() - t0
    return out


def _httpx_async(
    kind: str,
    out: Run,
    url: str,
    p: str,
    hooks: dict[str, Any],
    headers: dict[str, str] | None,
    verify: ssl.SSLContext | None,
) -> None:
    lib, mod = _libs(kind)

    async def go() -> None:
        inner = lib.AsyncHTTPTransport(verify=verify) if verify is not None else None
        tr = mod.AsyncRetryTransport(p, transport=inner, **hooks)
        async with lib.AsyncClient(transport=tr, follow_redirects=True) as c:
            r = await c.get(url, headers=headers)
            out.status = r.status_code
            out.attempts = r.extensions.get("retry_attempts", ())

    asyncio.run(go())


def _aiohttp(
    out: Run,
    url: str,
    p: str,
    hooks: dict[str, Any],
    headers: dict[str, str] | None,
    verify: ssl.SSLContext | None,
) -> None:
    async def go() -> None:
        mw = transport.aiohttp_middleware(p, **hooks)
        async with (
            aiohttp.ClientSession(middlewares=[mw]) as s,
            s.get(url, headers=headers, ssl=verify if verify is not None else True) as r,
        ):
            await r.read()
            out.status = r.status
            out.attempts = getattr(r, "retry_attempts", ())

    asyncio.run(go())


def _bounded(fn: Callable[[], Run], server: HostileServer) -> Run:
    box: dict[str, Run] = {}
    t = threading.Thread(target=lambda: box.setdefault("run", fn()), daemon=True)
    t.start()
    t.join(HANG_S)
    if t.is_alive():
        server.close()
        t.join(30)
        pytest.fail(f"the call was still running after {HANG_S}s (it hangs)")
    return box["run"]


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    with HostileServer() as server:
        yield server


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    s = LoopbackServer().start()
    yield s
    s.close()


@pytest.fixture(scope="module")
def tls_certs(tmp_path_factory: pytest.TempPathFactory) -> TLSCerts:
    return certs_or_skip(tmp_path_factory)


def _labels(r: Run) -> list[str]:
    return [a.label for a in r.attempts]


# -- 1. the whole head is bounded, sync and async, httpx and httpx2 -------------------------

HEAD_POLICY = "reset,timeout:backoff(2,10ms) timeout=1s deadline=3s"


@pytest.mark.parametrize("kind", ADAPTERS)
@pytest.mark.parametrize(
    "behaviour", [endless_continue, endless_early_hints, drip_head], ids=lambda b: b.__name__
)
def test_head_never_outlives_the_deadline(
    hostile: HostileServer, kind: str, behaviour: Behaviour
) -> None:
    """Endless ``100 Continue``, endless ``103``, a head dripped a byte at a time: each
    attempt ends at its 1 s bound and the call at its 3 s deadline, as a timeout."""
    hostile.behaviour = behaviour
    r = _bounded(lambda: run(kind, hostile.url("/x"), HEAD_POLICY), hostile)
    assert r.error is not None, r
    assert set(_labels(r)) == {"timeout"}, _labels(r)
    assert r.elapsed <= 3.0 + MARGIN_S


# -- 2. aiohttp's own resend of a dropped connection is not a second call -----------------


def test_aiohttp_resend_on_dropped_connection_respects_the_policy(
    hostile: HostileServer,
) -> None:
    """The server hangs up on every request: ``reset:backoff(2,1ms)`` allows 3 requests
    (not 6: aiohttp runs the middleware again after a ``ServerDisconnectedError``) and
    ``on_retry`` numbers them 1, 2 once."""
    hostile.behaviour = hang_up
    r = _bounded(lambda: run("aiohttp", hostile.url("/x"), "reset:backoff(2,1ms)"), hostile)
    assert isinstance(r.error, aiohttp.ServerDisconnectedError), r
    assert len(hostile.heads) == 3
    assert r.retries == [1, 2]
    assert r.giveups == ["reset"]


def test_aiohttp_next_call_after_a_give_up_is_sent(hostile: HostileServer) -> None:
    """A new request after a give-up on a dropped connection is a new call (sent)."""
    hostile.behaviour = hang_up
    p = "reset:backoff(1,1ms)"

    async def go() -> list[str]:
        names = []
        async with aiohttp.ClientSession(middlewares=[transport.aiohttp_middleware(p)]) as s:
            for _ in range(2):
                try:
                    async with s.get(hostile.url("/x")):
                        pass
                except aiohttp.ServerDisconnectedError as e:
                    names.append(type(e).__name__)
        return names

    assert asyncio.run(go()) == ["ServerDisconnectedError"] * 2
    assert len(hostile.heads) == 4


# -- 3. a status outside 100-599 is a broken response ---------------------------------------


@pytest.mark.parametrize("kind", ADAPTERS)
@pytest.mark.parametrize("code", [999, 600, 0], ids=str)
def test_status_outside_the_range_is_reset(hostile: HostileServer, kind: str, code: int) -> None:
    """``HTTP/1.1 999``: ``reset`` (retried by a reset rule), then the client's own error
    for a broken response -- never a raw ``ValueError``."""
    hostile.behaviour = status(code)
    r = _bounded(lambda: run(kind, hostile.url("/x"), "reset:backoff(1,1ms)"), hostile)
    assert r.error is not None and not isinstance(r.error, ValueError), r
    assert isinstance(r.error, httpx.TransportError | httpx2.TransportError | aiohttp.ClientError)
    assert _labels(r) == ["reset", "reset"]
    assert len(hostile.heads) == 2


# -- 8. aiohttp: a response it cannot parse is reset, not 400 -----------------------------


@pytest.mark.parametrize(
    "behaviour", [bad_status_line, many_headers, huge_header_line], ids=lambda b: b.__name__
)
def test_aiohttp_malformed_response_is_reset(hostile: HostileServer, behaviour: Behaviour) -> None:
    hostile.behaviour = behaviour
    r = _bounded(lambda: run("aiohttp", hostile.url("/x"), "reset:backoff(1,1ms)"), hostile)
    assert isinstance(r.error, aiohttp.ClientResponseError), r
    assert _labels(r) == ["reset", "reset"]
    assert r.giveups == ["reset"]
    assert len(hostile.heads) == 2


# -- 5. one body cap for the bodies an adapter reads itself ---------------------------------


def test_aiohttp_gzip_bomb_stops_at_the_body_cap(hostile: HostileServer) -> None:
    """A gzip body inflating to 80 MiB: the middleware reads at most 64 MiB of it, then
    ends the call (as ``RetryingPool``'s ``max_body``), not retried."""
    hostile.behaviour = big_gzip(80 * 1024 * 1024)
    r = _bounded(lambda: run("aiohttp", hostile.url("/x"), "reset:backoff(2,1ms)"), hostile)
    assert isinstance(r.error, aiohttp.ClientPayloadError), r
    assert "max_body" in str(r.error.__notes__)
    assert _labels(r) == ["200"]
    assert len(hostile.heads) == 1


@pytest.mark.parametrize("kind", HTTPX)
def test_retried_gzip_bomb_is_discarded_within_the_cap(hostile: HostileServer, kind: str) -> None:
    """A retried 503 whose gzip body inflates to 80 MiB: the httpx shells discard it
    undecoded (at most 64 MiB of it), and the retry is sent.  (aiohttp reads every body
    inside the attempt, as ``RetryingPool`` does: the cap ends the call there, above.)"""
    hostile.behaviour = big_gzip(80 * 1024 * 1024, code=503)
    r = _bounded(lambda: run(kind, hostile.url("/x"), "503:backoff(1,1ms)"), hostile)
    assert _labels(r) == ["503", "503"], r
    assert len(hostile.heads) == 2


# -- 7. secrets in what the clients print ---------------------------------------------------


@pytest.mark.parametrize("kind", HTTPX)
def test_httpx_info_line_masks_userinfo_and_query(
    server: LoopbackServer, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    server.route("/x", Reply(200, body=b"ok"))
    url = f"http://alice:pa55word@127.0.0.1:{server.port}/x?api_key=s3cr3t"
    with caplog.at_level(logging.INFO):
        r = run(kind, url, "5xx:backoff(1,1ms)")
    assert r.status == 200, r
    assert "HTTP Request" in caplog.text
    assert "s3cr3t" not in caplog.text
    assert "pa55word" not in caplog.text


def test_aiohttp_error_masks_query_and_authorization(hostile: HostileServer) -> None:
    """A give-up re-raising aiohttp's ``ClientResponseError`` carries neither the query
    token (``str()``) nor the ``Authorization`` value (``repr()``)."""
    hostile.behaviour = bad_status_line
    url = hostile.url("/x?api_key=s3cr3t")
    r = _bounded(
        lambda: run(
            "aiohttp", url, "reset:backoff(1,1ms)", headers={"Authorization": "Bearer T0K"}
        ),
        hostile,
    )
    assert isinstance(r.error, aiohttp.ClientResponseError), r
    for text in (str(r.error), repr(r.error), repr(r.error.request_info)):
        assert "s3cr3t" not in text
        assert "T0K" not in text
    assert b"s3cr3t" in hostile.heads[0]  # the request itself went out unmasked


# -- 12. a redirect hop is not a give-up ----------------------------------------------------


@pytest.mark.parametrize("kind", ADAPTERS)
def test_redirect_hop_is_not_a_give_up(
    server: LoopbackServer, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    target = server.route("/b", Reply(200, body=b"ok"))
    server.route("/a", Reply(302, headers={"Location": target}))
    with caplog.at_level(logging.INFO, logger="policy"):
        r = run(kind, server.url("/a"), "5xx:backoff(2,1ms)")
    assert r.status == 200, r
    assert r.giveups == []
    assert "giving up" not in caplog.text
    assert len(server.requests) == 2


# -- https -> http: refused by every adapter --------------------------------------------------


@pytest.mark.parametrize("kind", ADAPTERS)
def test_https_to_http_redirect_is_refused(
    tls_certs: TLSCerts, server: LoopbackServer, kind: str
) -> None:
    """As ``RetryingPool``: the redirect is refused, nothing reaches the http server."""
    plain = server.route("/landing", Reply(200))
    ctx = ssl.create_default_context(cafile=str(tls_certs.ca))
    with TLSLoopbackServer(tls_certs) as s:
        url = s.route("/up", Reply(302, headers={"Location": plain}))
        r = run(kind, url, "5xx:backoff(2,1ms)", verify=ctx)
    assert r.error is not None, r
    assert "https to http" in str(r.error) + str(getattr(r.error, "__notes__", ""))
    assert isinstance(
        r.error, httpx.UnsupportedProtocol | httpx2.UnsupportedProtocol | aiohttp.ClientError
    )
    assert server.requests == []
    assert _labels(r) == ["302"]
