"""The ``error`` matcher and the ``policy.Error`` outcome: parse, render, decide, lint, options."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import policy
from policy.check._lint import lint
from policy.language._parse import parse_with_lark


def test_error_parses_renders_and_round_trips() -> None:
    """`error` is a matcher of its own, lower case in the canonical form, on both parsers."""
    p = policy.parse("ERROR:backoff(2,100ms..1s)")
    assert p.rules[0].matchers == (policy.OnError(),)
    assert str(p) == "error:backoff(2,100ms..1s,x1.8)"
    assert policy.parse(str(p)) == p
    assert policy.parse("error:backoff(2,100ms..1s) # note") == p
    # The grammar's own (Lark) parser reads it as the fast parser does.
    text = "5xx,Error:backoff(2,100ms..1s)"
    assert parse_with_lark(text) == policy.parse(text)


def test_error_is_a_duplicate_in_one_selector() -> None:
    """Naming `error` twice in a selector is an error, as for every matcher."""
    with pytest.raises(policy.PolicyError):
        policy.parse("error,error:never")


def test_misspelt_error_suggests_it() -> None:
    """A misspelt matcher word is a syntax error suggesting `error`."""
    with pytest.raises(policy.PolicySyntaxError, match="error"):
        policy.parse("erorr:never")


@given(st.text(max_size=20))
def test_only_error_rules_decide_errors(kind: str) -> None:
    """policy.Error is matched by `error` alone: never by a status, all, timeout, connect, reset."""
    p = policy.parse("all:backoff(3) timeout,connect,reset:backoff(3)")
    d = p.decide(p.start(now=0.0), policy.Error(kind), now=0.0)
    assert isinstance(d, policy.GiveUp)
    assert d.reason == "no rule for error"
    q = policy.parse(str(p) + " error:backoff(1,2s)")
    r = q.decide(q.start(now=0.0), policy.Error(kind), now=0.0)
    assert isinstance(r, policy.Retry)
    assert r.delay == 2.0
    assert q.decide(r.state, policy.Error(kind), now=2.0) == policy.GiveUp(
        "limit reached: error:backoff 1/1", q.rules[-1]
    )


def test_error_counts_and_is_later_wins() -> None:
    """Two rules naming `error`: the later one decides (equal specificity)."""
    p = policy.parse("error:backoff(3) error:never")
    d = p.decide(p.start(now=0.0), policy.Error(), now=0.0)
    assert isinstance(d, policy.GiveUp)
    assert "never" in d.reason


def test_error_has_no_seed_option() -> None:
    """to_options refuses `error`, naming it."""
    with pytest.raises(policy.PolicyValueError, match="error"):
        policy.parse("error:backoff(2)").to_options()


def test_linter_sees_error_rules() -> None:
    """A rule for `error` wholly shadowed by a later one is reported (W102), like any rule."""
    codes = [d.code for d in lint("error:backoff(2,1s..2s,jitter) error:backoff(3,1s..2s,jitter)")]
    assert "W102" in codes
    assert "W102" not in [d.code for d in lint("error:backoff(2,1s..2s,jitter)")]


def test_error_worst_case_and_schedule() -> None:
    """worst_case and schedule count an `error` rule like any other."""
    p = policy.parse("error:backoff(2,1s..2s,x2)")
    assert p.worst_case().requests == 3
    assert len(list(p.schedule(policy.Error()))) == 2
