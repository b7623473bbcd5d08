"""One way to read the attempt history: ``transport.attempts_of(obj)`` on every adapter's
responses and exceptions, against a real loopback server, and typed under mypy --strict."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import httpx
import httpx2
import pytest
import requests
import urllib3
from httpserver import LoopbackServer, Reply, free_port
from requests.adapters import HTTPAdapter

import transport
import transport.httpx2

P = "5xx:backoff(3,10ms) connect:backoff(2,10ms)"
FLAKY = (Reply(503), Reply(503), Reply(200, body="{}"))
WITH_FINAL = ["503", "503", "200"]


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as s:
        yield s


def _labels(obj: object) -> list[str]:
    return [a.label for a in transport.attempts_of(obj)]


def _refused() -> str:
    return f"http://127.0.0.1:{free_port()}/"


def test_urllib3_retrying_pool_response_and_retry_error(server: LoopbackServer) -> None:
    url = server.route("/u", *FLAKY)
    with transport.testing(), transport.RetryingPool(P) as pool:
        assert _labels(pool.request("GET", url)) == WITH_FINAL
        with pytest.raises(transport.RetryError) as info:
            pool.request("GET", _refused())
    assert _labels(info.value) == ["connect"] * 3


def test_policy_retry_through_urllib3_and_requests(server: LoopbackServer) -> None:
    """urllib3 asks PolicyRetry only about failures: the history has no final 200."""
    url = server.route("/pr", *FLAKY, cycle=True)
    with transport.testing():
        pm = urllib3.PoolManager(retries=transport.PolicyRetry(P))
        assert _labels(pm.request("GET", url)) == ["503", "503"]
        with requests.Session() as s:
            s.mount("http://", HTTPAdapter(max_retries=transport.PolicyRetry(P)))
            assert _labels(s.get(url, timeout=5)) == ["503", "503"]


def test_requests_retry_adapter_response_and_exception(server: LoopbackServer) -> None:
    url = server.route("/ra", *FLAKY)
    with transport.testing(), requests.Session() as s:
        s.mount("http://", transport.RetryAdapter(P))
        r = s.get(url, timeout=5)
        assert _labels(r) == WITH_FINAL
        with pytest.raises(requests.ConnectionError) as info:
            s.get(_refused(), timeout=5)
    assert _labels(info.value) == ["connect"] * 3


def test_requests_http_error_through_retry_adapter(server: LoopbackServer) -> None:
    """raise_for_status() after a give-up: the HTTPError's response carries the history."""
    url = server.route("/down", Reply(503), cycle=True)
    with transport.testing(), requests.Session() as s:
        s.mount("http://", transport.RetryAdapter(P))
        with pytest.raises(requests.HTTPError) as info:
            s.get(url, timeout=5).raise_for_status()
    assert _labels(info.value) == ["503"] * 4


@pytest.mark.parametrize("lib", ["httpx", "httpx2"])
def test_httpx_and_httpx2_responses_and_exceptions(server: LoopbackServer, lib: str) -> None:
    url = server.route(f"/{lib}", *FLAKY)
    with transport.testing():
        if lib == "httpx":
            with httpx.Client(transport=transport.RetryTransport(P)) as c:
                assert _labels(c.get(url)) == WITH_FINAL
                with pytest.raises(httpx.ConnectError) as info:
                    c.get(_refused())
        else:
            with httpx2.Client(transport=transport.httpx2.RetryTransport(P)) as c2:
                assert _labels(c2.get(url)) == WITH_FINAL
                with pytest.raises(httpx2.ConnectError) as info2:
                    c2.get(_refused())
                assert _labels(info2.value) == ["connect"] * 3
                return
    assert _labels(info.value) == ["connect"] * 3


def test_httpx_async_and_status_error(server: LoopbackServer) -> None:
    url = server.route("/down", Reply(503), cycle=True)

    async def main() -> httpx.HTTPStatusError:
        async with httpx.AsyncClient(transport=transport.AsyncRetryTransport(P)) as c:
            r = await c.get(url)
            try:
                r.raise_for_status()
            except httpx.HTTPStatusError as e:
                return e
        raise AssertionError("no HTTPStatusError")

    with transport.testing():
        assert _labels(asyncio.run(main())) == ["503"] * 4


def test_aiohttp_response_and_exception(server: LoopbackServer) -> None:
    url = server.route("/aio", *FLAKY)

    async def main() -> tuple[list[str], list[str]]:
        mw = transport.aiohttp_middleware(P)
        async with aiohttp.ClientSession(middlewares=[mw]) as s:
            async with s.get(url) as r:
                ok = _labels(r)
            try:
                await s.get(_refused())
            except aiohttp.ClientConnectionError as e:
                return ok, _labels(e)
        raise AssertionError("no connection error")

    with transport.testing():
        ok, failed = asyncio.run(main())
    assert ok == WITH_FINAL
    assert failed == ["connect"] * 3


def test_retrying_and_the_loop_form() -> None:
    url = _refused()

    @transport.retrying(P)
    def get() -> None:
        requests.get(url, timeout=5)

    with transport.testing():
        with pytest.raises(requests.ConnectionError) as info:
            get()
        assert _labels(info.value) == ["connect"] * 3
        loop = transport.attempts(P)
        with pytest.raises(ValueError, match="carries no attempts"):
            transport.attempts_of(loop)  # no loop ran yet
        with pytest.raises(requests.ConnectionError) as info2:
            for attempt in loop:
                with attempt:
                    requests.get(url, timeout=5)
    assert _labels(info2.value) == ["connect"] * 3
    assert _labels(loop) == ["connect"] * 3


def test_background_fetch_error(server: LoopbackServer) -> None:
    url = server.route("/bg", Reply(503), cycle=True)
    retry = {"5xx": {"strategy": "backoff", "limit": 1, "minTimeoutInMs": 10}}
    with transport.BackgroundFetcher() as f, pytest.raises(transport.FetchError) as info:
        f.fetch("bg", url, retry=retry).result(10)
    assert _labels(info.value) == ["503", "503"]


def test_what_no_policy_saw_has_no_history(server: LoopbackServer) -> None:
    url = server.route("/plain", Reply(200))
    with pytest.raises(ValueError, match="carries no attempts"):
        transport.attempts_of(requests.get(url, timeout=5))
    with pytest.raises(ValueError, match="carries no attempts"):
        transport.attempts_of(httpx.get(url))
    with pytest.raises(ValueError, match="carries no attempts"):
        transport.attempts_of(KeyError("x"))
    with pytest.raises(ValueError, match="carries no attempts"):
        transport.attempts_of(None)


_TYPED = """
    import asyncio

    import httpx
    import httpx2
    import requests

    import transport
    import transport.httpx2

    def labels(url: str) -> list[str]:
        with httpx2.Client(transport=transport.httpx2.RetryTransport("5xx:backoff(2)")) as c:
            r = c.get(url)
        history: tuple[transport.Attempt, ...] = transport.attempts_of(r)
        return [a.label for a in history]

    def from_error(e: requests.HTTPError) -> int:
        return len(transport.attempts_of(e))

    def loop(url: str) -> float | None:
        retry = transport.attempts("5xx:backoff(2)")
        for attempt in retry:
            with attempt:
                httpx.get(url, timeout=attempt.timeout).raise_for_status()
        return transport.attempts_of(retry)[-1].delay

    async def aloop(url: str) -> int:
        n = 0
        async for attempt in transport.attempts("5xx:backoff(2)"):
            async with attempt:
                n = attempt.number
                await asyncio.sleep(0)
        async for attempt in transport.attempts("5xx:backoff(2)"):
            with attempt:
                n += attempt.number
        return n
"""


def test_attempts_of_and_the_loop_form_pass_mypy_strict(tmp_path: Path) -> None:
    (tmp_path / "user_code.py").write_text(textwrap.dedent(_TYPED), "utf-8")
    (tmp_path / "none.ini").write_text("[mypy]\n", "utf-8")
    cmd = [sys.executable, "-m", "mypy", "--strict", "--no-incremental"]
    cmd += ["--cache-dir", str(tmp_path / ".cache"), "--config-file", str(tmp_path / "none.ini")]
    proc = subprocess.run(
        [*cmd, str(tmp_path / "user_code.py")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
