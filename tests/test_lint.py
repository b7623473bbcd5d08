"""The lint rules of SPEC §4: each code with a policy that triggers it and one that does not."""

from __future__ import annotations

import pytest
from hypothesis import given
from strategies import policies, policy_text

import policy
from policy.check._lint import Diagnostic, lint
from policy.check._rules import NO_HEAL, RULES
from policy.language._presets import PRESETS, Preset

# (code, policy, the text the diagnostic's caret covers)
TRIGGERS = [
    ("E001", "5xx:backof(3)", "backof"),
    ("E001", "5xx : never", " "),
    ("E002", "5xx:backoff(3,30s..1s,jitter)", "30s"),
    ("E002", "700:never", "700"),
    ("E002", "timeout=5m", "5m"),
    ("E002", "@nosuchpreset", "nosuchpreset"),
    ("W101", "5xx:backoff(3,1s..8s,x2)", "backoff(3,1s..8s,x2)"),
    ("W101", "500:backoff(2,1s)", "backoff(2,1s)"),
    (
        "W102",
        "503:never 5xx:backoff(3,1s..8s,x2,jitter) 500-599:never",
        "5xx:backoff(3,1s..8s,x2,jitter)",
    ),
    ("W102", "429:never 429:headers()", "429:never"),
    ("W103", "404:backoff(2,1s,jitter)", "404"),
    ("W103", "400-410:backoff(2,1s,jitter)", "400-410"),
    ("W103", "501:backoff(2,1s,jitter)", "501"),
    ("W104", "429:backoff(2,1s,jitter)", "429"),
    ("W104", "500-503:backoff(2,1s,jitter)", "500-503"),
    ("W105", "5xx:backoff(5,10s,jitter) deadline=30s", "deadline=30s"),
    ("W106", "5xx:never timeout=30s deadline=30s", "timeout=30s"),
    ("W107", "5xx:backoff(11,1s..2s,jitter)", "backoff(11,1s..2s,jitter)"),
    ("W107", "429:headers(x-ratelimit-*,20)", "headers(x-ratelimit-*,20)"),
    ("W108", "reset:backoff(2,1s,jitter)", "reset"),
    ("W108", "5xx:never timeout:backoff(2,1s,jitter) methods=*", "timeout"),
    ("W109", "5xx:backoff(3,2s,jitter)", "backoff(3,2s,jitter)"),
    (
        "W109",
        "5xx:backoff(3, 2s..2s, x2, jitter=decorrelated)",
        "backoff(3, 2s..2s, x2, jitter=decorrelated)",
    ),
    ("W110", "5xx:backoff(3,0s..10s,x2)", "backoff(3,0s..10s,x2)"),
    ("W110", "5xx:backoff(3,0ms..1s,x1.5,jitter)", "backoff(3,0ms..1s,x1.5,jitter)"),
    ("W111", "5xx:backoff(3,jitter)", "5xx"),
    ("W111", "429:headers() 500-504,timeout:backoff(2,jitter)", "500-504"),
    ("W112", "5xx:backoff(3,jitter) breaker=3", "breaker=3"),
    ("W112", "timeout:backoff(2,jitter) attempts=3 breaker=3/open=10s", "breaker=3/open=10s"),
    # each rule counts its own retries: 1 + 2 + 2 failed attempts in one call
    ("W112", "5xx:backoff(2,jitter) timeout:backoff(2,jitter) breaker=5", "breaker=5"),
    # a ratio whose min= one call's failures reach alone
    ("W112", "5xx:backoff(4,jitter) breaker=50%/min=5", "breaker=50%/min=5"),
    ("W112", "all:backoff(5,jitter) breaker=3", "breaker=3"),
    ("W112", "429:headers() breaker=1", "breaker=1"),  # any first attempt can fail
    ("I201", "5xx:never", "5xx:never"),
    ("I203", "5xx:backoff(2,1s,jitter) budget=20%", "budget=20%"),
    ("I204", "5xx:backoff(2,1s,jitter) pace=on", "pace=on"),
    ("I205", "@openai 5xx:backoff(3,1s,jitter)", "5xx:backoff(3,1s,jitter)"),
    ("I206", "5xx:backoff(2,1s,jitter) budget=20% breaker=50%", "breaker=50%"),
]

# (code, a policy close to the trigger that must not raise it)
CLEAN = [
    ("E001", "5xx:backoff(3)"),
    ("E002", "5xx:backoff(3,1s..30s,jitter)"),
    ("W101", "5xx:backoff(3,1s..8s,x2,jitter)"),
    ("W101", "5xx:backoff(0,1s..8s)"),  # grants no retry
    ("W101", "5xx:never"),
    ("W102", "503:never 5xx:backoff(3,1s..8s,x2,jitter)"),
    ("W102", "5xx:backoff(3,1s..8s,x2,jitter) 503:never"),
    ("W103", "404:never 4xx:backoff(2,1s,jitter)"),
    ("W103", "4xx:backoff(2,1s,jitter)"),  # a whole class is a deliberate choice
    ("W103", "402-403:backoff(2,1s,jitter)"),  # narrow, but no status that never heals
    ("W103", "404-408:backoff(2,1s,jitter) 404:never 405:never"),  # carved out
    ("I203", "5xx:backoff(2,1s,jitter)"),
    ("I204", "429:headers() 5xx:backoff(2,1s,jitter) pace=on"),
    ("I205", "@openai 5xx:backoff(3,1s,jitter) attempts=4"),
    ("I204", "5xx:backoff(2,1s,jitter) pace=off"),
    ("W104", "429:headers()|backoff(2,1s,jitter)"),
    ("W104", "5xx:backoff(2,1s,jitter)"),
    ("W104", "503:never"),
    ("W105", "5xx:backoff(2,10s,jitter) deadline=30s"),
    ("W105", "5xx:backoff(5,10s,jitter)"),
    ("W106", "5xx:never timeout=10s deadline=30s"),
    ("W107", "5xx:backoff(10,1s..2s,jitter)"),
    ("W108", "reset:backoff(2,1s,jitter) methods=GET,PUT"),
    ("W108", "reset:never timeout:never"),
    ("W108", "connect:backoff(2,1s,jitter)"),  # the request never left
    ("W109", "5xx:backoff(3,2s..4s,x1,jitter)"),  # the window form spreads
    ("W109", "5xx:backoff(3,2s)"),  # no jitter at all: W101's finding
    ("W110", "5xx:backoff(3,1ms..10s,x2)"),
    ("W110", "5xx:backoff(3,0s)"),  # a deliberate immediate retry, no factor
    ("W111", "5xx[idempotent]:backoff(3,jitter)"),
    ("W111", "5xx:backoff(3,jitter) methods=GET,PUT"),
    ("W111", "429,408:backoff(3,jitter)"),
    ("W111", "5xx:never"),
    ("W112", "5xx:backoff(3,jitter) breaker=5"),
    ("W112", "5xx:backoff(9,jitter) attempts=3 breaker=4"),
    ("W112", "5xx:backoff(2,jitter) timeout:backoff(2,jitter) breaker=6"),
    ("W112", "5xx:backoff(4,jitter) breaker=50%/min=6"),
    # a rule shadowed for 5xx retries no 5xx; a 429 is not a failure
    ("W112", "5xx:backoff(3,jitter) 5xx:backoff(1,jitter) breaker=5"),
    ("W112", "5xx,429:backoff(5,jitter) 5xx:backoff(1,jitter) breaker=5"),
    ("W112", "5xx:backoff(2,jitter) timeout:backoff(2,jitter) attempts=4 breaker=5"),
    ("W112", "5xx:backoff(3,jitter) breaker=50%"),
    ("W112", "429:headers() breaker=2"),
    ("I206", "5xx:backoff(2,1s,jitter) breaker=50%"),
    ("I206", "5xx:backoff(2,1s,jitter) budget=20%"),
]


def _covered(text: str, d: Diagnostic) -> str:
    line = text.split("\n")[d.line - 1]
    return line[d.column - 1 : d.end_column - 1]


@pytest.mark.parametrize(("code", "text", "span"), TRIGGERS)
def test_rule_triggers_with_its_position(code: str, text: str, span: str) -> None:
    """Each rule fires on its example, and its caret covers the offending part."""
    found = [d for d in lint(text) if d.code == code]
    assert found, f"{code} not raised for {text!r}: {lint(text)}"
    assert span in [_covered(text, d) for d in found]
    assert all(d.severity == RULES[code][0] for d in found)


@pytest.mark.parametrize(("code", "text"), CLEAN)
def test_rule_stays_quiet_when_it_should(code: str, text: str) -> None:
    """A policy that avoids a rule's mistake gets no finding of that code."""
    assert [d for d in lint(text) if d.code == code] == []


def test_every_code_has_a_trigger_and_a_clean_case() -> None:
    """The tables above cover every code of the catalogue (I202 is tested with a preset)."""
    assert {c for c, *_ in TRIGGERS} | {"I202"} == set(RULES)
    assert {c for c, _ in CLEAN} >= {c for c in RULES if c[0] == "W"}


@pytest.mark.parametrize(
    "text",
    [
        "5xx:backoff(3,2s)",
        "5xx:backoff(3,2s,jitter)",
        "5xx:backoff(3,168h,jitter=equal)",
        "5xx:backoff(3,0s..10s,x2)",
        "5xx:backoff(3,0s..50ms,x2,jitter=scale)",
        "5xx:backoff(3,1s..30s,x2)",
    ],
)
def test_jitter_suggestions_fix_what_they_flag(text: str) -> None:
    """The backoff W101, W109 and W110 suggest is free of all three and spreads its first
    retry (a fixed delay becomes the window [d, 2·d])."""
    (d,) = [d for d in lint(text) if d.code in {"W101", "W109", "W110"}]
    better = d.message.rsplit("(backoff(", 1)[1][:-1]
    fixed = f"5xx:backoff({better}"
    assert [x.code for x in lint(fixed) if x.code in {"W101", "W109", "W110"}] == []
    first = policy.parse(fixed).schedule(policy.Response(503))[0]
    assert first.min < first.max


def test_a_good_policy_has_only_the_info_line() -> None:
    """The README's example with jitter and headers is clean but for I201."""
    text = "429:headers(x-ratelimit-*) 5xx:backoff(5,1s..30s,x1.8,jitter) methods=GET"
    assert [d.code for d in lint(text)] == ["I201"]


def test_worst_case_info_in_policy_notation() -> None:
    """I201 states the longest total wait (full jitter's windows top out at 2, 4, 4 s) and
    the request count (1 + 3)."""
    (info,) = [d for d in lint("5xx:backoff(3,1s..4s,x2,jitter)") if d.code == "I201"]
    assert "4 requests" in info.message
    assert "10s of waiting" in info.message


def test_worst_case_wait_in_larger_units() -> None:
    """Waits of minutes are written in minutes, as the policy would write them."""
    (info,) = [d for d in lint("5xx:backoff(3,30s,jitter)") if d.code == "I201"]
    assert "1.5m of waiting" in info.message


def test_budget_info_counts_requests() -> None:
    """I203 says what the budget allows: the floor plus pct retries per 100 requests."""
    (info,) = [d for d in lint("5xx:backoff(2,1s,jitter) budget=20%") if d.code == "I203"]
    assert "at most 10 + 20 retries per 100 requests per origin in any 10s" in info.message
    assert "210 per 1000" in info.message
    (half,) = [d for d in lint("budget=12.5%") if d.code == "I203"]
    assert "10 + 12.5 retries per 100" in half.message


def test_every_problem_of_a_bad_policy_is_reported() -> None:
    """A text with a syntax error and a bad value reports both, in order."""
    text = "5xx:backof(3) 700:never"
    got = [(d.code, d.column) for d in lint(text)]
    assert got == [("E001", 5), ("E002", 15)]


def test_lint_accepts_a_policy_object() -> None:
    """A parsed Policy lints the same as its text."""
    text = "503:backoff(3) timeout=30s deadline=30s"
    assert lint(policy.parse(text)) == lint(text)


def test_lint_of_a_hand_built_policy_without_positions() -> None:
    """A policy built without spans gets its findings at line 1, column 1."""
    p = policy.Policy([policy.Rule([policy.StatusCode(404)], [policy.Backoff(limit=2)])])
    codes = {d.code: d for d in lint(p)}
    assert {"W101", "W103", "I201"} <= set(codes)
    assert (codes["W103"].line, codes["W103"].column) == (1, 1)


def test_w103_names_every_no_heal_status() -> None:
    """Every status SPEC §4 lists as not healing is flagged when named exactly."""
    for status in NO_HEAL:
        text = f"{status}:backoff(1,1s,jitter)"
        assert any(d.code == "W103" and str(status) in d.message for d in lint(text)), status


def test_w102_names_the_rules_that_decide_instead() -> None:
    """A shadowed rule's message says which rules take its outcomes."""
    (d,) = [d for d in lint("5xx:never 5xx:backoff(2,1s,jitter)") if d.code == "W102"]
    assert "5xx:backoff(2,1s,jitter)" in d.message
    assert d.column == 1


def test_preset_rules_are_not_second_guessed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A preset's own rules get no W findings: the preset is curated."""
    monkeypatch.setitem(
        PRESETS, "lintdemo", Preset("lintdemo", "503:backoff(20,1s)", "a test preset")
    )
    codes = {d.code for d in lint("@lintdemo 5xx:never")}
    assert not {"W101", "W104", "W107"} & codes


def test_later_rule_partly_effective_after_a_preset(monkeypatch: pytest.MonkeyPatch) -> None:
    """I202: a later 5xx rule still loses 503 to a narrower preset rule (SPEC §1.2)."""
    monkeypatch.setitem(
        PRESETS, "lintpartly", Preset("lintpartly", "503:headers()", "a test preset")
    )
    text = "@lintpartly 5xx:never"
    (d,) = [d for d in lint(text) if d.code == "I202"]
    assert "503" in d.message
    assert _covered(text, d) == "5xx:never"
    assert not [d for d in lint("@lintpartly 503:never") if d.code == "I202"]


@given(policy_text())
def test_lint_never_raises_on_grammar_text(text: str) -> None:
    """Any text from the grammar lints without raising; E codes exactly when parse fails."""
    found = lint(text)
    assert all(d.code in RULES for d in found)
    try:
        policy.parse(text)
    except policy.PolicyError:
        assert any(d.severity == "error" for d in found)
    else:
        assert not any(d.severity == "error" for d in found)
        assert [d.code for d in found].count("I201") == 1


@given(policies())
def test_findings_lie_inside_the_canonical_text(p: policy.Policy) -> None:
    """Every finding on a canonical policy points at a non-empty slice of its one line."""
    text = str(p)
    for d in lint(text):
        assert d.line == 1
        assert 1 <= d.column < d.end_column <= max(len(text), 1) + 1


def test_every_code_is_in_the_catalogue() -> None:
    """docs/lint.md has a section, with an example, for every code the linter can emit."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "lint.md").read_text("utf-8")
    for code in RULES:
        section = doc.split(f"\n## {code} ", 1)
        assert len(section) == 2, code
        assert f'"{code}"' in section[1].split("\n## ", 1)[0], code
