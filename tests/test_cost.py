"""Request costs (SPEC §2.4 step 3): ``decide(..., cost=)``, ``hold(..., cost=)``, ``quotas``.

A cost key applies to every family whose header names share it as a dash-separated word;
a family no key names costs 1; ``headers()``'s defaults and the ``RateLimit`` field count
1; ``remaining >= cost`` is no decision; a cost above the family's ``limit`` gives up.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import policies, rate_limit_headers

import policy
from policy import GiveUp, Policy, Quota, Response, Retry

T0 = 1_795_867_200.0  # Sat, 28 Nov 2026 12:00:00 GMT

OPENAI_TOKENS = "429:headers(x-ratelimit-*-tokens)|backoff(2,7s)"
ANTHROPIC_TOKENS = "429:headers(anthropic-ratelimit-tokens-*,format=iso)|backoff(2,7s)"
ANTHROPIC_INPUT = "429:headers(anthropic-ratelimit-input-tokens-*,format=iso)|backoff(2,7s)"


def openai(limit: int, remaining: int, reset: str = "6s") -> dict[str, str]:
    return {
        "x-ratelimit-limit-tokens": str(limit),
        "x-ratelimit-remaining-tokens": str(remaining),
        "x-ratelimit-reset-tokens": reset,
    }


def run(p: Policy | str, headers: dict[str, str], cost: Any = None, status: int = 429) -> Any:
    if isinstance(p, str):
        p = policy.parse(p)
    state = p.start(now=T0)
    if cost is None:
        return p.decide(state, Response(status, headers), now=T0, rand=lambda: 0.5)
    return p.decide(state, Response(status, headers), now=T0, rand=lambda: 0.5, cost=cost)


def same(d1: Any, d2: Any) -> bool:
    if type(d1) is not type(d2):
        return False
    if isinstance(d1, Retry):
        return (d1.delay, d1.state, d1.reason) == (d2.delay, d2.state, d2.reason)
    return bool(d1 == d2)


# ------------------------------------------------------------------------ properties


@settings(max_examples=300)
@given(
    p=policies(),
    headers=rate_limit_headers(),
    status=st.sampled_from([429, 503, 500, 404, 200]),
    key=st.sampled_from(["x", "ratelimit", "tokens", "requests", "reset"]),
)
def test_cost_one_decides_as_no_cost(
    p: Policy, headers: dict[str, str], status: int, key: str
) -> None:
    """A cost of 1 in any family (or an empty cost) decides exactly as no cost, for any
    policy and any rate-limit headers; ``hold`` alike."""
    base = run(p, headers, status=status)
    for cost in ({}, {key: 1}, {key: 1.0}):
        assert same(run(p, headers, cost, status=status), base), cost
        if p.pace:
            response = Response(status, headers)
            assert p.hold(response, T0, cost=cost) == p.hold(response, T0)


@given(
    limit=st.integers(1, 10**7),
    data=st.data(),
    policy_text=st.sampled_from([OPENAI_TOKENS, OPENAI_TOKENS + " pace=on"]),
)
def test_remaining_at_or_above_cost_never_waits_on_that_family(
    limit: int, data: st.DataObject, policy_text: str
) -> None:
    """``remaining >= cost``: this family does not limit the request -- no decision (the
    chain's backoff decides), and no hold."""
    cost = data.draw(st.integers(0, limit), label="cost")
    remaining = data.draw(st.integers(cost, limit), label="remaining")
    headers = openai(limit, remaining)
    d = run(policy_text, headers, {"tokens": cost})
    assert isinstance(d, Retry)
    assert d.delay == 7.0  # the backoff, not the 6s reset
    p = policy.parse(policy_text)
    assert p.hold(Response(429, headers), T0, cost={"tokens": cost}) is None


@given(limit=st.integers(1, 10**7), data=st.data())
def test_remaining_below_cost_waits_for_the_reset(limit: int, data: st.DataObject) -> None:
    """``remaining < cost <= limit``: wait for the family's reset (and hold until it)."""
    cost = data.draw(st.integers(1, limit), label="cost")
    remaining = data.draw(st.integers(0, cost - 1), label="remaining")
    headers = openai(limit, remaining, "6m0s")
    d = run(OPENAI_TOKENS, headers, {"tokens": cost})
    assert isinstance(d, Retry)
    assert d.delay == 360.0
    p = policy.parse(OPENAI_TOKENS + " pace=on")
    assert p.hold(Response(429, headers), T0, cost={"tokens": cost}) == T0 + 360.0


@given(
    limit=st.integers(1, 10**7),
    over=st.integers(1, 10**6),
    remaining=st.integers(0, 10**7),
    fraction=st.sampled_from([0.0, 0.5]),
)
def test_cost_above_the_limit_gives_up(
    limit: int, over: int, remaining: int, fraction: float
) -> None:
    """A cost above the family's ``limit`` can never succeed: give up at once, naming it
    (as ``limit: 0`` does), whatever the remaining says."""
    cost = limit + over - fraction
    d = run(OPENAI_TOKENS, openai(limit, min(remaining, limit)), {"tokens": cost})
    assert isinstance(d, GiveUp)
    assert "x-ratelimit-limit-tokens" in d.reason
    assert f"costs {cost:g}" in d.reason


# ------------------------------------------------------------------------ examples


@pytest.mark.parametrize(
    ("policy_text", "headers"),
    [
        (OPENAI_TOKENS, openai(1000, 30)),
        (
            ANTHROPIC_TOKENS,
            {
                "anthropic-ratelimit-tokens-limit": "1000",
                "anthropic-ratelimit-tokens-remaining": "30",
                "anthropic-ratelimit-tokens-reset": "2026-11-28T12:00:06Z",
            },
        ),
        (
            ANTHROPIC_INPUT,
            {
                "anthropic-ratelimit-input-tokens-limit": "1000",
                "anthropic-ratelimit-input-tokens-remaining": "30",
                "anthropic-ratelimit-input-tokens-reset": "2026-11-28T12:00:06Z",
            },
        ),
    ],
)
def test_tokens_key_covers_every_token_family(policy_text: str, headers: dict[str, str]) -> None:
    """``tokens`` names ``x-ratelimit-*-tokens``, ``anthropic-ratelimit-tokens-*`` and
    ``anthropic-ratelimit-input-tokens-*``: 30 tokens left of a 900-token request waits
    for the reset; without a cost, 30 left is "not this family" (the backoff decides)."""
    with_cost = run(policy_text, headers, {"tokens": 900})
    assert isinstance(with_cost, Retry)
    assert with_cost.delay == 6.0
    without = run(policy_text, headers)
    assert isinstance(without, Retry)
    assert without.delay == 7.0
    # a key that names another family changes nothing
    assert same(run(policy_text, headers, {"requests": 900}), without)


def test_request_family_costs_one_when_only_tokens_are_named() -> None:
    """``{"tokens": 900}`` leaves a request family at cost 1 (remaining 3 is enough)."""
    p = "429:headers(x-ratelimit-*-requests)|backoff(2,7s)"
    headers = {
        "x-ratelimit-limit-requests": "60",
        "x-ratelimit-remaining-requests": "3",
        "x-ratelimit-reset-requests": "1s",
    }
    d = run(p, headers, {"tokens": 900})
    assert isinstance(d, Retry)
    assert d.delay == 7.0


def test_defaults_and_the_ratelimit_field_count_one() -> None:
    """``headers()`` reads its default families and the IETF field at cost 1, whatever
    the cost says (``ratelimit`` is a word of their names, but they are not a family a
    policy names)."""
    headers = {"x-ratelimit-remaining": "5", "x-ratelimit-reset": "30"}
    for key in ("ratelimit", "x", "remaining"):
        for h in (headers, {"ratelimit": '"a";r=0;t=20'}, {"ratelimit": '"a";r=3;t=20'}):
            base = run("429:headers()|backoff(1,7s)", h)
            assert same(run("429:headers()|backoff(1,7s)", h, {key: 100}), base)
    p = policy.parse("429:headers() pace=on")
    response = Response(200, {"ratelimit": '"a";r=3;t=30', **headers})
    assert p.hold(response, T0, cost={"ratelimit": 100}) is None


def test_largest_cost_among_keys_naming_one_family() -> None:
    """Two keys naming one family: the larger cost applies."""
    headers = {
        "anthropic-ratelimit-input-tokens-limit": "1000",
        "anthropic-ratelimit-input-tokens-remaining": "100",
        "anthropic-ratelimit-input-tokens-reset": "2026-11-28T12:00:06Z",
    }
    d = run(ANTHROPIC_INPUT, headers, {"input": 50, "tokens": 500})
    assert isinstance(d, Retry)
    assert d.delay == 6.0


@pytest.mark.parametrize(
    "text",
    [
        "5xx:backoff(3,1s..30s,x2)",  # the generated straight path
        "5xx[GET]:backoff(3,1s..30s,x2)",  # the general loop
        "503:headers(x-ratelimit-*-tokens)|backoff(3)",  # the headers fast path
        "500:never 5xx:backoff(2,jitter) attempts=2",
    ],
)
def test_every_decide_path_accepts_cost(text: str) -> None:
    """``cost=`` is accepted on every path; a backoff does not read it."""
    p = policy.parse(text)
    for status in (500, 503, 200, 404):
        base = run(p, {}, status=status)
        assert same(run(p, {}, {"tokens": 900}, status=status), base)
    state = p.start(now=T0)
    for outcome in (policy.Timeout(), policy.ConnectFailure()):
        d1 = p.decide(state, outcome, now=T0, rand=lambda: 0.5, cost={"tokens": 900})
        assert same(d1, p.decide(state, outcome, now=T0, rand=lambda: 0.5))


@pytest.mark.parametrize(
    ("cost", "error"),
    [
        ({"tokens": -1}, ValueError),
        ({"tokens": float("nan")}, ValueError),
        ({"tokens": float("inf")}, ValueError),
        ({"tokens": "900"}, ValueError),
        ({"tokens": True}, ValueError),
        ({1: 900}, TypeError),
        ([("tokens", 900)], TypeError),
    ],
)
def test_a_bad_cost_is_a_clear_error(cost: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="cost"):
        run(OPENAI_TOKENS, openai(1000, 30), cost)
    with pytest.raises(error, match="cost"):
        policy.parse(OPENAI_TOKENS + " pace=on").hold(Response(429, openai(1000, 0)), T0, cost=cost)


# ------------------------------------------------------------------------- quotas


def test_quotas_reports_every_family_with_its_units() -> None:
    """``quotas``: one ``Quota`` per family with a remaining and a usable reset, in the
    family's units (not rounded), with the words a cost key matches."""
    p = policy.parse(
        "429:headers(x-ratelimit-*-requests)|headers(x-ratelimit-*-tokens)|backoff(2) pace=on"
    )
    headers = {
        "x-ratelimit-remaining-requests": "59",
        "x-ratelimit-reset-requests": "1s",
        "x-ratelimit-remaining-tokens": "149984.5",
        "x-ratelimit-reset-tokens": "6m0s",
        "date": "Sat, 28 Nov 2026 12:00:00 GMT",
    }
    requests, tokens = p.quotas(Response(200, headers), T0)
    assert requests == Quota("x-ratelimit-remaining-requests", 59.0, T0 + 1, requests.words)
    assert tokens.family == "x-ratelimit-remaining-tokens"
    assert (tokens.remaining, tokens.until) == (149984.5, T0 + 360)
    assert tokens.cost({"tokens": 900}) == 900.0
    assert requests.cost({"tokens": 900}) == 1.0
    assert requests.cost(None) == tokens.cost({}) == 1.0
    # the one-number quota keeps its reading: the fewest whole requests left
    assert p.quota(Response(200, headers), T0) == (59, T0 + 1)


def test_quotas_defaults_count_one_and_pace_off_reports_nothing() -> None:
    headers = {"x-ratelimit-remaining": "4", "x-ratelimit-reset": "30"}
    (q,) = policy.parse("429:headers() pace=on").quotas(Response(200, headers), T0)
    assert (q.family, q.remaining, q.until) == ("x-ratelimit-remaining", 4.0, T0 + 30)
    assert q.cost({"ratelimit": 50, "x": 9}) == 1.0
    assert policy.parse("429:headers()").quotas(Response(200, headers), T0) == ()


def test_quotas_reports_a_family_once_when_two_strategies_name_it() -> None:
    """``@openai`` reads ``x-ratelimit-*-tokens`` as durations; a rule naming the same
    family in ``auto`` is the same family: one ``Quota``."""
    p = policy.parse("@openai 429:headers(x-ratelimit-*-tokens)|backoff(2,1s) pace=on")
    (q,) = p.quotas(Response(429, openai(10_000, 30, "400ms")), 0.0)
    assert (q.family, q.remaining, q.until) == ("x-ratelimit-remaining-tokens", 30.0, 0.4)
