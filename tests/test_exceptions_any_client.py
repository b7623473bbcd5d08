"""Exceptions from any client: the SDKs', httpx2's, anything shaped like them; classify=;
and on= that a policy without an ``error`` rule could never retry."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import openai
import pytest
from fake_llm_api import FakeLLMAPI
from httpserver import LoopbackServer, Reply, free_port

import policy
import transport

MESSAGES: Any = [{"role": "user", "content": "hi"}]


@pytest.fixture
def api() -> Iterator[FakeLLMAPI]:
    with FakeLLMAPI() as fake:
        yield fake


def _plain_openai(api: FakeLLMAPI) -> openai.OpenAI:
    """The SDK with no retries anywhere below it: every error reaches the caller."""
    return openai.OpenAI(api_key="sk", base_url=api.base_url, max_retries=0)


def test_an_sdk_status_error_is_its_response(api: FakeLLMAPI) -> None:
    """openai.RateLimitError carries .response: Response(429, its headers, line by line)."""
    api.fail_next("429-ms")
    with _plain_openai(api) as client, pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="m", messages=MESSAGES)
    out = transport.outcome_from_exception(info.value)
    assert isinstance(out, policy.Response) and out.status == 429
    assert out.headers["retry-after-ms"] == "50"  # the fake's default reset: 50 ms


def test_retrying_around_an_sdk_call_obeys_the_server(api: FakeLLMAPI) -> None:
    """@retrying("@openai") around the SDK call: the 429's retry-after-ms is the wait."""
    api.fail_next("429-ms", "500")
    client = _plain_openai(api)

    @transport.retrying("@openai")
    def ask() -> str | None:
        r = client.chat.completions.create(model="m", messages=MESSAGES)
        return r.choices[0].message.content

    with client, transport.testing() as waits:
        assert ask() == "hello from the fake api"
    assert api.statuses == [429, 500, 200]
    assert waits[0] == 0.05  # retry-after-ms: 50


def test_httpx2_errors() -> None:
    """httpx2.HTTPStatusError is its response; a refused port is `connect`."""
    with LoopbackServer() as server:
        url = server.route("/x", Reply(503, headers={"Retry-After": "7"}))
        with httpx2.Client() as c:
            r = c.get(url)
            with pytest.raises(httpx2.HTTPStatusError) as info:
                r.raise_for_status()
            with pytest.raises(httpx2.ConnectError) as refused:
                c.get(f"http://127.0.0.1:{free_port()}/")
    out = transport.outcome_from_exception(info.value)
    assert isinstance(out, policy.Response) and out.status == 503
    assert out.headers["retry-after"] == "7"
    assert transport.outcome_from_exception(refused.value) == policy.ConnectFailure()
    assert transport.outcome_from_exception(httpx2.ReadTimeout("t")) == policy.Timeout()
    assert transport.outcome_from_exception(httpx2.RemoteProtocolError("x")) == (
        policy.ConnectionReset()
    )


class _Answer:
    def __init__(self, status: Any, headers: Any) -> None:
        self.status = status
        self.headers = headers


class ShapedError(Exception):
    """An exception from a client nobody here knows, carrying a response."""

    def __init__(self, status: Any, headers: Any = None) -> None:
        super().__init__(status)
        self.response = _Answer(status, headers if headers is not None else {})


@pytest.mark.parametrize(
    ("status", "expected"), [(429, 429), (503, 503), ("429", None), (99, None), (None, None)]
)
def test_any_exception_with_a_response_shape(status: Any, expected: int | None) -> None:
    out = transport.outcome_from_exception(ShapedError(status, {"Retry-After": "3"}))
    if expected is None:
        assert out is None
    else:
        assert isinstance(out, policy.Response) and out.status == expected


def test_shaped_errors_are_decided_per_instance() -> None:
    """Two instances of one class with different statuses: each its own outcome."""
    calls: list[int] = []

    @transport.retrying("503:backoff(3,10ms) 404:never")
    def f() -> str:
        calls.append(1)
        raise ShapedError(503 if len(calls) < 3 else 404)

    with transport.testing() as waits, pytest.raises(ShapedError) as info:
        f()
    assert len(calls) == 3 and len(waits) == 2
    assert [a.label for a in info.value.retry_attempts] == ["503", "503", "404"]  # type: ignore[attr-defined]


def test_classify_is_consulted_first() -> None:
    """classify= turns a KeyError into Error("quota") (retried); None falls through."""
    seen: list[BaseException] = []

    def classify(exc: BaseException) -> policy.Outcome | None:
        seen.append(exc)
        return policy.Error("quota") if isinstance(exc, KeyError) else None

    calls: list[int] = []

    @transport.retrying("error:backoff(2,10ms)", classify=classify)
    def f() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise KeyError("q")
        raise ValueError("not mine")

    with transport.testing() as waits, pytest.raises(ValueError):
        f()
    assert len(calls) == 3 and len(waits) == 2
    assert len(seen) == 3  # consulted for every exception, the last one included


def test_on_without_an_error_rule_is_refused_at_decoration() -> None:
    with pytest.raises(ValueError, match=r"no 'error' rule.*error:backoff") as info:
        transport.retrying("429:headers() 5xx:backoff(3)", on=(KeyError,))
    assert "KeyError" in str(info.value)
    # with an error rule it is fine, and so is on= left empty
    transport.retrying("5xx:backoff(3) error:backoff(2)", on=(KeyError,))
    transport.retrying("429:headers()")
