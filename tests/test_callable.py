"""Any callable: transport.retrying and transport.outcome_from_exception, on real errors."""

from __future__ import annotations

import asyncio
import http.client
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator

import aiohttp
import httpx
import pytest
import requests
import urllib3
from httpserver import LoopbackServer, Reply, free_port

import policy
import transport


@pytest.fixture
def http_server() -> Iterator[LoopbackServer]:
    """A started loopback server, closed after the test."""
    with LoopbackServer() as server:
        yield server


def test_raise_for_status_honours_retry_after(http_server: LoopbackServer) -> None:
    """The showcase: requests + raise_for_status, retried with 429:headers() waiting Retry-After."""
    url = http_server.route("/api", Reply(429, headers={"Retry-After": "2"}), Reply(200, body="{}"))

    @transport.retrying("429:headers()")
    def fetch() -> dict[str, object]:
        r = requests.get(url, timeout=5)
        r.raise_for_status()
        return dict(r.json())

    with transport.testing() as waits:
        assert fetch() == {}
    assert waits == [2.0]
    assert len(http_server.requests_to("/api")) == 2


def test_on_listed_exceptions_are_errors() -> None:
    """An exception named in on= is Error(kind=class name), matched by `error`."""
    calls: list[int] = []
    seen: list[transport.Attempt] = []

    @transport.retrying(
        "error:backoff(3,10ms)", on=(sqlite3.OperationalError,), on_retry=seen.append
    )
    def load() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise sqlite3.OperationalError("database is locked")
        return "rows"

    with transport.testing() as waits:
        assert load() == "rows"
    assert len(calls) == 3
    assert waits == [0.01, 0.01]
    assert [a.outcome for a in seen] == [policy.Error("OperationalError")] * 2


def test_a_listed_builtin_is_an_error_not_its_known_outcome() -> None:
    """on=(TimeoutError,) makes a TimeoutError Error(kind="TimeoutError"), retried by `error`.

    It used to be classified as `timeout` first, and the call stopped: "no rule for timeout".
    """
    calls: list[int] = []
    seen: list[transport.Attempt] = []

    @transport.retrying("error:backoff(2,10ms)", on=(TimeoutError,), on_retry=seen.append)
    def f() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise TimeoutError("slow")
        return "done"

    with transport.testing() as waits:
        assert f() == "done"
    assert len(calls) == 3
    assert waits == [0.01, 0.01]
    assert [a.outcome for a in seen] == [policy.Error("TimeoutError")] * 2


def test_a_listed_base_class_names_the_raised_class() -> None:
    """on=(ConnectionError,) catches its subclasses; the kind is the class raised."""
    seen: list[transport.Attempt] = []
    raised = [ConnectionResetError("r"), ConnectionRefusedError("c")]

    @transport.retrying("error:backoff(2,10ms)", on=ConnectionError, on_retry=seen.append)
    def f() -> str:
        if raised:
            raise raised.pop(0)
        return "ok"

    with transport.testing():
        assert f() == "ok"
    kinds = [a.outcome for a in seen]
    assert kinds == [policy.Error("ConnectionResetError"), policy.Error("ConnectionRefusedError")]


def test_a_listed_library_error_is_an_error(http_server: LoopbackServer) -> None:
    """A real httpx.ConnectError listed in on= is an `error`, no longer `connect`."""
    refused = f"http://127.0.0.1:{free_port()}/"
    seen: list[transport.Attempt] = []

    @transport.retrying("error:backoff(1,10ms)", on=httpx.ConnectError, on_giveup=seen.append)
    def f() -> None:
        httpx.get(refused, timeout=5)

    with transport.testing(), pytest.raises(httpx.ConnectError):
        f()
    assert [a.outcome for a in seen] == [policy.Error("ConnectError")]


def test_an_unlisted_known_exception_keeps_its_outcome() -> None:
    """Not listed: a TimeoutError is still `timeout` (so timeout: rules keep working)."""
    calls: list[int] = []

    @transport.retrying("timeout:backoff(2,10ms) error:backoff(1,10ms)", on=(ValueError,))
    def f() -> str:
        calls.append(1)
        if len(calls) < 2:
            raise TimeoutError("slow")
        return "done"

    with transport.testing() as waits:
        assert f() == "done"
    assert waits == [0.01]


def test_a_listed_http_error_stays_its_response(http_server: LoopbackServer) -> None:
    """requests.HTTPError listed in on= still carries its response: 429:headers() waits
    the server's Retry-After (an `error` rule would not apply)."""
    url = http_server.route("/listed", Reply(429, headers={"Retry-After": "3"}), Reply(200))

    @transport.retrying("429:headers() error:never", on=(requests.HTTPError, Exception))
    def fetch() -> int:
        r = requests.get(url, timeout=5)
        r.raise_for_status()
        return r.status_code

    with transport.testing() as waits:
        assert fetch() == 200
    assert waits == [3.0]


def test_a_listed_http_error_without_a_response_is_an_error() -> None:
    """A requests.HTTPError raised by hand (no response) and listed is Error("HTTPError")."""
    seen: list[transport.Attempt] = []
    calls: list[int] = []

    @transport.retrying("error:backoff(1,10ms)", on=requests.HTTPError, on_retry=seen.append)
    def f() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise requests.HTTPError("no response attached")
        return "ok"

    with transport.testing():
        assert f() == "ok"
    assert [a.outcome for a in seen] == [policy.Error("HTTPError")]


def test_async_attempt_bound_is_a_timeout_even_when_listed() -> None:
    """The policy's own timeout= cutting an async attempt is `timeout`, whatever on= lists."""
    seen: list[transport.Attempt] = []
    calls: list[int] = []

    @transport.retrying(
        "timeout:backoff(1,10ms) error:never timeout=1s", on=(TimeoutError,), on_retry=seen.append
    )
    async def slow() -> str:
        calls.append(1)
        if len(calls) == 1:
            await asyncio.sleep(10)
        return "done"

    with transport.testing():
        assert asyncio.run(asyncio.wait_for(slow(), 20)) == "done"
    assert [a.outcome for a in seen] == [policy.Timeout()]


def test_async_listed_timeout_error_raised_by_the_function() -> None:
    """A TimeoutError the async function raises itself (not the bound) is the listed error."""
    seen: list[transport.Attempt] = []
    calls: list[int] = []

    @transport.retrying(
        "error:backoff(1,10ms) timeout=5s", on=(TimeoutError,), on_retry=seen.append
    )
    async def f() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise TimeoutError("the service said so")
        return "done"

    with transport.testing():
        assert asyncio.run(asyncio.wait_for(f(), 20)) == "done"
    assert [a.outcome for a in seen] == [policy.Error("TimeoutError")]


def test_unlisted_exceptions_propagate_at_once() -> None:
    """An exception neither known nor in on= propagates untouched after one call."""
    calls: list[int] = []
    boom = KeyError("x")

    @transport.retrying("error:backoff(3)", on=sqlite3.OperationalError)
    def f() -> None:
        calls.append(1)
        raise boom

    with pytest.raises(KeyError) as info:
        f()
    assert info.value is boom
    assert not hasattr(boom, "__notes__")
    assert len(calls) == 1


def test_give_up_reraises_the_last_exception_with_a_note() -> None:
    """Giving up re-raises the very exception, with the reason and the attempts."""
    errors: list[Exception] = []

    @transport.retrying("error:backoff(2,10ms)", on=(ValueError,))
    def f() -> None:
        e = ValueError(len(errors))
        errors.append(e)
        raise e

    with transport.testing(), pytest.raises(ValueError) as info:
        f()
    assert info.value is errors[-1]
    assert len(errors) == 3
    assert info.value.__notes__ == ["retry policy: limit reached: error:backoff 2/2"]
    assert [a.label for a in info.value.retry_attempts] == ["error"] * 3  # type: ignore[attr-defined]


def test_result_classifier_retries_and_returns_the_last_result() -> None:
    """result= turns a return value into an outcome; giving up returns the last value."""
    values = iter([503, 503, 200])

    @transport.retrying("5xx:backoff(3,10ms)", result=lambda s: policy.Response(s))
    def f() -> int:
        return next(values)

    with transport.testing() as waits:
        assert f() == 200
    assert len(waits) == 2

    @transport.retrying("5xx:backoff(1,10ms)", result=lambda s: policy.Response(s))
    def g() -> int:
        return 503

    with transport.testing():
        assert g() == 503


def test_async_function_is_retried_and_bounded() -> None:
    """An async function retries too; its attempt runs under the policy's timeout."""
    calls: list[int] = []

    @transport.retrying("timeout:backoff(2,10ms) timeout=1s")
    async def slow() -> str:
        calls.append(1)
        if len(calls) == 1:
            await asyncio.sleep(10)
        return "done"

    t0 = time.monotonic()
    with transport.testing() as waits:
        assert asyncio.run(slow()) == "done"
    assert time.monotonic() - t0 < 3
    assert waits == [0.01]
    assert slow.__name__ == "slow"


def test_async_give_up_reraises() -> None:
    """An async give-up re-raises the function's exception with the note."""

    @transport.retrying("connect:backoff(1,10ms)")
    async def f() -> None:
        raise ConnectionRefusedError("nope")

    with transport.testing(), pytest.raises(ConnectionRefusedError) as info:
        asyncio.run(f())
    assert len(info.value.retry_attempts) == 2  # type: ignore[attr-defined]


def test_methods_limit_applies_to_the_declared_method() -> None:
    """method= is what methods= sees: a POST-like call is not retried on error."""
    calls: list[int] = []

    @transport.retrying("methods=GET error:backoff(3,10ms)", on=ValueError, method="POST")
    def f() -> None:
        calls.append(1)
        raise ValueError

    with pytest.raises(ValueError):
        f()
    assert len(calls) == 1


# -- outcome_from_exception, each provoked for real ------------------------------------------


def _label(exc: BaseException) -> str | None:
    out = transport.outcome_from_exception(exc)
    return None if out is None else transport.Attempt(1, out, None, "", None).label


def _catch(fn: object) -> BaseException:
    try:
        fn()  # type: ignore[operator]
    except BaseException as e:
        return e
    raise AssertionError("no exception")


def test_requests_errors(http_server: LoopbackServer) -> None:
    """requests: refused is connect, silence is timeout, reset is reset, HTTPError a Response."""
    refused = f"http://127.0.0.1:{free_port()}/"
    assert _label(_catch(lambda: requests.get(refused, timeout=2))) == "connect"
    slow = http_server.route("/slow", Reply(200, delay=3))
    assert _label(_catch(lambda: requests.get(slow, timeout=0.2))) == "timeout"
    reset = http_server.route("/reset", Reply(reset=True))
    assert _label(_catch(lambda: requests.get(reset, timeout=2))) == "reset"
    cut = http_server.route("/cut", Reply(200, body=b"x" * 100, close_after=5))
    assert _label(_catch(lambda: requests.get(cut, timeout=2))) == "reset"
    bad = http_server.route(
        "/429", Reply(429, headers=[("Retry-After", "5"), ("Retry-After", "9")])
    )
    err = _catch(lambda: requests.get(bad, timeout=2).raise_for_status())
    out = transport.outcome_from_exception(err)
    assert isinstance(out, policy.Response)
    assert out.status == 429
    assert out.headers["retry-after"] == "5"


def test_httpx_errors(http_server: LoopbackServer) -> None:
    """httpx: ConnectError, ReadTimeout, HTTPStatusError (headers line by line)."""
    refused = f"http://127.0.0.1:{free_port()}/"
    assert _label(_catch(lambda: httpx.get(refused))) == "connect"
    slow = http_server.route("/slow", Reply(200, delay=3))
    assert _label(_catch(lambda: httpx.get(slow, timeout=0.2))) == "timeout"
    bad = http_server.route(
        "/503", Reply(503, headers=[("Retry-After", "1"), ("Retry-After", "2")])
    )
    err = _catch(lambda: httpx.get(bad).raise_for_status())
    out = transport.outcome_from_exception(err)
    assert isinstance(out, policy.Response)
    assert (out.status, out.headers["retry-after"]) == (503, "1")


def test_aiohttp_errors(http_server: LoopbackServer) -> None:
    """aiohttp: ClientConnectorError is connect; raise_for_status carries status and headers."""
    refused = f"http://127.0.0.1:{free_port()}/"
    bad = http_server.route("/429", Reply(429, headers={"Retry-After": "3"}))

    async def get(url: str) -> None:
        async with aiohttp.ClientSession() as s, s.get(url) as r:
            r.raise_for_status()

    assert _label(_catch(lambda: asyncio.run(get(refused)))) == "connect"
    err = _catch(lambda: asyncio.run(get(bad)))
    out = transport.outcome_from_exception(err)
    assert isinstance(out, policy.Response)
    assert (out.status, out.headers["retry-after"]) == (429, "3")


def test_urllib3_errors(http_server: LoopbackServer) -> None:
    """urllib3: MaxRetryError unwraps to its reason; ProtocolError is reset."""
    refused = f"http://127.0.0.1:{free_port()}/"
    with urllib3.PoolManager(retries=False) as pm:
        assert _label(_catch(lambda: pm.request("GET", refused))) == "connect"
        reset = http_server.route("/reset", Reply(reset=True))
        assert _label(_catch(lambda: pm.request("GET", reset))) == "reset"
    with urllib3.PoolManager(retries=urllib3.Retry(0)) as pm:
        assert _label(_catch(lambda: pm.request("GET", refused))) == "connect"


@pytest.mark.parametrize(
    ("exc", "label"),
    [
        (TimeoutError(), "timeout"),
        (TimeoutError(), "timeout"),
        (ConnectionRefusedError(), "connect"),
        (socket.gaierror(), "connect"),
        (ConnectionResetError(), "reset"),
        (ConnectionAbortedError(), "reset"),
        (BrokenPipeError(), "reset"),
        (http.client.RemoteDisconnected(), "reset"),
        (http.client.IncompleteRead(b""), "reset"),
        (ValueError(), None),
        (OSError(), None),
        (KeyboardInterrupt(), None),
    ],
    ids=lambda v: type(v).__name__,
)
def test_builtin_errors(exc: BaseException, label: str | None) -> None:
    """The built-in failures map to their outcomes; anything else is None."""
    assert _label(exc) == label


def test_real_builtin_refusal() -> None:
    """A refused socket connect is ConnectionRefusedError -> connect."""
    with socket.socket() as s:
        err = _catch(lambda: s.connect(("127.0.0.1", free_port())))
    assert _label(err) == "connect"


def test_outcome_from_exception_imports_no_client_library() -> None:
    """Classifying needs no import: httpx, aiohttp and requests stay unimported."""
    code = (
        "import sys, transport\n"
        "assert transport.outcome_from_exception(TimeoutError()) is not None\n"
        "bad = [m for m in ('httpx', 'aiohttp', 'requests') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_deadline_counts_from_the_call_not_the_first_failure() -> None:
    """The deadline starts when the function is first called, even though the loop's
    bookkeeping only begins at the first failure."""
    t = [1000.0]

    @transport.retrying(
        "error:backoff(3,20s) deadline=1m", on=ValueError, clock=lambda: t[0], sleep=lambda s: None
    )
    def slow_then_fail() -> None:
        t[0] += 50.0  # the first attempt takes 50 s of the 60 s
        raise ValueError("late")

    with pytest.raises(ValueError) as info:
        slow_then_fail()
    assert len(info.value.retry_attempts) == 1  # type: ignore[attr-defined]
    assert "deadline" in info.value.__notes__[0]


def test_success_at_once_calls_no_hook() -> None:
    """A call that succeeds at once has nothing to retry or give up: no hook, no wait."""
    seen: list[transport.Attempt] = []

    @transport.retrying(
        "error:backoff(3)", on=ValueError, on_retry=seen.append, on_giveup=seen.append
    )
    def fine() -> int:
        return 7

    with transport.testing() as waits:
        assert fine() == 7
    assert (seen, waits) == ([], [])
