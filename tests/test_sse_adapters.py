"""``sse=on`` in every adapter that hands back an unread body: httpx (sync, async),
httpx2, the aiohttp middleware and ``RetryAdapter`` (requests), each with its plain
client against tests/fake_llm_api.py (an Anthropic event stream on loopback).

* an ``overloaded_error`` first event is retried: the server saw two requests, the caller
  reads one complete stream, byte for byte (nothing read ahead lost or duplicated);
* an error after the first content event reaches the caller unchanged, in one request;
* a stream that never sends its first event is a ``timeout`` of the attempt (the
  policy's ``timeout=1s``), retried; the caller gets the next, complete stream.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import httpx
import httpx2
import pytest
import requests
from fake_llm_api import FakeLLMAPI, _event
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import transport
import transport.httpx
import transport.httpx2

BODY = json.dumps(
    {
        "model": "claude-fake",
        "max_tokens": 10,
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
    }
).encode()
HEADERS = {"content-type": "application/json"}
#: What the caller reads: (status, the body's bytes, the attempts' outcomes).
Fetch = Callable[[str, str], tuple[int, bytes, list[str]]]


def _kinds(attempts: Any) -> list[str]:
    """Each attempt's outcome: a status, or its class (``Timeout``...)."""
    return [str(getattr(a.outcome, "status", type(a.outcome).__name__)) for a in attempts]


def _httpx(mod: Any, shell: Any) -> Fetch:
    def fetch(url: str, p: str) -> tuple[int, bytes, list[str]]:
        with (
            mod.Client(transport=shell.RetryTransport(p)) as c,
            c.stream("POST", url, content=BODY, headers=HEADERS) as r,
        ):
            body = b"".join(r.iter_bytes())
            return r.status_code, body, _kinds(r.extensions.get("retry_attempts", ()))

    return fetch


def _httpx_async(url: str, p: str) -> tuple[int, bytes, list[str]]:
    async def main() -> tuple[int, bytes, list[str]]:
        t = transport.httpx.AsyncRetryTransport(p)
        async with (
            httpx.AsyncClient(transport=t) as c,
            c.stream("POST", url, content=BODY, headers=HEADERS) as r,
        ):
            body = b"".join([chunk async for chunk in r.aiter_bytes()])
            return r.status_code, body, _kinds(r.extensions.get("retry_attempts", ()))

    return asyncio.run(main())


def _aiohttp(url: str, p: str) -> tuple[int, bytes, list[str]]:
    async def main() -> tuple[int, bytes, list[str]]:
        mw = transport.aiohttp_middleware(p)
        async with (
            aiohttp.ClientSession(middlewares=[mw]) as s,
            s.post(url, data=BODY, headers=HEADERS) as r,
        ):
            body = b"".join([line async for line in r.content])  # line by line
            return r.status, body, _kinds(transport.attempts_of(r))

    return asyncio.run(main())


def _requests(url: str, p: str) -> tuple[int, bytes, list[str]]:
    with requests.Session() as s:
        s.mount("http://", transport.RetryAdapter(p))
        with s.post(url, data=BODY, headers=HEADERS, stream=True) as r:
            body = b"".join(r.iter_content(chunk_size=17))
            return r.status_code, body, _kinds(transport.attempts_of(r))


ADAPTERS: dict[str, Fetch] = {
    "httpx": _httpx(httpx, transport.httpx),
    "httpx-async": _httpx_async,
    "httpx2": _httpx(httpx2, transport.httpx2),
    "aiohttp": _aiohttp,
    "requests": _requests,
}


def _stream(api: FakeLLMAPI) -> bytes:
    return b"".join(api.stream_events("anthropic", "claude-fake", "hello from the fake api"))


@pytest.fixture(params=sorted(ADAPTERS))
def fetch(request: pytest.FixtureRequest) -> Fetch:
    return ADAPTERS[request.param]


def test_an_overloaded_first_event_is_retried_transparently(fetch: Fetch) -> None:
    with FakeLLMAPI() as api, transport.testing() as waits:
        api.fail_next("sse-error")
        status, body, _ = fetch(api.url + "/v1/messages", "@anthropic")
    assert status == 200 and body == _stream(api)  # one complete stream, byte for byte
    assert len(api.seen) == 2 and len(waits) == 1  # the server saw two requests


def test_an_error_after_content_reaches_the_caller_unchanged(fetch: Fetch) -> None:
    with FakeLLMAPI() as api, transport.testing():
        api.fail_next("sse-late-error")
        status, body, _ = fetch(api.url + "/v1/messages", "@anthropic")
    events = list(api.stream_events("anthropic", "claude-fake", "hello"))
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    assert status == 200 and body == b"".join(events[:4]) + _event("error", error)
    assert len(api.seen) == 1


def test_a_give_up_on_an_error_event_hands_over_the_stream(fetch: Fetch) -> None:
    """A give-up on the error event: the caller gets that response, bytes intact."""
    with FakeLLMAPI() as api, transport.testing():
        api.fail_next("sse-error")
        status, body, kinds = fetch(
            api.url + "/v1/messages", "5xx:backoff(1,10ms) attempts=1 sse=on"
        )
    assert (
        status == 200 and b"overloaded_error" in body and body.startswith(b"event: message_start")
    )
    assert len(api.seen) == 1 and kinds == ["529"]  # decided as the event's status


def test_a_silent_stream_is_a_timeout_and_retried(fetch: Fetch) -> None:
    """The server holds the first event for 5 s; the attempt's 1 s bound ends the read
    ahead, the attempt is a timeout and the retry gets the stream."""
    with FakeLLMAPI() as api, transport.testing():
        api.fail_next("sse-silent")
        status, body, kinds = fetch(
            api.url + "/v1/messages", "timeout,5xx:backoff(2,10ms) sse=on timeout=1s"
        )
    assert status == 200 and body == _stream(api)
    assert len(api.seen) == 2
    assert kinds == ["Timeout", "200"], kinds


class _Chunked:
    """A loopback server that answers each POST with the next scripted event stream, sent
    in HTTP chunks cut at the scripted places (each flushed on its own)."""

    def __init__(self) -> None:
        self.script: list[tuple[bytes, list[int]]] = []
        self.count = 0
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.count += 1
                body, cuts = owner.script.pop(0)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                at = 0
                for n in [*cuts, len(body)]:
                    piece, at = body[at : at + n], at + n
                    if piece:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                        self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/v1/messages"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture(scope="module")
def chunked() -> Iterator[_Chunked]:
    server = _Chunked()
    yield server
    server.close()


_OVERLOADED = _event(
    "error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
)


@pytest.mark.parametrize("name", ["requests", "aiohttp", "httpx"])
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    first=st.lists(st.integers(1, 60), max_size=8),
    second=st.lists(st.integers(1, 60), max_size=8),
)
def test_no_event_lost_or_duplicated_however_the_stream_is_cut(
    chunked: _Chunked, name: str, first: list[int], second: list[int]
) -> None:
    with FakeLLMAPI() as api:
        good = _stream(api)
        events = list(api.stream_events("anthropic", "claude-fake", "hello"))
    chunked.script[:] = [(events[0] + events[1] + _OVERLOADED, first), (good, second)]
    chunked.count = 0
    with transport.testing():
        status, body, kinds = ADAPTERS[name](chunked.url, "@anthropic")
    assert status == 200 and body == good
    assert chunked.count == 2 and kinds == ["529", "200"]
