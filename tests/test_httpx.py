"""httpx and httpx2 adapters: RetryTransport and AsyncRetryTransport against a real
loopback server.

Every test runs twice: with httpx and ``transport.httpx``, and with httpx2 and
``transport.httpx2`` (the autouse ``library`` fixture rebinds this module's ``httpx`` and
the transport classes for the test), so each behaviour is checked on both libraries.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import httpx2
import pytest
from httpserver import LoopbackServer, Reply, free_port

import policy
import transport
import transport.httpx
import transport.httpx2

_LIBRARIES = {
    "httpx": (httpx, transport.httpx.RetryTransport, transport.httpx.AsyncRetryTransport),
    "httpx2": (httpx2, transport.httpx2.RetryTransport, transport.httpx2.AsyncRetryTransport),
}
_Sync: Any = transport.httpx.RetryTransport
_Async: Any = transport.httpx.AsyncRetryTransport


@pytest.fixture(autouse=True, params=sorted(_LIBRARIES))
def library(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test with httpx (transport.httpx) and with httpx2 (transport.httpx2)."""
    module, sync, async_ = _LIBRARIES[request.param]
    monkeypatch.setitem(globals(), "httpx", module)
    monkeypatch.setitem(globals(), "_Sync", sync)
    monkeypatch.setitem(globals(), "_Async", async_)
    return str(request.param)


def test_the_classes_are_the_library_s_transports(library: str) -> None:
    """Each class subclasses its own library's base transport; httpx's are also at
    transport.RetryTransport."""
    assert issubclass(_Sync, httpx.BaseTransport)
    assert issubclass(_Async, httpx.AsyncBaseTransport)
    other = httpx2 if library == "httpx" else _LIBRARIES["httpx"][0]
    assert not issubclass(_Sync, other.BaseTransport)
    assert transport.RetryTransport is transport.httpx.RetryTransport
    assert transport.AsyncRetryTransport is transport.httpx.AsyncRetryTransport
    assert type(_Sync("5xx:backoff(2)").transport) is httpx.HTTPTransport


@pytest.fixture
def http_server() -> Iterator[LoopbackServer]:
    """A started loopback server, closed after the test."""
    with LoopbackServer() as server:
        yield server


FAST = "5xx:backoff(3,10ms..20ms) 429:headers()"


def _sync(p: str | policy.Policy, **kw: object) -> httpx.Client:
    return httpx.Client(transport=_Sync(p, **kw))


def _async(p: str | policy.Policy, **kw: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=_Async(p, **kw))


def _labels(attempts: tuple[transport.Attempt, ...]) -> list[str]:
    return [a.label for a in attempts]


def test_503_503_200_one_connection_sync(http_server: LoopbackServer) -> None:
    """503, 503, 200: three requests over ONE TCP connection; attempts on the response."""
    url = http_server.route("/f", Reply(503, body=b"busy"), Reply(503), Reply(200, body=b"ok"))
    with transport.testing() as waits, _sync(FAST) as client:
        r = client.get(url)
    assert r.status_code == 200
    assert r.content == b"ok"
    assert len(http_server.requests_to("/f")) == 3
    assert http_server.connections == 1
    attempts = r.extensions["retry_attempts"]
    assert _labels(attempts) == ["503", "503", "200"]
    assert [a.delay for a in attempts[:2]] == waits
    assert waits[0] == pytest.approx(0.01)


def test_503_503_200_one_connection_async(http_server: LoopbackServer) -> None:
    """The async transport also reads and closes a retried body: one TCP connection."""
    url = http_server.route("/f", Reply(503, body=b"busy"), Reply(503), Reply(200, body=b"ok"))

    async def main() -> httpx.Response:
        async with _async(FAST) as client:
            r = await client.get(url)
            await r.aread()
            return r

    with transport.testing() as waits:
        r = asyncio.run(main())
    assert r.status_code == 200
    assert r.content == b"ok"
    assert len(http_server.requests_to("/f")) == 3
    assert http_server.connections == 1
    assert _labels(r.extensions["retry_attempts"]) == ["503", "503", "200"]
    assert len(waits) == 2


def test_real_waits_are_taken_without_testing(http_server: LoopbackServer) -> None:
    """Outside test mode the transport sleeps the policy's delay (here 0.1 s)."""
    url = http_server.route("/w", Reply(503), Reply(200))
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        time.sleep(s)

    with _sync("5xx:backoff(1,100ms)", sleep=sleep) as client:
        assert client.get(url).status_code == 200
    assert slept == [0.1]


def test_give_up_on_status_returns_the_last_response(http_server: LoopbackServer) -> None:
    """When the policy gives up on a status, that response comes back, body readable."""
    url = http_server.route("/g", Reply(503, body=b"down"))
    gave_up: list[transport.Attempt] = []
    with transport.testing(), _sync("5xx:backoff(2,10ms)", on_giveup=gave_up.append) as client:
        r = client.get(url)
    assert r.status_code == 503
    assert r.content == b"down"
    assert _labels(r.extensions["retry_attempts"]) == ["503"] * 3
    assert [a.number for a in gave_up] == [3]
    assert "limit reached" in gave_up[0].reason


def test_retry_after_repeated_reads_the_first_line(http_server: LoopbackServer) -> None:
    """A repeated Retry-After is read line by line (multi_items), not comma-joined."""
    url = http_server.route(
        "/r",
        Reply(429, headers=[("Retry-After", "3"), ("Retry-After", "7")]),
        Reply(200),
    )
    with transport.testing() as waits, _sync("429:headers()") as client:
        assert client.get(url).status_code == 200
    assert waits == [3.0]


def test_refused_port_is_connect_and_raises_with_a_note() -> None:
    """A refused connection is `connect`; giving up re-raises httpx's ConnectError + note."""
    url = f"http://127.0.0.1:{free_port()}/"
    with (
        transport.testing(),
        _sync("connect:backoff(2,10ms)") as client,
        pytest.raises(httpx.ConnectError) as info,
    ):
        client.get(url)
    assert _labels(info.value.retry_attempts) == ["connect"] * 3  # type: ignore[attr-defined]
    assert any("limit reached" in n for n in info.value.__notes__)


def test_refused_port_async() -> None:
    """The async transport maps a refused connection to `connect` as well."""
    url = f"http://127.0.0.1:{free_port()}/"

    async def main() -> None:
        async with _async("connect:backoff(1,10ms)") as client:
            await client.get(url)

    with transport.testing(), pytest.raises(httpx.ConnectError) as info:
        asyncio.run(main())
    assert _labels(info.value.retry_attempts) == ["connect", "connect"]  # type: ignore[attr-defined]


def test_server_that_never_answers_is_timeout(http_server: LoopbackServer) -> None:
    """No answer within the per-attempt timeout is `timeout` (ReadTimeout), then retried."""
    url = http_server.route("/slow", Reply(200, delay=5.0), Reply(200, body=b"ok"))
    t0 = time.monotonic()
    with transport.testing(), _sync("timeout:backoff(1,10ms)", timeout=0.3) as client:
        r = client.get(url)
    assert time.monotonic() - t0 < 3.5
    assert r.content == b"ok"
    assert _labels(r.extensions["retry_attempts"]) == ["timeout", "200"]


def test_timeout_gives_up_with_read_timeout_async(http_server: LoopbackServer) -> None:
    """Async: the attempt's own bound ends a silent server; giving up raises a timeout."""
    url = http_server.route("/slow", Reply(200, delay=5.0))

    async def main() -> None:
        async with _async("timeout:never", timeout=0.3) as client:
            await client.get(url)

    t0 = time.monotonic()
    with pytest.raises(httpx.TimeoutException) as info:
        asyncio.run(main())
    assert time.monotonic() - t0 < 3.5
    assert _labels(info.value.retry_attempts) == ["timeout"]  # type: ignore[attr-defined]
    assert any("never" in n for n in info.value.__notes__)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_the_body_handed_back_is_the_caller_s(http_server: LoopbackServer, mode: str) -> None:
    """The per-attempt limit bounds the head, not the body the caller reads: a body
    dripped for well over the limit arrives whole, under the client's own read timeout."""
    url = http_server.route("/drip", Reply(200, body=b"x" * 30, drip=0.05))
    t0 = time.monotonic()
    if mode == "sync":
        with _sync("5xx:never", timeout=0.5) as client:
            body = client.get(url).content
    else:

        async def main() -> bytes:
            async with _async("5xx:never", timeout=0.5) as client:
                return (await client.get(url)).content

        body = asyncio.run(main())
    assert body == b"x" * 30
    assert time.monotonic() - t0 > 1.0  # well past the 0.5 s limit, not cut


def test_deadline_shrinks_the_attempt_timeout(http_server: LoopbackServer) -> None:
    """deadline= bounds the attempt: a 5 s silence ends at the deadline (1 s), not later."""
    url = http_server.route("/slow", Reply(200, delay=5.0))
    t0 = time.monotonic()
    with (
        _sync("deadline=1s timeout:backoff(3,10ms)") as client,
        pytest.raises(httpx.TimeoutException),
    ):
        client.get(url)
    assert time.monotonic() - t0 < 3.5


def test_reset_without_answer_is_reset(http_server: LoopbackServer) -> None:
    """A connection reset before any answer is `reset`, retried on a new connection."""
    url = http_server.route("/x", Reply(reset=True), Reply(200, body=b"ok"))
    with transport.testing(), _sync("reset:backoff(1,10ms)") as client:
        r = client.get(url)
    assert r.content == b"ok"
    assert _labels(r.extensions["retry_attempts"]) == ["reset", "200"]
    assert http_server.connections == 2


def test_reset_without_answer_gives_up_raising(http_server: LoopbackServer) -> None:
    """Without a `reset` rule the reset is final: httpx's own error, with the reason."""
    url = http_server.route("/x", Reply(reset=True))
    with _sync("5xx:backoff(1)") as client, pytest.raises(httpx.TransportError) as info:
        client.get(url)
    assert isinstance(info.value, httpx.RemoteProtocolError | httpx.ReadError)
    assert any("no rule for reset" in n for n in info.value.__notes__)


def test_503_cut_mid_body_is_discarded_and_the_connection_dropped(
    http_server: LoopbackServer,
) -> None:
    """A retried 503 whose body breaks mid-way: retried on a fresh connection."""
    url = http_server.route(
        "/m", Reply(503, body=b"x" * 100, close_after=10), Reply(200, body=b"ok")
    )
    with transport.testing(), _sync(FAST) as client:
        r = client.get(url)
    assert r.content == b"ok"
    assert http_server.connections == 2


def _stream() -> Iterator[bytes]:
    yield b"part1"
    yield b"part2"


def test_consumed_stream_is_not_retried(http_server: LoopbackServer) -> None:
    """A generator body, once sent, cannot be replayed: the 503 is final, with a reason."""
    url = http_server.route("/s", Reply(503), Reply(200))
    gave_up: list[transport.Attempt] = []
    with transport.testing(), _sync(FAST, on_giveup=gave_up.append) as client:
        r = client.post(url, content=_stream())
    assert r.status_code == 503
    assert len(http_server.requests_to("/s")) == 1
    assert http_server.requests_to("/s")[0].body == b"part1part2"
    assert "cannot be replayed" in gave_up[0].reason


def test_bytes_body_is_replayed(http_server: LoopbackServer) -> None:
    """A bytes body is sent again, byte for byte, on every attempt."""
    url = http_server.route("/b", Reply(503), Reply(200))
    with transport.testing(), _sync(FAST) as client:
        assert client.post(url, content=b"payload").status_code == 200
    assert [r.body for r in http_server.requests_to("/b")] == [b"payload", b"payload"]


def test_consumed_stream_still_retries_connect() -> None:
    """A connect failure sent nothing, so even a generator body is retried."""
    url = f"http://127.0.0.1:{free_port()}/"
    with (
        transport.testing(),
        _sync("connect:backoff(2,10ms)") as client,
        pytest.raises(httpx.ConnectError) as info,
    ):
        client.post(url, content=_stream())
    assert _labels(info.value.retry_attempts) == ["connect"] * 3  # type: ignore[attr-defined]


def test_per_request_policy(http_server: LoopbackServer) -> None:
    """extensions["retry_policy"]: None means no retries; a string replaces the policy."""
    url = http_server.route("/p", Reply(503), cycle=True)
    with transport.testing(), _sync(FAST) as client:
        r = client.get(url, extensions={"retry_policy": None})
        assert r.status_code == 503
        assert "retry_attempts" not in r.extensions
        assert len(http_server.requests_to("/p")) == 1
        r = client.get(url, extensions={"retry_policy": "503:backoff(1,10ms)"})
        assert len(r.extensions["retry_attempts"]) == 2
        r = client.get(url, extensions={"retry_policy": policy.parse("503:never")})
        assert len(r.extensions["retry_attempts"]) == 1
    assert len(http_server.requests_to("/p")) == 4


def test_unmapped_errors_propagate_untouched() -> None:
    """An error that is not a transport failure (a bad scheme) is raised at once."""
    with _sync(FAST) as client, pytest.raises(httpx.UnsupportedProtocol):
        client.get("ftp://127.0.0.1/")


def test_hooks_and_log_lines(http_server: LoopbackServer, caplog: pytest.LogCaptureFixture) -> None:
    """on_retry sees each retry; one INFO line per retry and per give-up, fields in extra."""
    url = http_server.route("/h?key=secret", Reply(503))
    seen: list[transport.Attempt] = []
    with (
        caplog.at_level(logging.INFO, logger="policy"),
        transport.testing(),
        _sync("5xx:backoff(1,10ms)", on_retry=seen.append) as client,
    ):
        client.get(url)
    assert [a.number for a in seen] == [1]
    lines = [r for r in caplog.records if r.name == "policy"]
    assert len(lines) == 2
    assert lines[0].retry_rule == "5xx:backoff(1,10ms)"  # type: ignore[attr-defined]
    assert "secret" not in caplog.text


def test_transport_accepts_a_policy_object_and_rejects_junk() -> None:
    """A Policy is used as is; anything but a string or Policy is a TypeError."""
    p = policy.parse(FAST)
    assert _Sync(p).policy is p
    with pytest.raises(TypeError):
        _Sync(42)
    with pytest.raises(policy.PolicyError):
        _Async("5xx:backof(3)")


def test_pacing_hold_is_shared_by_calls_through_one_transport(http_server: LoopbackServer) -> None:
    """pace=on: a 429's Retry-After holds the origin for the next call through the transport."""
    url = http_server.route("/p", Reply(429, headers={"Retry-After": "20"}), Reply(200))
    with transport.testing() as waits, _sync("pace=on 429:headers()") as client:
        assert client.get(url).status_code == 200  # waits out the 429 (a retry)
        assert client.get(url).status_code == 200  # waits out the hold before sending
    assert len(waits) == 2
    assert waits[0] == 20.0
    assert 15.0 < waits[1] <= 20.0
    assert len(http_server.requests_to("/p")) == 3
