"""The real OpenAI and Anthropic SDKs, on httpx2, with a policy in one line.

Each test builds the SDK client exactly as docs/sdks.md shows --
``max_retries=0, http_client=httpx2.Client(transport=transport.httpx2.RetryTransport(p))``
-- and talks to ``tests/fake_llm_api.py`` on loopback: retries happen in the transport,
give-ups reach the caller as the SDK's own exception with the attempts on
``e.response.extensions["retry_attempts"]``, streams work, and nothing stacks (the server
sees exactly the policy's attempts).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2
import openai
import pytest
from fake_llm_api import FakeLLMAPI, go_duration

import transport
import transport.httpx2

MESSAGES: Any = [{"role": "user", "content": "hi"}]


@pytest.fixture
def api() -> Iterator[FakeLLMAPI]:
    with FakeLLMAPI() as fake:
        yield fake


def _openai(api: FakeLLMAPI, p: str = "@openai", **kw: Any) -> openai.OpenAI:
    return openai.OpenAI(
        api_key="sk-test",
        base_url=api.base_url,
        max_retries=kw.pop("max_retries", 0),
        http_client=httpx2.Client(transport=transport.httpx2.RetryTransport(p, **kw)),
    )


def _anthropic(api: FakeLLMAPI, p: str = "@anthropic", **kw: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key="sk-ant-test",
        base_url=api.url,
        max_retries=kw.pop("max_retries", 0),
        http_client=httpx2.Client(transport=transport.httpx2.RetryTransport(p, **kw)),
    )


def test_go_durations() -> None:
    assert [go_duration(s) for s in (0.25, 1.5, 360, 61.25)] == ["250ms", "1.5s", "6m0s", "1m1.25s"]


def test_openai_retries_429_and_500_in_the_transport(api: FakeLLMAPI) -> None:
    """429 (retry-after-ms) and 500, then 200: one SDK call, three requests, the waits
    the server asked for (test mode records them)."""
    api.fail_next("429-ms", "500")
    with transport.testing() as waits, _openai(api) as client:
        r = client.chat.completions.create(model="gpt-fake", messages=MESSAGES)
    assert r.choices[0].message.content == "hello from the fake api"
    assert api.statuses == [429, 500, 200]
    assert len(waits) == 2
    assert [h["x-stainless-retry-count"] for h in api.seen] == ["0", "0", "0"]


def test_openai_give_up_is_the_sdk_s_own_error(api: FakeLLMAPI) -> None:
    """A persistent 429: the policy's attempts, then openai.RateLimitError carrying them."""
    api.fail_next(*["429"] * 12)
    with (
        transport.testing(),
        _openai(api) as client,
        pytest.raises(openai.RateLimitError) as info,
    ):
        client.chat.completions.create(model="gpt-fake", messages=MESSAGES)
    attempts = transport.attempts_of(info.value)
    assert len(attempts) >= 3
    assert [a.label for a in attempts] == ["429"] * len(attempts)
    assert len(api.seen) == len(attempts)  # nothing stacks: the SDK sent the request once


def test_openai_stream(api: FakeLLMAPI) -> None:
    """A streamed completion after a 503 arrives whole."""
    api.fail_next("503")
    with transport.testing(), _openai(api) as client:
        stream = client.chat.completions.create(model="gpt-fake", messages=MESSAGES, stream=True)
        text = "".join(c.choices[0].delta.content or "" for c in stream)
    assert text.strip() == "hello from the fake api"
    assert api.statuses == [503, 200]


def test_anthropic_529_overloaded_then_ok_and_stream(api: FakeLLMAPI) -> None:
    api.fail_next("529", "529")
    with transport.testing() as waits, _anthropic(api) as client:
        m = client.messages.create(model="claude-fake", max_tokens=10, messages=MESSAGES)
        assert m.content[0].text == "hello from the fake api"  # type: ignore[union-attr]
        api.fail_next("529")
        with client.messages.stream(model="claude-fake", max_tokens=10, messages=MESSAGES) as s:
            text = "".join(s.text_stream)
    assert text.strip() == "hello from the fake api"
    assert api.statuses == [529, 529, 200, 529, 200]
    assert len(waits) == 3


def test_anthropic_give_up_is_overloaded_error(api: FakeLLMAPI) -> None:
    """@anthropic gives up a persistent 529 after its retries: anthropic's OverloadedError."""
    api.fail_next(*["529"] * 8)
    with (
        transport.testing(),
        _anthropic(api) as client,
        pytest.raises(anthropic.APIStatusError) as info,
    ):
        client.messages.create(model="claude-fake", max_tokens=10, messages=MESSAGES)
    assert info.value.status_code == 529
    assert isinstance(info.value, anthropic.OverloadedError)
    attempts = transport.attempts_of(info.value)
    assert [a.label for a in attempts] == ["529"] * len(api.seen)
    assert len(attempts) >= 2


def test_anthropic_429_waits_for_the_rfc3339_reset() -> None:
    """A request quota of 2 per 2 s: the third call is held until the reset (pace=on)
    and never sees a 429."""
    with FakeLLMAPI(requests_per_window=2, window=2.0) as api:
        with _anthropic(api, "@anthropic pace=on") as client:
            for _ in range(3):
                client.messages.create(model="claude-fake", max_tokens=5, messages=MESSAGES)
        assert api.statuses == [200, 200, 200]


def test_openai_pacing_on_go_durations_prevents_429s() -> None:
    """x-ratelimit-remaining-requests / -reset-requests (Go durations): with pace=on the
    transport holds the fourth call until the window resets -- no 429."""
    with FakeLLMAPI(requests_per_window=3, window=1.5) as api:
        with _openai(api, "@openai pace=on") as client:
            for _ in range(5):
                client.chat.completions.create(model="gpt-fake", messages=MESSAGES)
        assert api.count(429) == 0
        assert api.count(200) == 5


def test_sdk_retries_on_top_warn_once(api: FakeLLMAPI, caplog: pytest.LogCaptureFixture) -> None:
    """max_retries left on: the SDK's retry carries x-stainless-retry-count: 1 -> one
    WARNING per transport naming max_retries=0, however many requests follow."""
    api.fail_next(*["500"] * 6)
    caplog.set_level(logging.WARNING, logger="policy")
    with transport.testing(), _openai(api, "5xx:backoff(1,10ms)", max_retries=2) as client:
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="gpt-fake", messages=MESSAGES)
        client.chat.completions.create(model="gpt-fake", messages=MESSAGES)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "max_retries=0" in warnings[0].getMessage()
    assert api.statuses.count(500) == 6  # 3 SDK attempts x 2 policy attempts: stacked


def test_async_clients(api: FakeLLMAPI) -> None:
    """AsyncOpenAI and AsyncAnthropic with httpx2.AsyncClient and AsyncRetryTransport."""

    async def main() -> tuple[str | None, str]:
        oa = openai.AsyncOpenAI(
            api_key="sk-test",
            base_url=api.base_url,
            max_retries=0,
            http_client=httpx2.AsyncClient(
                transport=transport.httpx2.AsyncRetryTransport("@openai pace=on")
            ),
        )
        an = anthropic.AsyncAnthropic(
            api_key="sk-ant-test",
            base_url=api.url,
            max_retries=0,
            http_client=httpx2.AsyncClient(
                transport=transport.httpx2.AsyncRetryTransport("@anthropic pace=on")
            ),
        )
        async with oa, an:
            api.fail_next("500")
            r = await oa.chat.completions.create(model="gpt-fake", messages=MESSAGES)
            api.fail_next("529")
            chunks = []
            stream = await an.messages.create(
                model="claude-fake", max_tokens=5, messages=MESSAGES, stream=True
            )
            async for event in stream:
                if event.type == "content_block_delta":
                    chunks.append(event.delta.text)  # type: ignore[union-attr]
            api.fail_next(*["429"] * 12)
            with pytest.raises(openai.RateLimitError) as info:
                await oa.chat.completions.create(model="gpt-fake", messages=MESSAGES)
            attempts = transport.attempts_of(info.value)
            assert len(attempts) == len(api.seen) - 4
        return r.choices[0].message.content, "".join(chunks)

    with transport.testing():
        content, text = asyncio.run(main())
    assert content == "hello from the fake api"
    assert text.strip() == "hello from the fake api"
    assert api.statuses[:4] == [500, 200, 529, 200]
    assert set(api.statuses[4:]) == {429}
