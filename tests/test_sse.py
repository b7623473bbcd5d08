"""``sse=on``: an error event at the start of a 200 event stream is retried, through the
real SDKs on httpx2 against tests/fake_llm_api.py; the parsing itself (pure) by examples
and a property (every byte handed back once)."""

from __future__ import annotations

import anthropic
import httpx2
import openai
import pytest
from fake_llm_api import FakeLLMAPI
from hypothesis import given
from hypothesis import strategies as st

import transport
import transport.httpx2
from transport._sse import CONTENT, MAX_AHEAD, Reader, error_status, is_event_stream

MESSAGES: list[dict[str, str]] = [{"role": "user", "content": "hi"}]


def _verdict(body: bytes) -> int | None:
    r = Reader()
    return r.feed(body)


@pytest.mark.parametrize(
    ("body", "want"),
    [
        (b": ping\n\n", None),
        (b"retry: 1000\n\n", None),
        (b"event: ping\ndata: {}\n\n", None),
        (b'event: message_start\ndata: {"type":"message_start"}\n\n', None),
        (b'event: content_block_start\ndata: {"type":"content_block_start"}\n\n', None),
        (b'event: content_block_delta\ndata: {"type":"content_block_delta"}\n\n', CONTENT),
        (b'data: {"choices":[{"delta":{"content":"hi"}}]}\n\n', CONTENT),
        (b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error"}}\n\n', 529),
        (b'event: error\ndata: {"type":"error","error":{"type":"api_error"}}\n\n', 500),
        (b'event: error\ndata: {"type":"error","error":{"type":"rate_limit_error"}}\n\n', 429),
        (b'event: error\ndata: {"type":"error","error":{"type":"new_kind"}}\n\n', 500),
        (b'data: {"error":{"code":"rate_limit_exceeded","type":"x"}}\n\n', 429),
        (b'data: {"error":{"code":null,"type":"server_error"}}\n\n', 500),
        (b'data: {"choices":[]', None),  # incomplete: no verdict yet
    ],
)
def test_first_event_verdicts(body: bytes, want: int | None) -> None:
    assert _verdict(body) == want


def test_helpers() -> None:
    assert is_event_stream("text/event-stream; charset=utf-8")
    assert not is_event_stream("application/json") and not is_event_stream(None)
    assert error_status("overloaded_error") == 529 and error_status(None) == 500
    assert MAX_AHEAD == 65536


@given(st.lists(st.integers(1, 40), max_size=20))
def test_a_verdict_does_not_depend_on_how_the_bytes_are_cut(cuts: list[int]) -> None:
    body = (
        b": ping\n\nevent: message_start\ndata: {}\n\n"
        b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error"}}\n\n'
    )
    r, got, at = Reader(), None, 0
    for n in [*cuts, len(body)]:
        chunk, at = body[at : at + n], at + n
        if chunk:
            got = r.feed(chunk)
            if got is not None:
                break
    assert got == 529


def _anthropic(api: FakeLLMAPI, p: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key="sk-ant-test",
        base_url=api.url,
        max_retries=0,
        http_client=httpx2.Client(transport=transport.httpx2.RetryTransport(p)),
    )


def _text(stream: object) -> str:
    return "".join(
        e.delta.text  # type: ignore[attr-defined]
        for e in stream  # type: ignore[attr-defined]
        if e.type == "content_block_delta"
    )


def test_anthropic_overloaded_first_event_is_retried_transparently() -> None:
    with FakeLLMAPI() as api, transport.testing() as waits, _anthropic(api, "@anthropic") as c:
        api.fail_next("sse-error")
        with c.messages.stream(model="claude-fake", max_tokens=10, messages=MESSAGES) as s:
            text = _text(s)
        assert text == "hello from the fake api "
        assert len(api.seen) == 2 and len(waits) == 1  # the server saw two requests


def test_sse_off_hands_the_error_to_the_sdk() -> None:
    with FakeLLMAPI() as api, transport.testing(), _anthropic(api, "@anthropic sse=off") as c:
        api.fail_next("sse-error")
        with (
            pytest.raises(anthropic.APIStatusError),
            c.messages.stream(model="claude-fake", max_tokens=10, messages=MESSAGES) as s,
        ):
            _text(s)
        assert len(api.seen) == 1


def test_an_error_after_content_reaches_the_caller_as_the_sdk_s_error() -> None:
    with FakeLLMAPI() as api, transport.testing(), _anthropic(api, "@anthropic") as c:
        api.fail_next("sse-late-error")
        seen: list[str] = []
        with (
            pytest.raises(anthropic.APIStatusError),
            c.messages.stream(model="claude-fake", max_tokens=10, messages=MESSAGES) as s,
        ):
            for e in s:
                if e.type == "content_block_delta":
                    seen.append(e.delta.text)  # type: ignore[union-attr]
        assert seen == ["hello "]  # the content read ahead reached the caller, once
        assert len(api.seen) == 1


def test_openai_error_chunk_first_is_retried() -> None:
    with FakeLLMAPI() as api, transport.testing():
        client = openai.OpenAI(
            api_key="sk-test",
            base_url=api.base_url,
            max_retries=0,
            http_client=httpx2.Client(transport=transport.httpx2.RetryTransport("@openai")),
        )
        api.fail_next("sse-error")
        stream = client.chat.completions.create(model="gpt-fake", messages=MESSAGES, stream=True)  # type: ignore[arg-type]
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert text == "hello from the fake api "
        assert len(api.seen) == 2
