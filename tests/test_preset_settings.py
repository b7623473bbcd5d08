"""Presets that carry settings: ``@openai`` and ``@anthropic`` carry ``attempts=3 sse=on``.

A setting written in the policy wins (and settles a conflict between presets); two presets
that disagree with no written setting are a positioned error naming both; the canonical
form keeps what was written; equality compares the expanded rules and the settings in
force; ``policy explain`` and ``policy check`` say what is inherited; the real SDKs, on a
persistent 429 or 529, see three requests, as with their own two retries.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import anthropic
import httpx2
import openai
import pytest
from fake_llm_api import FakeLLMAPI
from hypothesis import given
from hypothesis import strategies as st

import policy
import transport
import transport.httpx2
from policy import PRESETS, PolicyValueError
from policy.cli import main
from policy.language._parse import expand, preset_settings
from policy.language._validate import build_policy

CARRIERS = ("openai", "anthropic")
NAMES = sorted(PRESETS)
MESSAGES: Any = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize("name", CARRIERS)
def test_the_sdk_presets_carry_attempts_3_and_sse_on(name: str) -> None:
    p = policy.parse(f"@{name}")
    assert (p.attempts, p.sse) == (3, True)
    assert str(p) == f"@{name}"  # the canonical form keeps what was written
    assert p == policy.parse(f"@{name} attempts=3 sse=on")
    assert p == policy.parse(f"{PRESETS[name].text} attempts=3 sse=on")  # expanded rules
    assert p != policy.parse(PRESETS[name].text)  # without the settings in force
    assert p.settings == preset_settings(PRESETS[name])
    assert {(type(s).__name__, n) for s, n in p.inherited} == {
        ("AttemptsSetting", name),
        ("SseSetting", name),
    }
    assert p.worst_case().requests == 3


@pytest.mark.parametrize("name", CARRIERS)
def test_a_written_setting_wins(name: str) -> None:
    p = policy.parse(f"attempts=5 @{name} sse=off")
    assert (p.attempts, p.sse) == (5, False)
    assert p.inherited == ()
    assert str(p) == f"attempts=5 @{name} sse=off"
    assert p == policy.parse(f"{PRESETS[name].text} attempts=5")
    assert p.worst_case().requests == 5


def test_presets_without_settings_inherit_nothing() -> None:
    for name in NAMES:
        if PRESETS[name].settings:
            continue
        p = policy.parse(f"@{name}")
        assert p.inherited == () and p.attempts is None and not p.sse


class _Lookup:
    """A rules library with two presets that disagree on attempts= (none ships one)."""

    def __init__(self, settings: dict[str, str]) -> None:
        self._settings = settings

    def names(self) -> Sequence[str]:
        return list(self._settings)

    def rules(self, name: str) -> tuple[policy.Rule, ...] | None:
        return expand(PRESETS["standard"]) if name in self._settings else None

    def settings(self, name: str) -> tuple[Any, ...]:
        return tuple(policy.parse(self._settings[name]).items)


def _build(text: str, settings: dict[str, str]) -> policy.Policy:
    from policy.language._parse import _fast_raw, _lark_raw

    raw = _fast_raw(text) or _lark_raw(text)
    return build_policy(text, raw, _Lookup(settings))


def test_two_presets_that_disagree_are_an_error_naming_both() -> None:
    lib = {"a": "attempts=3 sse=on", "b": "attempts=5 sse=on"}
    with pytest.raises(PolicyValueError) as info:
        _build("@a 5xx:never @b", lib)
    message = str(info.value)
    assert "@a sets attempts=3 and @b sets attempts=5" in message
    assert (info.value.line, info.value.column) == (1, 15)  # at the second preset
    # a written setting settles it, wherever it is written
    for text in ("@a @b attempts=4", "attempts=4 @a @b"):
        p = _build(text, lib)
        assert p.attempts == 4 and p.sse
        assert [type(s).__name__ for s, _ in p.inherited] == ["SseSetting"]
    # agreeing presets are no conflict; the first one is named as the source
    p = _build("@a @b attempts=4", {"a": "sse=on", "b": "sse=on"})
    assert p.inherited[0][1] == "a"
    # the Policy constructor refuses the conflict too
    a, b = _build("@a", lib).items[0], _build("@b", lib).items[0]
    with pytest.raises(ValueError, match="@a sets attempts=3 and @b sets attempts=5"):
        policy.Policy([a, b])


@given(
    presets=st.lists(st.sampled_from(["a", "b", "c"]), max_size=3, unique=True),
    values=st.fixed_dictionaries(
        {k: st.sampled_from(["", "attempts=2", "attempts=4", "sse=on"]) for k in "abc"}
    ),
    written=st.sampled_from(["", "attempts=7", "sse=off", "attempts=2 sse=on"]),
)
def test_the_setting_in_force(presets: list[str], values: dict[str, str], written: str) -> None:
    """Written wins; else the first preset that sets it; two that disagree: an error."""
    text = " ".join([*(f"@{n}" for n in presets), written]).strip()
    if not text:
        return
    mine = {type(s): s for s in policy.parse(written).items} if written else {}
    given_by: dict[type, list[Any]] = {}
    for n in presets:
        for s in policy.parse(values[n]).items if values[n] else ():
            given_by.setdefault(type(s), []).append(s)
    clash = any(t not in mine and len(set(v)) > 1 for t, v in given_by.items())
    if clash:
        with pytest.raises(PolicyValueError, match="sets"):
            _build(text, values)
        return
    p = _build(text, values)
    for kind, setting in mine.items():
        assert p._setting(kind) == setting
    for kind, options in given_by.items():
        if kind not in mine:
            assert p._setting(kind) == options[0]
    expected = policy.Policy(
        [*p.rules, *mine.values(), *(v[0] for t, v in given_by.items() if t not in mine)]
    )
    assert p == expected and hash(p) == hash(expected)


def test_to_options_names_the_preset_of_an_inherited_setting() -> None:
    with pytest.raises(PolicyValueError) as info:
        policy.parse("@openai").to_options()
    message = str(info.value)
    assert "attempts=3 (from @openai) has no seed option" in message
    assert "sse=on (from @openai) has no seed option" in message
    # a written sse=off settles sse=; attempts= is still the preset's
    with pytest.raises(PolicyValueError) as info:
        policy.parse("@openai sse=off").to_options()
    assert "sse=on" not in str(info.value)


def test_explain_lists_each_inherited_setting(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "@anthropic attempts=4"]) == 0
    out = capsys.readouterr().out
    assert "sse=on  (from @anthropic" in out
    assert "attempts=3" not in out and "capped by attempts=4" in out
    assert main(["explain", "--json", "@openai"]) == 0
    model = json.loads(capsys.readouterr().out)
    assert model["inherited"] == [
        {"setting": "attempts=3", "preset": "openai"},
        {"setting": "sse=on", "preset": "openai"},
    ]
    assert model["attempts"] == 3 and model["sse"] is True


# --- the real SDKs: a persistent failure costs three requests, as their own retries -------


def _openai(api: FakeLLMAPI, p: str) -> openai.OpenAI:
    return openai.OpenAI(
        api_key="sk-test",
        base_url=api.base_url,
        max_retries=0,
        http_client=httpx2.Client(transport=transport.httpx2.RetryTransport(p)),
    )


def _anthropic(api: FakeLLMAPI, p: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key="sk-ant-test",
        base_url=api.url,
        max_retries=0,
        http_client=httpx2.Client(transport=transport.httpx2.RetryTransport(p)),
    )


@pytest.mark.parametrize(("written", "sent"), [("", 3), (" attempts=5", 5)])
def test_openai_persistent_429_costs_three_requests(written: str, sent: int) -> None:
    with FakeLLMAPI() as api, transport.testing(), _openai(api, "@openai" + written) as client:
        api.fail_next(*["429"] * 12)
        with pytest.raises(openai.RateLimitError) as info:
            client.chat.completions.create(model="gpt-fake", messages=MESSAGES)
        assert api.statuses == [429] * sent
        assert len(info.value.response.extensions["retry_attempts"]) == sent


@pytest.mark.parametrize(("written", "sent"), [("", 3), (" attempts=4", 4)])
def test_anthropic_persistent_529_costs_three_requests(written: str, sent: int) -> None:
    with FakeLLMAPI() as api, transport.testing(), _anthropic(api, "@anthropic" + written) as c:
        api.fail_next(*["529"] * 12)
        with pytest.raises(anthropic.InternalServerError) as info:
            c.messages.create(model="claude-fake", max_tokens=10, messages=MESSAGES)
        assert info.value.status_code == 529
        assert api.statuses == [529] * sent


def test_persistent_429_with_anthropic_costs_three_requests() -> None:
    with FakeLLMAPI() as api, transport.testing(), _anthropic(api, "@anthropic") as c:
        api.fail_next(*["429"] * 12)
        with pytest.raises(anthropic.RateLimitError):
            c.messages.create(model="claude-fake", max_tokens=10, messages=MESSAGES)
        assert api.statuses == [429] * 3
