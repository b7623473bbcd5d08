"""The canonical form (SPEC §1.3): exact renderings, round trips and the fixed point."""

from __future__ import annotations

import pytest
from hypothesis import given
from strategies import policies, policy_text

import policy
from policy import Backoff, Headers, Policy, Rule, StatusClass

CANONICAL: list[tuple[str, str]] = [
    # Durations: the largest unit in which the value is >= 1 and exact to three decimals.
    ("5xx:backoff(1500ms)", "5xx:backoff(5,1.5s)"),
    ("5xx:backoff(90s)", "5xx:backoff(5,1.5m)"),
    ("5xx:backoff(30s)", "5xx:backoff(5,30s)"),
    ("5xx:backoff(1250ms)", "5xx:backoff(5,1.25s)"),
    ("5xx:backoff(61s)", "5xx:backoff(5,61s)"),
    ("5xx:backoff(0s)", "5xx:backoff(5,0s)"),
    ("5xx:backoff(0ms..0h)", "5xx:backoff(5,0s)"),
    ("5xx:backoff(999ms)", "5xx:backoff(5,999ms)"),
    ("5xx:backoff(1ms)", "5xx:backoff(5,1ms)"),
    ("5xx:backoff(1001ms)", "5xx:backoff(5,1.001s)"),
    ("5xx:backoff(60500ms)", "5xx:backoff(5,60.5s)"),
    ("5xx:backoff(60000ms)", "5xx:backoff(5,1m)"),
    ("5xx:backoff(3600s)", "5xx:backoff(5,1h)"),
    ("5xx:backoff(90m)", "5xx:backoff(5,1.5h)"),
    ("5xx:backoff(1.50s)", "5xx:backoff(5,1.5s)"),
    ("5xx:backoff(0.5m)", "5xx:backoff(5,30s)"),
    ("5xx:backoff(10080m)", "5xx:backoff(5,168h)"),
    ("5xx:backoff(1ms..1h)", "5xx:backoff(5,1ms..1h,x1.8)"),
    ("timeout=1500ms", "timeout=1.5s"),
    ("timeout=120s", "timeout=2m"),
    ("deadline=7200s", "deadline=2h"),
    # backoff always shows limit, delays and factor; a fixed delay shows neither range nor factor.
    ("5xx:backoff()", "5xx:backoff(5,1s..1m,x1.8)"),
    ("5xx:backoff", "5xx:backoff(5,1s..1m,x1.8)"),
    ("5xx:backoff(2,2s..2s,x3)", "5xx:backoff(2,2s)"),
    ("5xx:backoff(min=2s,max=2s)", "5xx:backoff(5,2s)"),
    ("5xx:backoff(x2)", "5xx:backoff(5,1s..1m,x2)"),
    ("5xx:backoff(x2.50)", "5xx:backoff(5,1s..1m,x2.5)"),
    ("5xx:backoff(factor=1.125)", "5xx:backoff(5,1s..1m,x1.125)"),
    ("5xx:backoff(x1.0)", "5xx:backoff(5,1s..1m,x1)"),
    # Arguments in the order of the tables, whatever order they were written in.
    ("5xx:backoff(jitter,x3,2s..4s,7)", "5xx:backoff(7,2s..4s,x3,jitter)"),
    ("5xx:backoff(jitter=full)", "5xx:backoff(5,1s..1m,x1.8,jitter)"),
    ("5xx:backoff(jitter=equal)", "5xx:backoff(5,1s..1m,x1.8,jitter=equal)"),
    ("5xx:backoff(jitter=decorrelated)", "5xx:backoff(5,1s..1m,x1.8,jitter=decorrelated)"),
    ("5xx:backoff(jitter=scale)", "5xx:backoff(5,1s..1m,x1.8,jitter=scale)"),
    ("5xx:backoff(nojitter)", "5xx:backoff(5,1s..1m,x1.8)"),
    ("5xx:backoff(jitter=none)", "5xx:backoff(5,1s..1m,x1.8)"),
    ("5xx:backoff( limit = 3 , max = 10s )", "5xx:backoff(3,1s..10s,x1.8)"),
    # headers: defaults are omitted; the family collapses.
    ("429:headers()", "429:headers()"),
    ("429:headers", "429:headers()"),
    ("429:headers(X-RateLimit-*)", "429:headers(x-ratelimit-*)"),
    ("429:headers(x-ratelimit-*-requests)", "429:headers(x-ratelimit-*-requests)"),
    (
        "429:headers(reset-header=x-ratelimit-reset,limit-header=x-ratelimit-limit,"
        "remaining-header=x-ratelimit-remaining)",
        "429:headers(x-ratelimit-*)",
    ),
    (
        "429:headers(limit-header=a-limit-b,remaining-header=a-remaining-b,reset-header=a-reset-b)",
        "429:headers(a-*-b)",
    ),
    (
        "429:headers(limit-header=l,remaining-header=r,reset-header=x)",
        "429:headers(limit-header=l,remaining-header=r,reset-header=x)",
    ),
    ("429:headers(reset-header=X-Reset)", "429:headers(reset-header=x-reset)"),
    (
        "429:headers(jitter=2s,over=clamp,max=1m,3,format=epoch,x-ratelimit-*)",
        "429:headers(x-ratelimit-*,format=epoch,3,max=1m,over=clamp,jitter=2s)",
    ),
    ("429:headers(format=auto,5,max=15m,over=giveup)", "429:headers()"),
    ("429:headers(format=unix_timestamp)", "429:headers(format=epoch)"),
    ("429:headers(format=unix_timestamp_in_ms)", "429:headers(format=epoch-ms)"),
    ("429:headers(format=iso_8601)", "429:headers(format=iso)"),
    ("429:headers(format=iso_8601_duration_openai_variant)", "429:headers(format=duration)"),
    ("429:headers(format=S)", "429:headers(format=s)"),
    ("429:headers(jitter=1s)", "429:headers(jitter)"),
    ("429:headers(jitter=1000ms)", "429:headers(jitter)"),
    ("429:headers(jitter)", "429:headers(jitter)"),
    ("429:headers(jitter=1500ms)", "429:headers(jitter=1.5s)"),
    ("429:headers(jitter=0s)", "429:headers()"),
    # Items, case, separators, comments.
    ("", ""),
    ("  ;\n# nothing\n", ""),
    ("5XX:NEVER", "5xx:never"),
    ("ALL,Timeout,CONNECT,Reset:Never", "all,timeout,connect,reset:never"),
    ("429:never;\n\n5xx:backoff(3) # c\n", "429:never 5xx:backoff(3,1s..1m,x1.8)"),
    ("Timeout=10s DEADLINE=2M Attempts=3", "timeout=10s deadline=2m attempts=3"),
    ("methods=get,Put,DELETE", "methods=GET,PUT,DELETE"),
    ("methods=*", "methods=*"),
    ("429:headers|backoff(2)|never", "429:headers()|backoff(2,1s..1m,x1.8)|never"),
    (
        "429:headers(x-ratelimit-*) 5xx:backoff(5,1s..30s,x1.8,jitter)",
        "429:headers(x-ratelimit-*) 5xx:backoff(5,1s..30s,x1.8,jitter)",
    ),
]


@pytest.mark.parametrize(("text", "canonical"), CANONICAL, ids=[t for t, _ in CANONICAL])
def test_canonical(text: str, canonical: str) -> None:
    """Each text renders as exactly the canonical string of SPEC §1.3."""
    assert str(policy.parse(text)) == canonical


@pytest.mark.parametrize("canonical", sorted({c for _, c in CANONICAL}))
def test_canonical_is_a_fixed_point(canonical: str) -> None:
    """A canonical string renders as itself."""
    assert str(policy.parse(canonical)) == canonical


def test_render_built_ast() -> None:
    """An AST built by hand renders canonically, defaults included for backoff."""
    p = Policy([Rule([StatusClass(5)], [Backoff(), Headers()])])
    assert str(p) == "5xx:backoff(5,1s..1m,x1.8)|headers()"
    assert str(Policy()) == ""


@given(policies())
def test_round_trip(p: Policy) -> None:
    """parse(str(p)) == p for every valid policy."""
    assert policy.parse(str(p)) == p


@given(policies())
def test_fixed_point(p: Policy) -> None:
    """Rendering the parse of a rendering changes nothing."""
    text = str(p)
    assert str(policy.parse(text)) == text


@given(policies())
def test_canonical_form_is_lower_case_and_single_spaced(p: Policy) -> None:
    """The canonical form has no comments, no ';', single spaces and no upper case but methods."""
    text = str(p)
    assert "#" not in text and ";" not in text and "\n" not in text and "  " not in text
    assert text == text.strip()
    for item in text.split(" "):
        if item.startswith("methods="):
            continue
        if "[" in item:  # a rule's method limit, 5xx[GET,PUT]:...
            selector, rest = item.split("[", 1)
            methods, chain = rest.split("]", 1)
            assert methods == "idempotent" or methods == methods.upper()
            item = selector + chain
        assert item == item.lower()


@given(policy_text())
def test_grammar_strings_that_parse_render_to_a_fixed_point(text: str) -> None:
    """Any grammar-generated string that parses has a canonical form that is a fixed point."""
    try:
        p = policy.parse(text)
    except policy.PolicyError:
        return
    canonical = str(p)
    assert policy.parse(canonical) == p
    assert str(policy.parse(canonical)) == canonical
