"""The evaluator (SPEC §2): rule choice, counting, backoff formulas, headers, settings.

Expected values in the tables are worked out by hand from the SPEC's formulas, not read
back from the implementation.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from strategies import enormous_waits, policies, rate_limit_headers, rules

import policy
import policy.evaluate._headers as headers_mod
from policy import (
    Accept,
    AttemptState,
    Backoff,
    ConnectFailure,
    ConnectionReset,
    Envelope,
    GiveUp,
    Headers,
    Jitter,
    Over,
    Policy,
    ResetFormat,
    Response,
    Retry,
    Rule,
    StatusCode,
    Timeout,
    WorstCase,
)

T0 = 1_795_867_200.0  # Sat, 28 Nov 2026 12:00:00 GMT
DATE = "Sat, 28 Nov 2026 12:00:00 GMT"
FIXTURES = Path(__file__).parent / "data" / "rate-limit-headers.json"


def const(r: float) -> Callable[[], float]:
    return lambda: r


def decide(
    p: Policy | str,
    outcome: Any,
    *,
    state: AttemptState | None = None,
    now: float = T0,
    r: float = 0.5,
    method: str = "GET",
) -> Any:
    if isinstance(p, str):
        p = policy.parse(p)
    if state is None:
        state = p.start(now=T0)
    return p.decide(state, outcome, now=now, rand=const(r), method=method)


def run(p: Policy, outcomes: list[Any], *, r: float = 0.5) -> list[Any]:
    """Decide each outcome in turn, threading the state and advancing ``now`` by the wait."""
    state = p.start(now=T0)
    now = T0
    out = []
    for o in outcomes:
        d = p.decide(state, o, now=now, rand=const(r))
        out.append(d)
        if not isinstance(d, Retry):
            break
        state = d.state
        now += d.delay
    return out


def rule(text: str) -> Rule:
    (only,) = policy.parse(text).rules
    return only


# --- 2.1 which rule decides -------------------------------------------------------------

PRECEDENCE = [
    # (policy, outcome, the rule that must decide; None: no rule)
    ("5xx:backoff(1) 503:never", Response(503), "503:never"),
    ("503:never 5xx:backoff(1)", Response(503), "503:never"),
    ("400-599:never 5xx:backoff(1)", Response(503), "5xx:backoff(1)"),
    ("5xx:backoff(1) 400-599:never", Response(503), "5xx:backoff(1)"),
    ("5xx:never 500-599:backoff(1)", Response(503), "500-599:backoff(1)"),
    ("500-599:backoff(1) 5xx:never", Response(503), "5xx:never"),
    ("4xx:never all:backoff(1)", Response(404), "4xx:never"),
    ("all:backoff(1) 4xx:never", Response(404), "4xx:never"),
    ("500-502:never 5xx:backoff(1)", Response(503), "5xx:backoff(1)"),
    ("500-509:never 5xx:backoff(1)", Response(503), "500-509:never"),
    ("429:never 429:backoff(1)", Response(429), "429:backoff(1)"),
    ("429,5xx:never 503:backoff(1)", Response(429), "429,5xx:never"),
    ("429,5xx:never 503:backoff(1)", Response(503), "503:backoff(1)"),
    ("all:backoff(1)", Response(302), None),
    ("all:backoff(1)", Response(101), None),
    ("3xx:backoff(1) all:never", Response(302), "3xx:backoff(1)"),
    ("all:backoff(1)", Timeout(), None),
    ("timeout:never 5xx:backoff(1)", Timeout(), "timeout:never"),
    ("connect:backoff(1) connect:never", ConnectFailure(), "connect:never"),
    ("reset,timeout:never connect:backoff(1)", ConnectionReset(), "reset,timeout:never"),
    ("timeout:never", ConnectFailure(), None),
]


@pytest.mark.parametrize(("text", "outcome", "winner"), PRECEDENCE)
def test_most_specific_then_later_rule_decides(text: str, outcome: Any, winner: str | None) -> None:
    """The matcher covering the fewest codes wins, the later rule at equal size (§2.1)."""
    d = decide(text, outcome)
    assert not isinstance(d, Accept)
    if winner is None:
        assert isinstance(d, GiveUp)
        assert d.rule is None
        assert d.reason.startswith("no rule for ")
    else:
        assert d.rule == rule(winner)


@pytest.mark.parametrize(
    ("outcome", "reason"),
    [
        (Response(404), "no rule for 404"),
        (Timeout(), "no rule for timeout"),
        (ConnectFailure(), "no rule for connect"),
        (ConnectionReset(), "no rule for reset"),
    ],
)
def test_no_rule_gives_up_naming_the_outcome(outcome: Any, reason: str) -> None:
    """An outcome no rule matches gives up, saying which outcome it was."""
    assert decide("5xx:backoff(1)", outcome) == GiveUp(reason)


@pytest.mark.parametrize("status", [200, 201, 204, 299])
def test_2xx_is_accepted_whatever_the_rules(status: int) -> None:
    """2xx responses are never retried, even under a range that includes them."""
    assert decide("200-599:backoff(5) all:never", Response(status)) == Accept()


def test_empty_policy_retries_nothing() -> None:
    """The empty policy gives up on every failure and accepts every 2xx."""
    p = policy.parse("")
    assert isinstance(decide(p, Response(503)), GiveUp)
    assert isinstance(decide(p, Timeout()), GiveUp)
    assert decide(p, Response(200)) == Accept()


def test_later_rule_at_equal_specificity_overrides_a_preset() -> None:
    """Appending a rule of the same specificity overrides a preset's rule (BASE + ' 429:never')."""
    base = "429:headers(x-ratelimit-*) 5xx:backoff(3)"
    assert isinstance(decide(base, Response(429, {"retry-after": "1"})), Retry)
    d = decide(base + " 429:never", Response(429, {"retry-after": "1"}))
    assert isinstance(d, GiveUp)
    assert d.rule == rule("429:never")


# --- 2.2 counting -----------------------------------------------------------------------


def test_limit_counts_retries_then_gives_up_naming_the_position() -> None:
    """backoff(2) grants two retries, then the chain runs out (§2.2)."""
    ds = run(policy.parse("5xx:backoff(2,1s..8s,x2)"), [Response(503)] * 5)
    assert [type(d) for d in ds] == [Retry, Retry, GiveUp]
    assert [d.delay for d in ds[:2]] == [1.0, 2.0]
    assert ds[2].reason == "limit reached: 5xx:backoff 2/2"
    assert ds[1].state.requests == 3


def test_each_position_has_its_own_counter() -> None:
    """Two rules count separately; the first retry of each waits its own min."""
    p = policy.parse("502:backoff(1,1s) 503:backoff(1,2s)")
    ds = run(p, [Response(502), Response(503), Response(502)])
    assert [type(d) for d in ds] == [Retry, Retry, GiveUp]
    assert [d.delay for d in ds[:2]] == [1.0, 2.0]


def test_matchers_of_one_selector_share_the_counter() -> None:
    """502 and 503 under one selector spend one limit and one exponent."""
    p = policy.parse("502,503:backoff(2,1s..8s,x2)")
    ds = run(p, [Response(502), Response(503), Response(502)])
    assert [type(d) for d in ds] == [Retry, Retry, GiveUp]
    assert ds[1].delay == 2.0


def test_presets_are_expanded_before_positions_are_counted() -> None:
    """A preset's strategies are positions of their own: the state has one counter each."""
    p = policy.parse("@github 5xx:backoff(1)")
    assert len(p.start(now=T0).counters) == sum(len(r.strategies) for r in p.rules)


CHAIN = "429:headers(x-ratelimit-*)|backoff(2,3s..12s,x2)"

FALL_THROUGH = [
    # (headers, expected delay): which strategy of the chain decides
    ({}, 3.0),  # nothing to go on: backoff
    ({"x-ratelimit-remaining": "5", "x-ratelimit-reset": "30"}, 3.0),  # not this limit
    ({"x-ratelimit-remaining": "5.0", "x-ratelimit-reset": "30"}, 3.0),  # decimals accepted
    ({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "30"}, 30.0),  # headers decide
    ({"x-ratelimit-reset": "soon"}, 3.0),  # malformed counts as absent
    ({"retry-after": "7", "x-ratelimit-remaining": "9"}, 7.0),  # Retry-After first
]


@pytest.mark.parametrize(("headers", "delay"), FALL_THROUGH)
def test_chain_falls_through_only_on_no_decision(headers: dict[str, str], delay: float) -> None:
    """headers|backoff: backoff decides exactly when headers have nothing usable (§2.2, §2.4)."""
    d = decide(CHAIN, Response(429, headers))
    assert isinstance(d, Retry)
    assert d.delay == delay


def test_spent_strategy_falls_through_to_the_next() -> None:
    """Once headers(1) has granted its retry, the next 429 goes to the backoff."""
    p = policy.parse("429:headers(x-ratelimit-*,1)|backoff(1,3s)")
    h = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "30"}
    ds = run(p, [Response(429, h)] * 3)
    assert [type(d) for d in ds] == [Retry, Retry, GiveUp]
    assert [d.delay for d in ds[:2]] == [30.0, 3.0]
    assert "limit reached" in ds[2].reason
    assert "429:headers 1/1" in ds[2].reason
    assert "429:backoff 1/1" in ds[2].reason


FINAL = [
    # (policy, headers, words of the reason): give-ups a chain does not fall through
    ("5xx:never|backoff(3)", {}, "never"),
    (CHAIN, {"x-ratelimit-limit": "0", "x-ratelimit-reset": "30"}, "x-ratelimit-limit is 0"),
    (CHAIN, {"retry-after": "3600"}, "3600s"),
    (CHAIN, {"x-should-retry": "false", "retry-after": "1"}, "server said do not retry"),
]


@pytest.mark.parametrize(("text", "headers", "words"), FINAL)
def test_give_ups_are_final(text: str, headers: dict[str, str], words: str) -> None:
    """never, limit: 0, a wait over max and a stop signal end the call, chain or not."""
    status = 503 if text.startswith("5xx") else 429
    d = decide(text, Response(status, headers))
    assert isinstance(d, GiveUp)
    assert words in d.reason


def test_chain_that_finds_no_header_says_so() -> None:
    """headers() alone with no usable header gives up, naming the missing rate-limit header."""
    d = decide("429:headers()", Response(429, {"content-type": "application/json"}))
    assert isinstance(d, GiveUp)
    assert "no usable rate-limit header" in d.reason


# --- 2.2 attempts, 2.5 deadline and methods -----------------------------------------------


@pytest.mark.parametrize(("attempts", "retries"), [(1, 0), (2, 1), (3, 2), (10, 5)])
def test_attempts_caps_total_requests(attempts: int, retries: int) -> None:
    """attempts=N allows N requests: N-1 retries at most, fewer if the limits say so."""
    p = policy.parse(f"5xx:backoff(5,1s) attempts={attempts}")
    ds = run(p, [Response(503)] * 20)
    assert sum(isinstance(d, Retry) for d in ds) == retries
    if retries < 5:
        assert ds[-1].reason.startswith(f"attempts={attempts} reached")


def test_deadline_refuses_a_wait_that_would_end_after_it() -> None:
    """With deadline=25s, waits of 10s are granted at 0s and 10s but not at 20s (§2.5)."""
    p = policy.parse("5xx:backoff(5,10s) deadline=25s")
    ds = run(p, [Response(503)] * 5)
    assert [type(d) for d in ds] == [Retry, Retry, GiveUp]
    assert ds[2].reason.startswith("deadline 25s would pass")


def test_a_wait_ending_exactly_at_the_deadline_is_granted() -> None:
    """Ending at start + deadline is not past it."""
    p = policy.parse("5xx:backoff(5,10s) deadline=20s")
    ds = run(p, [Response(503)] * 5)
    assert [type(d) for d in ds] == [Retry, Retry, GiveUp]


def test_deadline_counts_from_start_not_from_the_first_decision() -> None:
    """Time spent in the first request counts against the deadline."""
    p = policy.parse("5xx:backoff(5,10s) deadline=1m")
    state = p.start(now=T0)
    assert isinstance(p.decide(state, Response(503), now=T0 + 45), Retry)
    assert isinstance(p.decide(state, Response(503), now=T0 + 55), GiveUp)


METHODS = "5xx,timeout,connect,reset:backoff(2) methods=GET,PUT"


@pytest.mark.parametrize(
    ("outcome", "method", "retried"),
    [
        (Response(503), "GET", True),
        (Response(503), "get", True),
        (Response(503), "PUT", True),
        (Response(503), "POST", False),
        (Timeout(), "POST", False),
        (ConnectionReset(), "POST", False),
        (ConnectFailure(), "POST", True),
        (ConnectFailure(), "DELETE", True),
    ],
)
def test_methods_outside_the_list_give_up_except_on_connect(
    outcome: Any, method: str, retried: bool
) -> None:
    """A method outside methods= is retried only when the request never left (§2.5)."""
    d = decide(METHODS, outcome, method=method)
    assert isinstance(d, Retry) is retried
    if not retried:
        assert method in d.reason


RULE_METHODS = [
    # (policy, outcome, method, expected delay or the words of a give-up)
    ("5xx[GET]:backoff(1,2s) all:backoff(1,5s)", Response(503), "GET", 2.0),
    ("5xx[GET]:backoff(1,2s) all:backoff(1,5s)", Response(503), "post", 5.0),
    ("5xx[GET]:backoff(1,2s) 5xx:backoff(1,5s)", Response(503), "GET", 5.0),
    ("5xx:backoff(1,5s) 5xx[GET]:backoff(1,2s)", Response(503), "GET", 2.0),
    ("5xx:backoff(1,5s) 5xx[GET]:backoff(1,2s)", Response(503), "POST", 5.0),
    ("5xx[GET]:backoff(1,2s)", Response(503), "POST", "no rule for 503 with POST"),
    ("reset,timeout[idempotent]:backoff(3,1s)", Timeout(), "PUT", 1.0),
    ("reset,timeout[idempotent]:backoff(3,1s)", ConnectionReset(), "POST", "no rule for reset"),
    ("timeout[idempotent]:backoff(3,1s) timeout:never", Timeout(), "GET", "never"),
]


@pytest.mark.parametrize(("text", "outcome", "method", "expected"), RULE_METHODS)
def test_a_rule_limited_to_methods_does_not_match_others(
    text: str, outcome: Any, method: str, expected: Any
) -> None:
    """selector[methods]: for another method the next rule in precedence decides."""
    d = decide(text, outcome, method=method)
    if isinstance(expected, str):
        assert isinstance(d, GiveUp)
        assert expected in d.reason
    else:
        assert isinstance(d, Retry)
        assert d.delay == expected


# --- 2.3 backoff formulas -----------------------------------------------------------------

# backoff(5,1s..30s,x2): bases 1, 2, 4, 8, 16; windows hi = min(max, 2·base) = 2, 4, 8, 16.
# With r = 0.25:
JITTER = [
    ("none", [1.0, 2.0, 4.0, 8.0]),
    # full: min + r(hi - min): the first retry spreads over [1, 2] too
    ("full", [1.25, 1.75, 2.75, 4.75]),
    # equal: lo + r(hi - lo), lo = max(min, hi/2) = 1, 2, 4, 8
    ("equal", [1.25, 2.5, 5.0, 10.0]),
    # scale: min(max, base(1 + r))
    ("scale", [1.25, 2.5, 5.0, 10.0]),
    # decorrelated: min + r(3·prev - min), prev first = min:
    # 1 + .25·2 = 1.5; 1 + .25·3.5 = 1.875; 1 + .25·4.625 = 2.15625; 1 + .25·5.46875
    ("decorrelated", [1.5, 1.875, 2.15625, 2.3671875]),
]


@pytest.mark.parametrize(("kind", "delays"), JITTER)
def test_jitter_formulas_under_a_fixed_rand(kind: str, delays: list[float]) -> None:
    """Each jitter kind follows its SPEC §2.3 formula exactly."""
    p = policy.parse(f"5xx:backoff(5,1s..30s,x2,jitter={kind})")
    ds = run(p, [Response(503)] * 4, r=0.25)
    assert [d.delay for d in ds] == pytest.approx(delays, rel=1e-12)


@pytest.mark.parametrize(
    ("text", "n", "r", "delay"),
    [
        ("5xx:backoff(9,1s..30s,x2)", 5, 0.0, 30.0),  # 32 capped at max
        ("5xx:backoff(9,1s..30s,x2,jitter=scale)", 4, 0.9, 30.0),  # 16·1.9 capped
        ("5xx:backoff(9,1s..30s,x2,jitter=full)", 8, 0.0, 1.0),  # full may reach min
        ("5xx:backoff(9,4s..30s,x2,jitter=equal)", 0, 0.0, 4.0),  # lo = max(4, 8/2)
        ("5xx:backoff(9,4s..6s,x2,jitter=equal)", 0, 0.0, 4.0),  # hi/2 = 3 raised to min
        ("5xx:backoff(9,4s..6s,x2,jitter=equal)", 0, 0.5, 5.0),  # [4, 6]: hi = max
        ("5xx:backoff(9,1s..30s,x2,jitter=full)", 4, 0.99, 1 + 0.99 * 29),  # hi = max
        ("5xx:backoff(9,2s)", 7, 0.0, 2.0),  # fixed delay
        ("5xx:backoff(9,1s..30s,x1)", 7, 0.0, 1.0),  # factor 1 stays at min
    ],
)
def test_backoff_edges(text: str, n: int, r: float, delay: float) -> None:
    """Caps at max and floors at min apply to every kind."""
    p = policy.parse(text)
    state = AttemptState(T0, n, (n,), (0.0,), math.inf)
    d = decide(p, Response(503), state=state, r=r)
    assert d.delay == delay


def test_decorrelated_reads_the_previous_delay_from_the_state() -> None:
    """prev is per position and survives in the state: 3·prev bounds the next draw."""
    p = policy.parse("5xx:backoff(9,1s..1m,jitter=decorrelated)")
    state = AttemptState(T0, 3, (3,), (10.0,), math.inf)
    assert decide(p, Response(503), state=state, r=0.5).delay == 1 + 0.5 * (30 - 1)


@pytest.mark.parametrize("n", [10_000, 999_999])
@pytest.mark.parametrize("kind", list(Jitter))
def test_retry_ten_thousand_neither_overflows_nor_drifts(n: int, kind: Jitter) -> None:
    """At n = 10 000 and beyond, the base is max and the delay stays in range."""
    b = Backoff(limit=1_000_000, min_ms=1, max_ms=168 * 3600 * 1000, factor=1000, jitter=kind)
    p = Policy([Rule([StatusCode(503)], [b])])
    state = AttemptState(T0, n, (n,), (b.max_ms / 1000,), math.inf)
    d = decide(p, Response(503), state=state, r=0.0 if kind is not Jitter.NONE else 0.5)
    assert isinstance(d, Retry)
    expected = {
        Jitter.NONE: 604800.0,
        Jitter.FULL: 0.001,
        Jitter.EQUAL: 302400.0,
        Jitter.DECORRELATED: 0.001,
        Jitter.SCALE: 604800.0,
    }[kind]
    assert d.delay == pytest.approx(expected)
    assert d.state.counters == (n + 1,)


# --- 2.4 headers --------------------------------------------------------------------------


def _fixtures() -> dict[str, Any]:
    """The vendored fixture file (a missing file fails the test: it ships with the repo)."""
    data: dict[str, Any] = json.loads(FIXTURES.read_text())
    return data


def sample(source_start: str) -> tuple[int, dict[str, str]]:
    """The status and headers of the fixture whose source starts with ``source_start``."""
    data = _fixtures()
    (s,) = [s for s in data["samples"] if s["source"].startswith(source_start)]
    return s["status"], dict(s["headers"])


OPENAI_REQUESTS = (
    "headers(limit-header=x-ratelimit-limit-requests,"
    "remaining-header=x-ratelimit-remaining-requests,reset-header=x-ratelimit-reset-requests)"
)
OPENAI_TOKENS = (
    "headers(limit-header=x-ratelimit-limit-tokens,"
    "remaining-header=x-ratelimit-remaining-tokens,reset-header=x-ratelimit-reset-tokens)"
)
ANTHROPIC = "headers(anthropic-ratelimit-requests-*,format=iso)"

REAL_WORLD = [
    # (fixture, strategy, drop these headers, add a Date?, expected wait)
    ("RFC 9110 Retry-After, delay-seconds", "headers()", [], False, 120.0),
    ("RFC 9110 Retry-After, IMF-fixdate", "headers()", [], True, 30.0),
    ("RFC 9110 Retry-After, obsolete RFC 850", "headers()", [], True, 30.0),
    ("RFC 9110 Retry-After, obsolete asctime", "headers()", [], True, 30.0),
    ("Retry-After with a decimal", "headers()", [], False, 2.5),
    ("IETF RateLimit fields, draft -10", "headers()", [], False, 30.0),
    ("IETF RateLimit fields, draft -06", "headers()", [], False, 7.0),
    ("IETF RateLimit fields, draft -06", "headers(ratelimit-*)", [], False, 7.0),
    ("GitHub primary", "headers(x-ratelimit-*)", [], True, 60.0),
    ("GitHub primary", "headers(x-ratelimit-*,format=epoch)", [], True, 60.0),
    ("GitHub secondary", "headers(x-ratelimit-*)", [], False, 60.0),
    ("X/Twitter", "headers(x-rate-limit-*)", [], True, 900.0),
    ("Discord", "headers(x-ratelimit-*)", [], True, 1.25),
    ("Discord", "headers(x-ratelimit-*)", ["Retry-After"], True, 1.25),
    ("Reddit", "headers(x-ratelimit-*)", [], False, 372.0),
    ("Reddit", "headers()", [], False, 372.0),
    ("OpenAI (Go", OPENAI_REQUESTS, [], False, 1.0),
    ("OpenAI (Go", OPENAI_REQUESTS, ["retry-after", "retry-after-ms"], False, 1.0),
    ("OpenAI (Go", OPENAI_TOKENS + "|backoff(1,3s)", ["retry-after"], False, 3.0),
    ("OpenAI (Go", "headers(reset-header=x-ratelimit-reset-tokens)", ["retry-after"], False, 360.0),
    ("Anthropic (RFC 3339)", "headers()", [], False, 30.0),
    ("Anthropic (RFC 3339)", ANTHROPIC, ["retry-after"], True, 30.0),
    ("Shopify", "headers()", [], False, 2.0),
    ("Azure", "headers(reset-header=retry-after-ms,format=ms)", [], False, 1.5),
]


@pytest.mark.parametrize(("source", "strategy", "drop", "with_date", "wait"), REAL_WORLD)
def test_real_world_rate_limit_headers(
    source: str, strategy: str, drop: list[str], with_date: bool, wait: float
) -> None:
    """Each vendor's headers, as documented, give the wait a client should take."""
    status, headers = sample(source)
    for name in drop:
        headers.pop(name)
    if with_date:
        headers["Date"] = DATE
    d = decide(f"{status}:{strategy}", Response(status, headers), now=T0 + 3)
    assert isinstance(d, Retry), d
    assert d.delay == pytest.approx(wait)


@pytest.mark.parametrize("skew", [-3600.0, -5.0, 0.0, 42.0, 86400.0])
def test_absolute_resets_are_measured_against_the_date_header(skew: float) -> None:
    """A client clock off by any amount still waits what the server meant (GitHub epoch)."""
    status, headers = sample("GitHub primary")
    headers["Date"] = DATE
    d = decide("403:headers(x-ratelimit-*)", Response(status, headers), now=T0 + skew)
    assert d.delay == 60.0


def test_without_a_date_header_absolute_times_use_now() -> None:
    """No Date: the epoch reset is measured against now (and a past reset waits 0s)."""
    h = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(T0) + 60)}
    assert decide("429:headers(x-ratelimit-*)", Response(429, h), now=T0 + 20).delay == 40.0
    assert decide("429:headers(x-ratelimit-*)", Response(429, h), now=T0 + 90).delay == 0.0


@pytest.mark.parametrize(
    ("source", "text"),
    [("Stripe", "409:backoff(3)"), ("OpenAI/Anthropic SDK", "5xx:backoff(3)")],
)
def test_server_stop_signals_win_over_every_rule(source: str, text: str) -> None:
    """stripe-should-retry: false and x-should-retry: false give up before any strategy."""
    status, headers = sample(source)
    d = decide(text, Response(status, headers))
    assert isinstance(d, GiveUp)
    assert "server said do not retry" in d.reason


def test_stop_signal_true_does_not_stop() -> None:
    """x-should-retry: true leaves the decision to the rules."""
    assert isinstance(decide("5xx:backoff(3)", Response(500, {"x-should-retry": "true"})), Retry)


OVER = [
    # (strategy, headers, expected: a delay, or the words of a give-up)
    ("headers(max=1m)", {"retry-after": "120"}, "120s"),
    ("headers(max=1m,over=clamp)", {"retry-after": "120"}, 60.0),
    ("headers(max=1m,over=skip)", {"retry-after": "120", "x-ratelimit-reset": "30"}, 30.0),
    ("headers(max=1m,over=skip)", {"retry-after": "120"}, "no usable rate-limit header"),
    ("headers(max=1m,over=skip)|backoff(1,3s)", {"retry-after": "120"}, 3.0),
    ("headers(max=1m)", {"retry-after": "60"}, 60.0),
    ("headers(x-ratelimit-*,max=1m)", {"x-ratelimit-reset": "61"}, "61s"),
    ("headers(x-ratelimit-*,max=1m,over=clamp)", {"x-ratelimit-reset": "61"}, 60.0),
]


@pytest.mark.parametrize(("strategy", "headers", "expected"), OVER)
def test_a_wait_over_max_follows_over(
    strategy: str, headers: dict[str, str], expected: Any
) -> None:
    """over=giveup names the server's wait, clamp waits max, skip treats the header as absent."""
    d = decide(f"429:{strategy}", Response(429, headers))
    if isinstance(expected, str):
        assert isinstance(d, GiveUp)
        assert expected in d.reason
    else:
        assert isinstance(d, Retry)
        assert d.delay == expected


@pytest.mark.parametrize(
    ("strategy", "wait", "r", "delay"),
    [
        ("headers(jitter=2s)", "10", 0.0, 10.0),
        ("headers(jitter=2s)", "10", 0.5, 11.0),
        ("headers(jitter)", "10", 0.75, 10.75),
        ("headers(max=1m,jitter=2s)", "59.5", 0.9, 60.0),
        ("headers(max=1m,over=clamp,jitter=2s)", "90", 0.9, 60.0),
    ],
)
def test_header_jitter_adds_and_never_shortens(
    strategy: str, wait: str, r: float, delay: float
) -> None:
    """The final wait is min(max, wait + r·jitter)."""
    d = decide(f"429:{strategy}", Response(429, {"Retry-After": wait}), r=r)
    assert d.delay == pytest.approx(delay)


def test_hostile_values_count_as_absent_and_enormous_ones_as_long_waits() -> None:
    """Garbage, negatives, NaN and infinities fall through to the backoff; a well-formed but
    enormous wait (ten years, a date in year 9999, an epoch centuries away) is a wait over
    max, so the default over=giveup gives up naming it -- never a quick fallback retry."""
    data = _fixtures()
    p = policy.parse("429:headers()|backoff(1,3s) 503:headers(x-ratelimit-*)|backoff(1,3s)")
    absent = {
        "negative",
        "not a number",
        "overflows to infinity",
        "empty",
        "garbage",
        "malformed structured field",
    }
    enormous = {"ten years", "far-future date", "huge epoch"}
    assert {case["note"] for case in data["hostile"]} == absent | enormous | {"far-past date"}
    for case in data["hostile"]:
        d = decide(p, Response(429, {**case["headers"], "Date": DATE}))
        if case["note"] in absent:
            assert isinstance(d, Retry) and d.delay == 3.0, case
        elif case["note"] in enormous:
            assert isinstance(d, GiveUp), case
            assert "the server asks to wait" in d.reason, case
        else:  # a date in the past: wait 0s
            assert isinstance(d, Retry) and d.delay == 0.0, case
    ten_years = decide(p, Response(429, {"Retry-After": "315360000"}))
    assert isinstance(ten_years, GiveUp)
    assert "315360000s, about 9.99 years (retry-after)" in ten_years.reason


ENORMOUS = [
    # (strategy, headers, expected: a delay, or the words of a give-up)
    ("headers()|backoff(2,1s)", {"Retry-After": "1000000001"}, "wait 1000000001s, about 32 years"),
    ("headers()|backoff(2,1s)", {"Retry-After": "99999999999999999999999"}, "wait 1e+23s"),
    ("headers()|backoff(2,1s)", {"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"}, "7,973 years"),
    ("headers(max=1m,over=clamp)|backoff(2,1s)", {"Retry-After": "99999999999999999999999"}, 60.0),
    ("headers(max=1m,over=clamp,jitter=5s)", {"Retry-After": "1000000001"}, 60.0),
    ("headers(over=skip)|backoff(2,1s)", {"Retry-After": "99999999999999999999999"}, 1.0),
    (
        "headers(x-ratelimit-*)|backoff(2,1s)",
        {"x-ratelimit-reset": "9" * 30},
        "(x-ratelimit-reset)",
    ),
    (
        "headers(x-ratelimit-*,format=epoch)",
        {"x-ratelimit-reset": "99999999999"},
        "about 3,112 years",
    ),
    ("headers()|backoff(2,1s)", {"RateLimit": '"a";r=0;t=99999999999'}, "(ratelimit)"),
    ("headers(reset-header=r,format=iso,max=1m,over=clamp)", {"r": "9999-12-31T23:59:59Z"}, 60.0),
    ("headers()|backoff(2,1s)", {"Retry-After": "1e309"}, 1.0),  # not a number: absent
    ("headers()|backoff(2,1s)", {"Retry-After": "inf"}, 1.0),
]


@pytest.mark.parametrize(("strategy", "headers", "expected"), ENORMOUS)
def test_enormous_well_formed_waits_follow_over(
    strategy: str, headers: dict[str, str], expected: Any
) -> None:
    """A well-formed wait longer than max is not malformed: over= decides (giveup names the
    server's wait, clamp waits max, skip treats it as absent); non-numbers are absent."""
    d = decide(f"429:{strategy}", Response(429, {**headers, "Date": DATE}))
    if isinstance(expected, str):
        assert isinstance(d, GiveUp), d
        assert "the server asks to wait" in d.reason and expected in d.reason, d.reason
    else:
        assert isinstance(d, Retry), d
        assert d.delay == expected


HEADER_STRATEGIES = [
    "headers()",
    "headers(x-ratelimit-*)",
    "headers(x-ratelimit-*,format=epoch,max=1m,over=clamp,jitter=2s)",
    "headers(x-ratelimit-*,max=1m,over=skip)|backoff(2,3s)",
    "headers(reset-header=x-ratelimit-reset,format=date)",
    "headers(limit-header=x-ratelimit-limit,reset-header=x-ratelimit-reset,format=duration)",
    "headers(2,x-ratelimit-*)|never",
]


_FAMILY = {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "0"}
_RESET = {"x-ratelimit-reset": str(int(T0) + 60)}


@settings(max_examples=300)
@given(
    headers=rate_limit_headers(),
    strategy=st.sampled_from(HEADER_STRATEGIES),
    skew=st.sampled_from([0.0, 5.0, -3600.0]),
    settings=st.sampled_from(["", " attempts=2", " deadline=10s"]),
    r=st.floats(0, 1, exclude_max=True),
)
@example({**_FAMILY, **_RESET, "x-ratelimit-limit": "0"}, "headers(x-ratelimit-*)", 0.0, "", 0.0)
@example({**_FAMILY, **_RESET, "x-ratelimit-remaining": "3"}, "headers(x-ratelimit-*)", 0, "", 0)
@example({**_FAMILY, **_RESET}, "headers(x-ratelimit-*)", 5.0, "", 0.0)  # no Date: now
@example({**_FAMILY, **_RESET, "date": DATE}, "headers(x-ratelimit-*)", 5.0, "", 0.0)
@example({"retry-after": "1000"}, "headers(x-ratelimit-*,max=1m,over=skip)|backoff(2,3s)", 0, "", 0)
def test_headers_fast_path_and_chain_loop_decide_alike(
    headers: dict[str, str], strategy: str, skew: float, settings: str, r: float
) -> None:
    """A headers-first rule decides on its fast path (header texts read from the parts
    caches, cold and warm) exactly as the general chain loop does (reached through a
    method-limited rule): same delay, state and reason, or the same give-up."""
    fast = policy.parse(f"429:{strategy}{settings}")
    looped = policy.parse(f"429[GET]:{strategy}{settings}")
    state = fast.start(now=T0)
    for warm in (False, True):
        if warm:  # every text in every parts cache, as after many responses
            for value in headers.values():
                headers_mod.number(value)
                headers_mod.retry_after_parts(value)
                headers_mod.date_parts(value)
                for fmt in ResetFormat:
                    headers_mod.reset_parts(value, fmt)
        d1 = decide(fast, Response(429, headers), state=state, now=T0 + skew, r=r)
        d2 = decide(looped, Response(429, headers), state=state, now=T0 + skew, r=r)
        assert type(d1) is type(d2)
        assert isinstance(d1, Retry | GiveUp) and isinstance(d2, Retry | GiveUp)
        assert d1.reason == d2.reason.replace("429[GET]:", "429:")
        if isinstance(d1, Retry):
            assert isinstance(d2, Retry)
            assert (d1.delay, d1.state) == (d2.delay, d2.state)


@given(enormous_waits())
def test_an_enormous_server_wait_never_becomes_a_quick_retry(
    case: tuple[dict[str, str], float],
) -> None:
    """For any well-formed wait over max, 429:headers()|backoff(2,1s) gives up naming it
    (never a 1s retry), and over=clamp waits max (§2.4)."""
    headers, wait = case
    assert wait > 900
    d = decide("429:headers()|backoff(2,1s)", Response(429, headers), now=T0 + 5)
    assert isinstance(d, GiveUp), (headers, d)
    assert "the server asks to wait" in d.reason and "longer than the 15m max" in d.reason
    clamped = decide("429:headers(over=clamp)|backoff(2,1s)", Response(429, headers), now=T0)
    assert isinstance(clamped, Retry) and clamped.delay == 900.0


def test_headers_on_a_failure_without_a_response_find_nothing() -> None:
    """A timeout has no headers: headers yields no decision and the chain falls through."""
    assert decide("timeout:headers()|backoff(1,3s)", Timeout()).delay == 3.0


def test_headers_arrive_in_any_case_and_shape() -> None:
    """Header names match case-insensitively and pairs work like a mapping."""
    pairs = [("RETRY-AFTER", "4"), ("Retry-After", "9")]
    assert decide("429:headers()", Response(429, pairs)).delay == 4.0


# --- decisions ----------------------------------------------------------------------------


def test_retry_carries_rule_state_and_a_readable_reason() -> None:
    """Retry names the outcome, the rule in canonical form and the wait."""
    d = decide("5xx:backoff(5,1s..30s,x1.8)", Response(503))
    assert isinstance(d, Retry)
    assert d.rule == rule("5xx:backoff(5,1s..30s,x1.8)")
    assert "503" in d.reason and "5xx:backoff(5,1s..30s,x1.8)" in d.reason
    assert "1.000s" in d.reason
    match d:
        case Retry(delay=seconds, state=AttemptState(retries=1, counters=(1,))):
            assert seconds == 1.0
        case _:
            pytest.fail("Retry does not match its documented shape")


def test_retry_reason_reads_as_a_sentence_with_the_grant_and_the_wait() -> None:
    """The reason of a backoff retry names outcome, rule, the retry granted and the wait."""
    p = policy.parse("5xx:backoff(5,1s..30s,x2)")
    state = AttemptState(T0, 2, (2,), (2.0,), math.inf)
    d = decide(p, Response(502), state=state, r=0.0)
    # third retry: base 1·2² = 4s, no jitter
    assert (
        d.reason
        == "502 matched 5xx:backoff(5,1s..30s,x2): retry 3/5 of its backoff, waiting 4.000s"
    )
    h = decide("429:headers()", Response(429, {"retry-after": "7"}))
    assert h.reason == "429 matched 429:headers(): retry 1/5, waiting 7.000s as retry-after says"


def test_retry_is_a_frozen_attrs_value() -> None:
    """Retry is a frozen attrs class; == and hash take delay, state and rule, not the wording."""
    p = policy.parse("5xx:backoff(5,1s..30s,x2)")
    a = decide(p, Response(503), r=0.0)
    b = decide(p, Response(502), r=0.0)
    assert attrs.has(type(a))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        a.delay = 2.0
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        a._d = ()
    assert a == b and hash(a) == hash(b) and a.reason != b.reason
    assert a != decide(p, Response(503), state=a.state) != a.state
    made = Retry(1, a.state, a.rule, "by hand")
    assert made == a and made.delay == 1.0 and made.reason == "by hand"
    assert repr(made) == f"Retry(delay=1.0, state={a.state!r}, rule={a.rule!r})"
    match made:
        case Retry(seconds, state, rule, why):
            assert (seconds, state, rule, why) == (1.0, a.state, a.rule, "by hand")
        case _:
            pytest.fail("Retry does not match by position")


@pytest.mark.parametrize("r", [0.0, 0.3, 0.99])
def test_straight_path_with_every_jitter_kind_in_one_policy(r: float) -> None:
    """One policy mixing every jitter kind decides each status as a policy of that rule
    alone does (the straight path dispatches on the kind only when kinds are mixed)."""
    kinds = {500: "none", 501: "full", 502: "equal", 503: "decorrelated", 504: "scale"}
    mixed = policy.parse(
        " ".join(f"{code}:backoff(4,1s..8s,x2,jitter={kind})" for code, kind in kinds.items())
    )
    for code, kind in kinds.items():
        alone = policy.parse(f"{code}:backoff(4,1s..8s,x2,jitter={kind})")
        i = list(kinds).index(code)
        sm, sa = mixed.start(now=T0), alone.start(now=T0)
        for _ in range(4):
            dm = decide(mixed, Response(code), state=sm, r=r)
            da = decide(alone, Response(code), state=sa, r=r)
            assert dm.delay == da.delay
            assert dm.state.counters[i] == da.state.counters[0]
            assert dm.state.prev[i] == da.state.prev[0]
            sm, sa = dm.state, da.state
        assert isinstance(decide(mixed, Response(code), state=sm), GiveUp)


def test_straight_path_moves_only_its_own_position() -> None:
    """With other positions around, a backoff retry moves its own counter and prev only."""
    p = policy.parse("429:headers() 5xx:backoff(3,1s..8s,x2) timeout:backoff(2,3s)")
    state = p.start(now=T0)
    for delay in (1.0, 2.0):
        d = decide(p, Response(503), state=state)
        assert d.delay == delay
        state = d.state
    assert (state.counters, state.prev) == ((0, 2, 0), (0.0, 2.0, 0.0))
    d = decide(p, Response(429, {"retry-after": "5"}), state=state)
    assert (d.state.counters, d.state.prev) == ((1, 2, 0), (5.0, 2.0, 0.0))
    d = decide(p, Timeout(), state=d.state)
    assert (d.state.counters, d.state.prev, d.state.retries) == ((1, 2, 1), (5.0, 2.0, 3.0), 4)
    d = decide(p, Response(500), state=d.state)
    assert (d.delay, d.state.counters, d.state.prev) == (4.0, (1, 3, 1), (5.0, 4.0, 3.0))


def test_straight_path_keeps_every_check() -> None:
    """A rule that starts with a backoff still honours stop signals, methods, attempts,
    the deadline, an exhausted counter and a chain's fall-through."""
    p = policy.parse("5xx:backoff(1,1s)|backoff(3,5s) methods=GET attempts=3 deadline=8s")
    s0 = p.start(now=T0)
    assert (
        "server said do not retry"
        in decide(p, Response(503, {"x-should-retry": "false"}), state=s0).reason
    )
    assert "POST is not in methods=GET" in decide(p, Response(503), state=s0, method="POST").reason
    assert isinstance(decide(p, Response(503), state=s0, method="get"), Retry)
    d1 = decide(p, Response(503), state=s0)
    d2 = decide(p, Response(503), state=d1.state, now=T0 + 1)
    assert (d1.delay, d2.delay) == (1.0, 5.0)  # the first link spent, the second one
    assert d2.state.counters == (1, 1)
    late = decide(p, Response(503), state=d1.state, now=T0 + 4)
    assert late.reason.startswith("deadline 8s would pass")
    assert decide(p, Response(503), state=d2.state, now=T0 + 6).reason.startswith("attempts=3")
    first = policy.parse("5xx:backoff(5,1s) attempts=2")
    once = decide(first, Response(503))
    assert decide(first, Response(503), state=once.state).reason.startswith("attempts=2")


def test_decide_leaves_the_given_state_alone() -> None:
    """States are immutable: deciding twice from one state gives the same answer."""
    p = policy.parse("5xx:backoff(5,1s..30s,x2)")
    s = p.start(now=T0)
    a = p.decide(s, Response(503), now=T0, rand=const(0.1))
    b = p.decide(s, Response(503), now=T0, rand=const(0.1))
    assert isinstance(a, Retry) and isinstance(b, Retry)
    assert a == b and a.reason == b.reason
    assert s.counters == (0,) and s.retries == 0


def test_the_evaluator_touches_no_clock_no_sleep_no_random(monkeypatch: pytest.MonkeyPatch) -> None:
    """With time and random booby-trapped, decisions still come out (sans-IO, §2.6)."""

    def trap(*_a: object) -> float:
        raise AssertionError("the evaluator must not read time or randomness")

    p = policy.parse(
        "429:headers()|backoff(2) 503:headers(x-ratelimit-*,format=epoch)|backoff(2) "
        "5xx:backoff(3,1s..8s,jitter=decorrelated) timeout:backoff(1) deadline=1m attempts=5"
    )
    for name in ("sleep", "time", "monotonic", "perf_counter", "time_ns"):
        monkeypatch.setattr(time, name, trap)
    monkeypatch.setattr(random, "random", trap)
    monkeypatch.setattr(random, "uniform", trap)
    state = p.start(now=T0)
    outcomes: list[Any] = [
        Response(500),
        Response(429, {"Retry-After": "Sat, 28 Nov 2026 12:00:05 GMT", "Date": DATE}),
        Response(503, {"x-ratelimit-reset": str(int(T0) + 3), "Date": DATE}),
        Timeout(),
        Response(200),
    ]
    kinds = []
    for o in outcomes:
        d = p.decide(state, o, now=T0, rand=const(0.3))
        kinds.append(type(d))
        if isinstance(d, Retry):
            state = d.state
    assert kinds == [Retry, Retry, Retry, Retry, Accept]
    assert p.schedule(Response(500))[0].min == 1.0
    assert p.worst_case().requests == 5


# --- schedule and worst case ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "outcome", "envelopes"),
    [
        ("5xx:backoff(3,1s..8s,x2)", Response(503), [(1, 1), (2, 2), (4, 4)]),
        ("5xx:backoff(3,1s..8s,x2,jitter)", Response(503), [(1, 2), (1, 4), (1, 8)]),
        ("5xx:backoff(3,1s..8s,x2,jitter=equal)", Response(503), [(1, 2), (2, 4), (4, 8)]),
        ("5xx:backoff(3,3s..8s,x2,jitter=equal)", Response(503), [(3, 6), (4, 8), (4, 8)]),
        ("5xx:backoff(3,1s..8s,x2,jitter=scale)", Response(503), [(1, 2), (2, 4), (4, 8)]),
        ("5xx:backoff(3,1s..8s,x2,jitter=decorrelated)", Response(503), [(1, 3), (1, 8), (1, 8)]),
        ("5xx:backoff(4,1s..8s,x2) attempts=3", Response(503), [(1, 1), (2, 2)]),
        ("429:headers(1,max=1m,jitter=2s)|backoff(1,5s)", Response(429), [(0, 62), (5, 5)]),
        ("429:headers(2)|never|backoff(1)", Response(429), [(0, 900), (0, 900)]),
        ("5xx:never", Response(503), []),
        ("5xx:backoff(3)", Response(404), []),
        ("5xx:backoff(3)", Response(200), []),
        ("timeout:backoff(1,2s)", Timeout(), [(2, 2)]),
    ],
)
def test_schedule_gives_each_retry_its_envelope(
    text: str, outcome: Any, envelopes: list[tuple[float, float]]
) -> None:
    """schedule() lists [lowest, highest] per retry, in chain order (§2.6)."""
    s = policy.parse(text).schedule(outcome)
    assert list(s) == [Envelope(lo, hi) for lo, hi in envelopes]
    assert len(s) == len(envelopes)


def test_schedule_is_lazy_and_indexable() -> None:
    """A million retries are not materialised: len, negative indexes and slices work."""
    s = policy.parse("5xx:backoff(1000000,1s..30s,x2)").schedule(Response(503))
    assert len(s) == 1_000_000
    assert s[0] == Envelope(1.0, 1.0)
    assert s[-1] == Envelope(30.0, 30.0)
    assert s[3:5] == [Envelope(8.0, 8.0), Envelope(16.0, 16.0)]
    with pytest.raises(IndexError):
        s[1_000_000]


@pytest.mark.parametrize(
    ("text", "wait", "requests"),
    [
        ("", 0.0, 1),
        ("5xx:backoff(3,1s..8s,x2)", 7.0, 4),
        ("5xx:backoff(3,1s..8s,x2) attempts=3", 3.0, 3),
        ("5xx:backoff(3,1s..8s,x2) deadline=5s", 5.0, 4),
        ("5xx:backoff(3,1s..8s,x2,jitter)", 14.0, 4),  # hi = 2, 4, 8
        ("5xx:backoff(3,1s..8s,x2,jitter=equal)", 14.0, 4),
        ("5xx:backoff(3,1s..8s,x2,jitter=scale)", 14.0, 4),
        ("5xx:backoff(3,1s..8s,x2,jitter=decorrelated)", 19.0, 4),
        ("5xx:backoff(3,1s) 500-599:backoff(2,1s)", 2.0, 3),  # the first rule never wins
        ("5xx:backoff(2)|never|backoff(9)", 2.8, 3),
        ("429:headers(2,max=1m,jitter=5s)", 120.0, 3),
        # two rules, two retries allowed: 50 + 1 beats 1 + 10
        ("502:backoff(2,1s..100s,x10) 503:backoff(1,50s) attempts=3", 51.0, 3),
        ("502:backoff(2,1s..100s,x10) 503:backoff(1,5s) attempts=3", 11.0, 3),
    ],
)
def test_worst_case(text: str, wait: float, requests: int) -> None:
    """worst_case() is the longest total wait and the most requests of one call."""
    w = policy.parse(text).worst_case()
    assert w.requests == requests
    assert w.wait == pytest.approx(wait)
    assert isinstance(w, WorstCase)


# --- properties -----------------------------------------------------------------------------

backoffs = st.builds(
    Backoff,
    limit=st.integers(1, 1_000_000),
    min_ms=st.integers(0, 10_000),
    max_ms=st.integers(10_000, 168 * 3600 * 1000),
    factor=st.fractions(1, 1000, max_denominator=1000),
    jitter=st.sampled_from(Jitter),
)
unit = st.floats(0, 1, exclude_max=True)


@given(b=backoffs, n=st.integers(0, 10**6), prev=st.floats(0, 700_000), r=unit)
def test_every_backoff_delay_lies_in_min_max(b: Backoff, n: int, prev: float, r: float) -> None:
    """Whatever n, prev and r, the delay is within [min, max] (§2.3)."""
    assume(n < b.limit)
    p = Policy([Rule([StatusCode(503)], [b])])
    state = AttemptState(T0, 0, (n,), (prev,), math.inf)
    d = decide(p, Response(503), state=state, r=r)
    assert isinstance(d, Retry)
    assert b.min_ms / 1000 <= d.delay <= b.max_ms / 1000
    envelope = p.schedule(Response(503))[n]
    assert envelope.min <= d.delay
    if b.jitter is not Jitter.DECORRELATED:  # its bound depends on the prev it was given
        assert d.delay <= envelope.max


#: The fraction of ``rand``'s range over which each kind's first draw is not clamped to
#: max, for min < max (full and equal never clamp: their window ends at or below max).
def _unclamped(kind: Jitter, low: float, high: float) -> float:
    if kind is Jitter.SCALE:  # min·(1 + r) < max
        return min(1.0, high / low - 1)
    if kind is Jitter.DECORRELATED:  # min + r·2·min < max
        return min(1.0, (high - low) / (2 * low))
    return 1.0


@given(
    b=backoffs.filter(lambda b: 0 < b.min_ms < b.max_ms and b.jitter is not Jitter.NONE),
    r1=unit,
    r2=unit,
    straight=st.booleans(),
)
def test_jitter_spreads_the_first_retry(b: Backoff, r1: float, r2: float, straight: bool) -> None:
    """With min < max every jitter kind gives the first retry distinct delays for distinct
    rand (within the part of rand's range its window is not clamped to max): clients that
    failed together do not retry together, not even the first time (§2.3)."""
    low, high = b.min_ms / 1000, b.max_ms / 1000
    reach = _unclamped(b.jitter, low, high)
    r1, r2 = r1 * reach, r2 * reach
    assume(abs(r1 - r2) >= 1e-6)
    p = Policy([Rule([StatusCode(503)], [b], methods=None if straight else ("GET",))])
    d1 = decide(p, Response(503), r=r1)
    d2 = decide(p, Response(503), r=r2)
    assert isinstance(d1, Retry) and isinstance(d2, Retry)
    assert d1.delay != d2.delay
    assert (d1.delay < d2.delay) == (r1 < r2)
    first = p.schedule(Response(503))[0]
    assert first.min == low < first.max
    if b.jitter in (Jitter.FULL, Jitter.EQUAL):
        assert first.max == min(high, 2 * low)


@given(b=backoffs, n=st.integers(0, 2000), prev=st.floats(0, 700_000), r=unit)
def test_straight_path_and_chain_loop_decide_alike(
    b: Backoff, n: int, prev: float, r: float
) -> None:
    """A backoff decided on decide's straight path equals the same backoff decided by the
    general chain loop (reached through a method-limited rule), and without jitter it is
    ``min(max, min·factorⁿ)``."""
    assume(n < b.limit)
    straight = Policy([Rule([StatusCode(503)], [b])])
    looped = Policy([Rule([StatusCode(503)], [b], methods=("GET",))])
    state = AttemptState(T0, n, (n,), (prev,), math.inf)
    d1 = decide(straight, Response(503), state=state, r=r)
    d2 = decide(looped, Response(503), state=state, r=r)
    assert isinstance(d1, Retry) and isinstance(d2, Retry)
    assert (d1.delay, d1.state) == (d2.delay, d2.state)
    assert d1.state == AttemptState(T0, n + 1, (n + 1,), (d1.delay,), math.inf)
    if b.jitter is Jitter.NONE:
        exact = Fraction(b.min_ms)  # min·factorⁿ in exact arithmetic, stopped at max
        for _ in range(n):
            if exact >= b.max_ms or exact == 0:
                break
            exact *= b.factor
        assert d1.delay == pytest.approx(float(min(exact, Fraction(b.max_ms))) / 1000, rel=1e-9)


@given(
    wait=st.integers(0, 5000),
    max_ms=st.integers(0, 3_600_000),
    over=st.sampled_from(Over),
    jitter_ms=st.integers(0, 60_000),
    r=unit,
)
def test_never_below_the_server_wait_unless_clamped(
    wait: int, max_ms: int, over: Over, jitter_ms: int, r: float
) -> None:
    """A headers delay is ≥ the server's wait and ≤ max; only clamp shortens it (§2.4)."""
    h = Headers(max_ms=max_ms, over=over, jitter_ms=jitter_ms)
    p = Policy([Rule([StatusCode(429)], [h])])
    d = decide(p, Response(429, {"retry-after": str(wait)}), r=r)
    max_s = max_ms / 1000
    if wait <= max_s:
        assert isinstance(d, Retry)
        assert wait <= d.delay <= max(max_s, wait)
        assert d.delay <= wait + jitter_ms / 1000
    elif over is Over.CLAMP:
        assert d.delay == max_s
    else:
        assert isinstance(d, GiveUp)


def _size(m: Any, status: int) -> int | None:
    """How many codes ``m`` covers if it matches ``status`` (reference, from the SPEC)."""
    name = type(m).__name__
    if name == "StatusCode":
        return 1 if m.code == status else None
    if name == "StatusRange":
        return m.high - m.low + 1 if m.low <= status <= m.high else None
    if name == "StatusClass":
        return 100 if status // 100 == m.digit else None
    if name == "AllErrors":
        return 1000 if 400 <= status <= 599 else None
    return None


@given(rs=st.lists(rules(), min_size=1, max_size=6), data=st.data())
def test_most_specific_rule_decides_regardless_of_order(rs: list[Rule], data: Any) -> None:
    """A rule that is strictly the most specific for a status wins in any rule order (§2.1)."""
    status = data.draw(st.integers(100, 599).filter(lambda s: not 200 <= s <= 299))
    sizes = []
    for r in rs:
        got = [s for m in r.matchers if (s := _size(m, status)) is not None]
        if r.methods is not None and "GET" not in r.methods:
            got = []  # a rule limited to other methods does not match a GET
        sizes.append(min(got) if got else None)
    matching = [s for s in sizes if s is not None]
    order = data.draw(st.permutations(rs))
    d = decide(Policy(order), Response(status))
    if not matching:
        assert isinstance(d, GiveUp) and d.rule is None
        return
    best = min(matching)
    winners = [r for r, s in zip(rs, sizes, strict=True) if s == best]
    if len(winners) == 1:
        assert d.rule == winners[0]
    else:  # a tie: the last of them in this order
        assert d.rule == [r for r in order if r in winners][-1]


outcomes = st.one_of(
    st.builds(Response, st.sampled_from([429, 500, 502, 503, 404, 200, 418])),
    st.builds(
        Response,
        st.just(429),
        st.fixed_dictionaries(
            {"retry-after": st.sampled_from(["1", "30", "9999", "x"])},
            optional={"x-ratelimit-remaining": st.sampled_from(["0", "3"])},
        ),
    ),
    st.sampled_from([Timeout(), ConnectFailure(), ConnectionReset()]),
)


@given(p=policies(), seq=st.lists(outcomes, min_size=1, max_size=8), r=unit, data=st.data())
def test_every_call_ends_within_its_bounds(p: Policy, seq: list[Any], r: float, data: Any) -> None:
    """Requests per call ≤ 1 + Σ limits and ≤ attempts; no wait ends past the deadline."""
    bound = 1 + sum(getattr(s, "limit", 0) for rl in p.rules for s in rl.strategies)
    if p.attempts is not None:
        bound = min(bound, p.attempts)
    worst = p.worst_case()
    assert worst.requests <= bound
    state = p.start(now=T0)
    now = T0
    requests = 1
    waited = 0.0
    deadline = math.inf if p.deadline_ms is None else T0 + p.deadline_ms / 1000
    for i in range(300):
        method = data.draw(st.sampled_from(["GET", "POST"]))
        d = p.decide(state, seq[i % len(seq)], now=now, rand=const(r), method=method)
        if not isinstance(d, Retry):
            break
        assert now + d.delay <= deadline
        requests += 1
        waited += d.delay
        state = d.state
        now += d.delay + data.draw(st.sampled_from([0.0, 0.5, 7.0]))
    assert requests <= bound
    assert requests <= worst.requests
    assert waited <= worst.wait + 1e-6 * max(1.0, worst.wait)


@given(p=policies(), o=outcomes, r=unit, now=st.floats(T0 - 1e6, T0 + 1e6))
def test_decide_is_deterministic(p: Policy, o: Any, r: float, now: float) -> None:
    """Same state, outcome, now and rand: the same decision and the same reason."""
    s = p.start(now=T0)
    a = p.decide(s, o, now=now, rand=const(r))
    b = p.decide(s, o, now=now, rand=const(r))
    assert a == b
    assert getattr(a, "reason", None) == getattr(b, "reason", None)


header_values = st.one_of(st.text(max_size=40), st.from_regex(r"[0-9.eE+-]{0,25}", fullmatch=True))


@given(
    text=st.sampled_from(["headers()", "headers(x-ratelimit-*)", "headers(a-*,format=iso)"]),
    headers=st.dictionaries(
        st.sampled_from(
            [
                "retry-after",
                "ratelimit",
                "ratelimit-reset",
                "x-ratelimit-reset",
                "x-ratelimit-limit",
                "x-ratelimit-remaining",
                "a-reset",
                "a-limit",
                "date",
            ]
        ),
        header_values,
    ),
    now=st.floats(0, 4e9),
)
def test_arbitrary_header_values_never_raise(
    text: str, headers: dict[str, str], now: float
) -> None:
    """Whatever the server sends, decide returns a decision and a finite, non-negative wait."""
    d = decide(f"429:{text}", Response(429, headers), now=now)
    assert isinstance(d, Retry | GiveUp)
    if isinstance(d, Retry):
        assert 0 <= d.delay <= 900


@given(b=backoffs, r=unit)
def test_schedule_bounds_every_drawn_delay(b: Backoff, r: float) -> None:
    """Each retry of a call lies inside the schedule's envelope for it."""
    p = Policy(
        [
            Rule(
                [StatusCode(503)],
                [
                    Backoff(
                        limit=min(b.limit, 12),
                        min_ms=b.min_ms,
                        max_ms=b.max_ms,
                        factor=b.factor,
                        jitter=b.jitter,
                    )
                ],
            )
        ]
    )
    ds = run(p, [Response(503)] * 12, r=r)
    sched = p.schedule(Response(503))
    for n, d in enumerate(x for x in ds if isinstance(x, Retry)):
        env = sched[n]
        assert env.min - 1e-9 <= d.delay <= env.max + 1e-9


def test_the_benchmark_script_runs() -> None:
    """bench/bench_decide.py runs end to end (one decision per case, nothing timed here)."""
    import importlib.util

    path = Path(__file__).parents[1] / "bench" / "bench_decide.py"
    spec = importlib.util.spec_from_file_location("bench_decide", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    results = module.main(1)
    assert set(results) >= {"backoff", "urllib3", "floor", "ratio"}
    assert all(v > 0 for v in results.values())


def test_schedule_and_worst_case_read_as_tuples_too() -> None:
    """Envelopes and the worst case unpack like (min, max) and (wait, requests) pairs."""
    p = policy.parse("5xx:backoff(3,1s..4s,x2)")
    lo, hi = p.schedule(policy.Response(503))[2]
    assert (lo, hi) == (4.0, 4.0)
    assert list(p.schedule(policy.Response(503))) == [(1.0, 1.0), (2.0, 2.0), (4.0, 4.0)]
    wait, requests = p.worst_case()
    assert (wait, requests) == (7.0, 4)
    assert p.worst_case().wait == 7.0
