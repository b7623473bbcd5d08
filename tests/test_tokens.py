"""``transport.estimate_tokens``: prompt characters / 4 (rounded up) + the completion budget."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import transport
from transport import estimate_tokens


def test_openai_chat_body_bytes_and_dict_agree() -> None:
    body = {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are terse."},  # 14 characters
            {"role": "user", "content": [{"type": "text", "text": "Say hi" * 10}]},  # 60
        ],
        "max_completion_tokens": 100,
        "max_tokens": 7,  # the older name: max_completion_tokens wins
    }
    expected = math.ceil((14 + 60) / 4) + 100
    assert estimate_tokens(body) == expected
    assert estimate_tokens(json.dumps(body).encode()) == expected
    assert estimate_tokens(json.dumps(body)) == expected
    assert estimate_tokens(bytearray(json.dumps(body).encode())) == expected


def test_anthropic_messages_body() -> None:
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "system": [{"type": "text", "text": "x" * 40}],
        "messages": [
            {"role": "user", "content": "y" * 401},
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": {"type": "base64", "data": "A" * 10_000}},
                    {"type": "text", "text": "z" * 3},
                ],
            },
        ],
    }
    assert estimate_tokens(json.dumps(body).encode()) == math.ceil(444 / 4) + 1024


def test_completions_and_responses_bodies() -> None:
    assert estimate_tokens({"prompt": "a" * 8, "max_tokens": 2}) == 4
    assert estimate_tokens({"input": ["abcd", "efgh"], "max_output_tokens": 10}) == 12
    assert estimate_tokens({"input": "abcde", "instructions": "abc"}) == 2


@pytest.mark.parametrize(
    "body",
    [None, b"", b"not json", b"[1, 2]", "null", b"\xff\xfe", {"model": "m"}, {"max_tokens": -5}],
)
def test_bodies_without_a_prompt_or_budget_are_zero(body: Any) -> None:
    assert estimate_tokens(body) == 0


def test_deeply_nested_bodies_are_bounded() -> None:
    nested = '{"messages": ' + "[" * 500 + '"abcd"' + "]" * 500 + "}"
    assert estimate_tokens(nested) == 0  # deeper than any real body: not counted
    text = '{"messages": ' + "[" * 100_000 + "]" * 100_000 + "}"
    assert estimate_tokens(text) == 0  # too deep for JSON: not a body we can read


@given(
    texts=st.lists(st.text(max_size=200), max_size=8),
    budget=st.integers(0, 100_000),
    key=st.sampled_from(["max_tokens", "max_completion_tokens", "max_output_tokens"]),
)
def test_estimate_is_prompt_characters_over_four_plus_budget(
    texts: list[str], budget: int, key: str
) -> None:
    """For any chat body: ceil(characters of the contents / 4) + the budget, whether the
    body is given as a dict or as its JSON bytes."""
    body = {"messages": [{"role": "user", "content": t} for t in texts], key: budget}
    expected = math.ceil(sum(len(t) for t in texts) / 4) + budget
    assert estimate_tokens(body) == expected
    assert estimate_tokens(json.dumps(body).encode()) == expected


def test_import_transport_stays_light() -> None:
    """``transport.estimate_tokens`` is loaded on first use, with nothing heavy."""
    code = (
        "import sys, transport; assert 'transport._tokens' not in sys.modules; "
        "transport.estimate_tokens({}); "
        "assert not {'httpx', 'aiohttp', 'redis', 'celery'} & set(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert "estimate_tokens" in transport.__all__
