"""The AST's two ways in: hand-built nodes are validated, parser-built nodes are valid."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import attrs
import pytest
from hypothesis import given
from strategies import policy_text

import policy
from policy import (
    AllErrors,
    Backoff,
    Headers,
    MethodsSetting,
    Never,
    Policy,
    Rule,
    Span,
    StatusClass,
    StatusCode,
    StatusRange,
    TimeoutSetting,
)

INVALID: list[tuple[str, Any]] = [
    ("status 600", lambda: StatusCode(600)),
    ("status as text", lambda: StatusCode("429")),  # type: ignore[arg-type]
    ("range low > high", lambda: StatusRange(599, 500)),
    ("class 6xx", lambda: StatusClass(6)),
    ("negative limit", lambda: Backoff(limit=-1)),
    ("min > max", lambda: Backoff(min_ms=5000, max_ms=1000)),
    ("duration over 168h", lambda: Backoff(max_ms=168 * 3600 * 1000 + 1)),
    ("factor below 1", lambda: Backoff(factor=Fraction(1, 2))),
    ("factor over 1000", lambda: Backoff(factor=1001)),
    ("jitter not a Jitter", lambda: Backoff(jitter="full")),  # type: ignore[arg-type]
    ("upper-case header name", lambda: Headers(reset_header="X-Reset")),
    ("header family as a name", lambda: Headers(reset_header="x-ratelimit-*")),
    ("rule without matchers", lambda: Rule([], [Never()])),
    ("rule without strategies", lambda: Rule([StatusCode(429)], [])),
    ("matcher twice", lambda: Rule([StatusCode(429), StatusCode(429)], [Never()])),
    ("only 2xx", lambda: Rule([StatusClass(2)], [Never()])),
    ("lower-case method", lambda: Rule([AllErrors()], [Never()], methods=["get"])),
    ("timeout under 1s", lambda: TimeoutSetting(999)),
    ("methods repeated", lambda: MethodsSetting(["GET", "GET"])),
    ("setting twice", lambda: Policy([TimeoutSetting(2000), TimeoutSetting(3000)])),
]


@pytest.mark.parametrize(("what", "build"), INVALID, ids=[w for w, _ in INVALID])
def test_invalid_hand_built_nodes_are_refused(what: str, build: Any) -> None:
    """Building a node by hand with an invalid value raises ValueError or TypeError."""
    with pytest.raises((ValueError, TypeError)):
        build()


def _nodes(value: Any) -> list[Any]:
    """Every attrs node reachable from ``value``, ``value`` included."""
    out: list[Any] = []
    if attrs.has(type(value)):
        out.append(value)
        for field in attrs.fields(type(value)):
            out.extend(_nodes(getattr(value, field.name)))
    elif isinstance(value, tuple) and not isinstance(value, Span):
        for v in value:
            out.extend(_nodes(v))
    return out


def _rebuilt(node: Any) -> Any:
    """``node`` built again through its class, so that every validator runs."""
    init = {f.alias: getattr(node, f.name) for f in attrs.fields(type(node)) if f.init}
    return type(node)(**init)


@given(policy_text())
def test_parsed_nodes_pass_the_validators(text: str) -> None:
    """Every node of a parsed policy, rebuilt through its class, is accepted and equal."""
    try:
        p = policy.parse(text)
    except policy.PolicyError:
        return
    for node in _nodes(p):
        again = _rebuilt(node)
        assert again == node
        assert getattr(again, "span", None) == getattr(node, "span", None)
        span = getattr(node, "span", None)
        if span is not None:
            assert type(span) is Span
            assert 0 <= span.start < span.end
    for item in p.items:  # (a preset's rules carry spans in the preset's own text)
        assert item.span is not None and item.span.end <= len(text)


def test_fixed_delay_stores_factor_one() -> None:
    """A parsed fixed delay stores factor 1, as a hand-built one does (SPEC §1.2)."""
    parsed = policy.parse("5xx:backoff(2s,x3)").rules[0].strategies[0]
    assert parsed == Backoff(min_ms=2000, max_ms=2000, factor=3)
    assert isinstance(parsed, Backoff) and parsed.factor == 1


def test_span_fields() -> None:
    """A Span has named fields and compares by value."""
    s = Span(0, 3, 1, 1, 1, 4)
    assert (s.start, s.end, s.line, s.column, s.end_line, s.end_column) == (0, 3, 1, 1, 1, 4)
    assert s == Span(0, 3, 1, 1, 1, 4) and hash(s) == hash(Span(0, 3, 1, 1, 1, 4))
    assert repr(s) == "Span(start=0, end=3, line=1, column=1, end_line=1, end_column=4)"


@pytest.mark.parametrize(
    "text",
    ["5xx:backoff(1.0000000000000000000000000001ms)", "5xx:backoff(0.0005s)", "timeout=1.0001s"],
)
def test_sub_millisecond_durations_are_refused(text: str) -> None:
    """A duration with a fraction of a millisecond is an error however many digits it has."""
    with pytest.raises(policy.PolicyValueError, match="whole number of milliseconds"):
        policy.parse(text)


def test_policy_equality_ignores_where_settings_sit_but_not_tie_order() -> None:
    """Equal policies decide alike: settings anywhere, outcome kinds apart, ties in order."""
    p = policy.parse
    assert p("timeout=10s 5xx:backoff()") == p("5xx:backoff() timeout=10s")
    assert hash(p("timeout=10s 5xx:backoff()")) == hash(p("5xx:backoff() timeout=10s"))
    assert p("timeout:backoff(2) 5xx:backoff(3)") == p("5xx:backoff(3) timeout:backoff(2)")
    assert p("methods=* pace=off 5xx:backoff()") == p("5xx:backoff()")
    assert p("500-599:never 5xx:backoff()") != p("5xx:backoff() 500-599:never")
    assert p("5xx,timeout:never timeout:backoff()") != p("timeout:backoff() 5xx,timeout:never")
    assert p("timeout=10s 5xx:backoff()") != p("timeout=11s 5xx:backoff()")
