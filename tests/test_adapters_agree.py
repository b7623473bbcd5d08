"""Every adapter is a shell around one loop: same policy, same rand, same server -> same history.

Each adapter is run against the same scripted server behaviour with the same policy and
the same random numbers, in test mode (``transport.testing()``, so no wait is taken), and
must record the same attempts -- outcome, wait, rule and reason -- and the same waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import httpx
import httpx2
import pytest
import requests
from httpserver import LoopbackServer, Reply
from hypothesis import given, settings
from requests.adapters import HTTPAdapter
from strategies import adapter_policies, server_scripts

import policy
import transport
import transport.httpx2

Row = tuple[str, float | None, str | None, str]
History = list[Row]

_REPLIES = {
    "200": Reply(200, body=b"ok"),
    "503": Reply(503, body=b"busy"),
    "503-empty": Reply(503),
    "500": Reply(500, body=b"oops"),
    "429-ra1": Reply(429, headers={"Retry-After": "1"}),
    "429-ra2": Reply(429, headers=[("Retry-After", "2"), ("Retry-After", "5")]),
    "404": Reply(404),
    "reset": Reply(reset=True),
}


def _rows(attempts: Any) -> History:
    return [(a.label, a.delay, a.rule, a.reason) for a in attempts]


def _rand() -> Callable[[], float]:
    return random.Random(1234).random


class _Recorder:
    """on_retry / on_giveup hooks that keep what they see."""

    def __init__(self) -> None:
        self.seen: list[transport.Attempt] = []

    def hooks(self) -> dict[str, Any]:
        return {"on_retry": self.seen.append, "on_giveup": self.seen.append}


def run_pool(p: str, url: str) -> History:
    with transport.RetryingPool(p, rand=_rand()) as rp:
        try:
            return _rows(rp.request("GET", url).attempts)  # type: ignore[attr-defined]
        except transport.RetryError as e:
            return _rows(e.attempts)


def run_httpx(p: str, url: str) -> History:
    with httpx.Client(transport=transport.RetryTransport(p, rand=_rand())) as c:
        try:
            return _rows(c.get(url).extensions["retry_attempts"])
        except httpx.TransportError as e:
            return _rows(e.retry_attempts)  # type: ignore[attr-defined]


def run_httpx_async(p: str, url: str) -> History:
    async def main() -> History:
        async with httpx.AsyncClient(transport=transport.AsyncRetryTransport(p, rand=_rand())) as c:
            try:
                return _rows((await c.get(url)).extensions["retry_attempts"])
            except httpx.TransportError as e:
                return _rows(e.retry_attempts)  # type: ignore[attr-defined]

    return asyncio.run(main())


def run_httpx2(p: str, url: str) -> History:
    with httpx2.Client(transport=transport.httpx2.RetryTransport(p, rand=_rand())) as c:
        try:
            return _rows(c.get(url).extensions["retry_attempts"])
        except httpx2.TransportError as e:
            return _rows(e.retry_attempts)  # type: ignore[attr-defined]


def run_httpx2_async(p: str, url: str) -> History:
    async def main() -> History:
        t = transport.httpx2.AsyncRetryTransport(p, rand=_rand())
        async with httpx2.AsyncClient(transport=t) as c:
            try:
                return _rows((await c.get(url)).extensions["retry_attempts"])
            except httpx2.TransportError as e:
                return _rows(e.retry_attempts)  # type: ignore[attr-defined]

    return asyncio.run(main())


def run_retryadapter(p: str, url: str) -> History:
    with requests.Session() as s:
        s.mount("http://", transport.RetryAdapter(p, rand=_rand()))
        try:
            return _rows(s.get(url, timeout=10).retry_attempts)  # type: ignore[attr-defined]
        except requests.ConnectionError as e:
            return _rows(e.retry_attempts)  # type: ignore[attr-defined]


def run_aiohttp(p: str, url: str) -> History:
    async def main() -> History:
        mw = transport.aiohttp_middleware(p, rand=_rand())
        async with aiohttp.ClientSession(middlewares=[mw]) as s:
            try:
                async with s.get(url) as r:
                    return _rows(r.retry_attempts)  # type: ignore[attr-defined]
            except aiohttp.ClientError as e:
                return _rows(e.retry_attempts)  # type: ignore[attr-defined]

    return asyncio.run(main())


def run_retrying(p: str, url: str) -> History:
    """retrying around requests.get, the response classified by result=."""
    rec = _Recorder()

    @transport.retrying(
        p,
        rand=_rand(),
        result=lambda r: policy.Response(r.status_code, r.raw.headers),
        **rec.hooks(),
    )
    def get() -> requests.Response:
        return requests.get(url, timeout=10)

    try:
        get()
    except requests.ConnectionError as e:
        return _rows(e.retry_attempts)  # type: ignore[attr-defined]
    return _rows(rec.seen)


def run_policyretry(p: str, url: str) -> History:
    """requests + PolicyRetry: the hooks see every retry and the give-up (not an accept)."""
    rec = _Recorder()
    with requests.Session() as s:
        s.mount(
            "http://",
            HTTPAdapter(max_retries=transport.PolicyRetry(p, rand=_rand(), **rec.hooks())),
        )
        with contextlib.suppress(requests.ConnectionError):
            s.get(url, timeout=10)
    return _rows(rec.seen)


def run_background(p: str, url: str) -> History:
    """BackgroundFetcher: its RetryingPool gets the hooks and rand passed through."""
    rec = _Recorder()
    fetcher = transport.BackgroundFetcher(rand=_rand(), **rec.hooks())
    with fetcher, contextlib.suppress(transport.FetchError):
        fetcher.fetch_response("k", url, retry=p).result(timeout=30)
    return _rows(rec.seen)


FULL = {
    "pool": run_pool,
    "httpx": run_httpx,
    "httpx-async": run_httpx_async,
    "httpx2": run_httpx2,
    "httpx2-async": run_httpx2_async,
    "retryadapter": run_retryadapter,
    "aiohttp": run_aiohttp,
}
HOOKED = {"policyretry": run_policyretry, "background": run_background, "retrying": run_retrying}


def _without_accept(h: History) -> History:
    return [r for r in h if not (r[0].isdigit() and 200 <= int(r[0]) <= 299)]


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    """One loopback server for the module (each case gets its own path)."""
    with LoopbackServer() as s:
        yield s


_counter = iter(range(10**9))


def _route(server: LoopbackServer, script: list[str]) -> str:
    return server.route(f"/c{next(_counter)}", *(_REPLIES[s] for s in script))


CASES = [
    ("5xx:backoff(3,10ms..1s,jitter) 429:headers()", ["503", "503-empty", "429-ra2", "200"]),
    ("5xx:backoff(2,10ms..1s,jitter=decorrelated)", ["500", "503", "503", "503"]),
    (
        "429:headers()|backoff(1,10ms) reset:backoff(2,20ms..40ms,jitter)",
        ["reset", "429-ra1", "200"],
    ),
    ("5xx:backoff(1,10ms) 503:never", ["500", "503", "200"]),
    ("all:backoff(2,10ms) attempts=2", ["404", "404", "200"]),
]


@pytest.mark.parametrize(("p", "script"), CASES)
def test_every_adapter_records_the_same_history(
    server: LoopbackServer, p: str, script: list[str]
) -> None:
    """RetryingPool, httpx and httpx2 (sync, async), aiohttp, retrying, PolicyRetry and the
    background fetcher: identical attempts (outcome, wait, rule, reason) and identical waits."""
    histories: dict[str, History] = {}
    waits: dict[str, list[float]] = {}
    for name, run in {**FULL, **HOOKED}.items():
        url = _route(server, script)
        with transport.testing() as w:
            histories[name] = run(p, url)
        waits[name] = w
    reference = histories["pool"]
    assert reference  # the script made at least one attempt
    for name in FULL:
        assert histories[name] == reference, name
    for name in HOOKED:
        assert _without_accept(histories[name]) == _without_accept(reference), name
    for name in waits:
        assert waits[name] == [r[1] for r in reference if r[1] is not None], name


@settings(max_examples=25, deadline=None)
@given(p=adapter_policies(), script=server_scripts())
def test_sync_async_httpx_and_pool_agree(server: LoopbackServer, p: str, script: list[str]) -> None:
    """For random policies and server scripts, httpx and httpx2 (sync and async) and
    RetryingPool record the same attempts and waits."""
    got = {}
    for name in ("pool", "httpx", "httpx-async", "httpx2", "httpx2-async"):
        url = _route(server, script)
        with transport.testing() as w:
            got[name] = (FULL[name](p, url), w)
    assert got["httpx"] == got["pool"]
    assert got["httpx-async"] == got["pool"]
    assert got["httpx2"] == got["pool"]
    assert got["httpx2-async"] == got["pool"]
