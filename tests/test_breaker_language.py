"""``breaker=`` and ``pace=adaptive`` in the language: parse, errors, render, equality."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import breaker_settings, policies

import policy
from policy import BreakerSetting, PaceSetting, Policy
from policy.language._fastparse import fast_raw
from policy.language._parse import parse_with_lark


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("breaker=5", "breaker=5"),
        ("breaker=50%", "breaker=50%"),
        ("breaker=50%/1m/open=10s", "breaker=50%/1m/open=10s"),
        ("BREAKER=50%/OPEN=10s/60s", "breaker=50%/1m/open=10s"),
        ("breaker=50%/30s/open=30s/min=20/probes=1", "breaker=50%"),
        ("breaker=50%/probes=2/min=5/90s", "breaker=50%/1.5m/min=5/probes=2"),
        ("breaker=3/open=1500ms", "breaker=3/open=1.5s"),
        ("pace=adaptive", "pace=adaptive"),
        (
            "Pace=ADAPTIVE breaker=1 5xx:backoff(2)",
            "pace=adaptive breaker=1 5xx:backoff(2,1s..1m,x1.8)",
        ),
    ],
)
def test_canonical_form(text: str, canonical: str) -> None:
    """The first part, then options that differ from their defaults: window, open, min,
    probes; both parsers agree; the canonical text is a fixed point."""
    p = policy.parse(text)
    assert str(p) == canonical
    assert parse_with_lark(text) == p
    assert str(policy.parse(canonical)) == canonical


def test_policy_reads_them() -> None:
    p = policy.parse("breaker=50%/1m/open=10s/min=8/probes=3 pace=adaptive")
    assert p.breaker == BreakerSetting(50, True, window_ms=60_000, open_ms=10_000, min=8, probes=3)
    assert p.adaptive and p.pace
    q = policy.parse("pace=on")
    assert q.pace and not q.adaptive and q.breaker is None
    assert not policy.parse("").adaptive


def test_equality() -> None:
    """Options equal to their defaults are their absence; pace=adaptive is not pace=on."""
    assert policy.parse("breaker=5/open=30s/probes=1") == policy.parse("breaker=5")
    assert policy.parse("breaker=5") != policy.parse("breaker=5%")
    assert policy.parse("breaker=5") != policy.parse("breaker=6")
    assert policy.parse("pace=adaptive") != policy.parse("pace=on")
    assert policy.parse("breaker=5 5xx:never") == policy.parse("5xx:never breaker=5")


@pytest.mark.parametrize(
    ("text", "column", "end_column", "words"),
    [
        ("breaker=5/1m", 11, 13, "only for a ratio"),
        ("breaker=5/min=3", 11, 16, "only for a ratio"),
        ("breaker=0", 9, 10, "between 1 and"),
        ("breaker=101%", 9, 13, "between 1% and 100%"),
        ("breaker=50.5%", 9, 14, "whole number"),
        ("breaker=50%/open=0s", 18, 20, "more than 0s"),
        ("breaker=50%/opn=1s", 13, 16, "did you mean 'open'"),
        ("breaker=50%/1m/2m", 16, 18, "given twice"),
        ("breaker=50%/500ms", 13, 18, "at least 1s"),
        ("breaker=50%/30", 13, 15, "missing unit"),
        ("breaker=50%/probes=0", 20, 21, "between 1 and 1,000"),
        ("breaker=x", 9, 10, "breaker=5"),
        ("breaker=5,6", 11, 12, "one value"),
        ("timeout=1s/2s", 12, 14, "only breaker= has them"),
        ("pace=adaptiv", 6, 13, "did you mean 'adaptive'"),
        ("breaker=5 breaker=6", 11, 18, "given twice"),
        ("breaker=5/", 10, 11, "ends too early"),
    ],
)
def test_errors_are_positioned(text: str, column: int, end_column: int, words: str) -> None:
    with pytest.raises(policy.PolicyError) as info:
        policy.parse(text)
    err = info.value
    assert words in str(err), str(err)
    assert (err.line, err.column, err.end_column) == (1, column, end_column), str(err)


def test_a_breaker_n_refuses_ratio_fields_by_hand() -> None:
    with pytest.raises(ValueError, match="only for breaker=P%"):
        BreakerSetting(5, window_ms=60_000)
    with pytest.raises(ValueError):
        BreakerSetting(101, True)
    with pytest.raises(ValueError):
        PaceSetting(False, adaptive=True)


@given(breaker_settings())
def test_breaker_round_trips(b: BreakerSetting) -> None:
    """parse(render(p)) == p for every valid breaker, by both parsers."""
    p = Policy([b])
    text = str(p)
    assert policy.parse(text) == p
    assert parse_with_lark(text) == p
    assert policy.parse(text).breaker == b


@given(policies())
def test_policies_round_trip(p: Policy) -> None:
    assert policy.parse(str(p)) == p


@given(
    st.sampled_from(["5", "50%", "x", "1m"]),
    st.lists(
        st.sampled_from(["1m", "30s", "open=10s", "min=3", "probes=2", "open", "=", "/", "5%"]),
        max_size=4,
    ),
)
def test_both_parsers_read_options_alike(first: str, parts: list[str]) -> None:
    """The fast parser reads what Lark reads, or declines (Lark then gives the error)."""
    text = "breaker=" + "/".join([first, *parts])
    fast = fast_raw(text)
    try:
        slow = parse_with_lark(text)
    except policy.PolicyError:
        slow = None
        if fast is not None:  # well formed, invalid: the same error by both
            with pytest.raises(policy.PolicyError):
                policy.parse(text)
        return
    assert policy.parse(text) == slow


def test_seed_options_refuse_them_by_name() -> None:
    with pytest.raises(policy.PolicyValueError) as info:
        policy.parse("5xx:backoff(3) breaker=50%/1m pace=adaptive").to_options()
    assert "breaker=50%/1m has no seed option" in str(info.value)
    assert "pace=adaptive has no seed option" in str(info.value)
