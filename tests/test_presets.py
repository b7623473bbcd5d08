"""The rules library (SPEC §1.2, issue 6): every preset parses, renders as ``@name``, can be
overridden, lints clean, and behaves as its vendor documents on vendor-shaped responses.

The behaviour tests read the shared fixtures (``shared/data/rate-limit-headers.json``):
headers shaped like each vendor's documented examples, with the wait a client should
take when the response's ``Date`` is the fixture's ``date``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import rules as rule_values

import policy
from policy import (
    PRESETS,
    ConnectFailure,
    ConnectionReset,
    GiveUp,
    Policy,
    PolicyValueError,
    Preset,
    PresetRef,
    Response,
    Retry,
    Timeout,
)
from policy.language._parse import expand
from policy.language._render import render_matcher

FIXTURES = Path(__file__).parent / "data" / "rate-limit-headers.json"

NAMES = sorted(PRESETS)


@pytest.fixture(scope="module")
def fixtures() -> dict[str, Any]:
    """The vendored vendor-shaped header samples (a missing file fails, never skips)."""
    data: dict[str, Any] = json.loads(FIXTURES.read_text("utf-8"))
    return data


def sample(fixtures: Mapping[str, Any], source_start: str) -> dict[str, Any]:
    """The one fixture sample whose ``source`` starts with ``source_start``."""
    found = [s for s in fixtures["samples"] if s["source"].startswith(source_start)]
    assert len(found) == 1, f"{source_start!r} matches {len(found)} samples"
    return dict(found[0])


def with_date(fixtures: Mapping[str, Any], headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` plus the fixture's ``Date`` (what the samples' waits are measured from)."""
    return {**headers, "Date": fixtures["date"]}


def without(headers: Mapping[str, str], *names: str) -> dict[str, str]:
    """``headers`` minus ``names`` (case-insensitively)."""
    drop = {n.lower() for n in names}
    return {k: v for k, v in headers.items() if k.lower() not in drop}


def first(
    text: str,
    outcome: policy.Response | Timeout | ConnectFailure | ConnectionReset,
    *,
    now: float = 1_795_867_200.0,
    rand: Callable[[], float] = lambda: 0.0,
    method: str = "GET",
) -> policy.Retry | policy.GiveUp | policy.Accept:
    """The decision after the first attempt of a call under ``text``."""
    p = policy.parse(text)
    return p.decide(p.start(now=now), outcome, now=now, rand=rand, method=method)


def delay_of(decision: object) -> float:
    """The delay of a ``Retry`` (fails the test on any other decision)."""
    assert isinstance(decision, Retry), decision
    return decision.delay


# --- the registry -----------------------------------------------------------------------


def test_the_issue_presets_exist() -> None:
    """The presets issue 6 asks for are all in the registry under lower-case names."""
    assert {"standard", "github", "openai", "anthropic", "stripe", "discord"} <= set(PRESETS)
    assert all(name == p.name == name.lower() for name, p in PRESETS.items())


@pytest.mark.parametrize("name", NAMES)
def test_preset_text_is_canonical_rules_only(name: str) -> None:
    """A preset's text parses to rules only and is already in canonical form."""
    preset = PRESETS[name]
    parsed = policy.parse(preset.text)
    assert parsed.items and all(isinstance(i, policy.Rule) for i in parsed.items)
    assert str(parsed) == preset.text
    assert expand(preset) == parsed.rules


@pytest.mark.parametrize("name", NAMES)
def test_preset_is_documented(name: str) -> None:
    """Every preset has a one-line description and names the vendor pages it follows."""
    preset = PRESETS[name]
    assert preset.description and "\n" not in preset.description
    assert preset.sources and all("https://" in s for s in preset.sources)


@pytest.mark.parametrize("name", NAMES)
def test_preset_renders_as_its_name_and_round_trips(name: str) -> None:
    """``@GitHub`` parses to a PresetRef of the expanded rules and renders as ``@github``."""
    p = policy.parse(f"@{name.upper()}")
    assert p.items == (PresetRef(name, expand(PRESETS[name])),)
    assert str(p) == f"@{name}"
    assert policy.parse(str(p)) == p
    assert p.rules == policy.parse(PRESETS[name].text).rules


@pytest.mark.parametrize("name", NAMES)
def test_preset_lints_clean(name: str) -> None:
    """A preset's rules draw no error or warning from the linter; written out by hand, only
    W111 (they retry every method, as the APIs' own SDKs do), which methods=* silences."""
    from policy.check._lint import lint

    for text in (f"{PRESETS[name].text} methods=*", f"@{name}"):
        found = [(d.code, d.message) for d in lint(text) if d.severity != "info"]
        assert found == [], text
    by_hand = {d.code for d in lint(PRESETS[name].text) if d.severity != "info"}
    assert by_hand <= {"W111"}, by_hand


def test_unknown_preset_lists_the_known_ones() -> None:
    """An unknown name is a PolicyValueError naming every preset, with a did-you-mean."""
    with pytest.raises(PolicyValueError) as info:
        policy.parse("@githb 5xx:never")
    message = str(info.value)
    assert "did you mean 'github'" in message
    for name in PRESETS:
        assert f"@{name}" in message
    assert (info.value.line, info.value.column) == (1, 2)


def test_a_preset_may_not_hold_settings() -> None:
    """expand() refuses a preset whose text holds a setting (presets are rules only)."""
    with pytest.raises(ValueError, match="rules only"):
        expand(Preset("bad", "5xx:backoff(3) timeout=10s", "a bad one"))


# --- round trip and overriding (properties) -----------------------------------------------


@given(
    items=st.lists(
        st.one_of(
            st.sampled_from(NAMES).map(lambda n: policy.parse(f"@{n}").items[0]),
            rule_values(),
        ),
        max_size=5,
    )
)
def test_policies_with_presets_round_trip(items: list[Any]) -> None:
    """Any mix of presets and rules survives the canonical form: parse(str(p)) == p."""
    p = Policy(items)
    assert policy.parse(str(p)) == p
    assert str(policy.parse(str(p))) == str(p)


_OUTCOMES = st.one_of(
    st.integers(100, 599).map(lambda s: Response(s)),
    st.sampled_from([Timeout(), ConnectFailure(), ConnectionReset()]),
)


@given(name=st.sampled_from(NAMES), outcome=_OUTCOMES, rand=st.floats(0, 0.999))
def test_a_preset_decides_exactly_as_its_text(name: str, outcome: Any, rand: float) -> None:
    """``@name`` inserts its rules in place: every decision equals the written-out text's
    (with the settings the preset carries)."""
    a = first(f"@{name}", outcome, rand=lambda: rand)
    b = first(f"{PRESETS[name].text} {PRESETS[name].settings}", outcome, rand=lambda: rand)
    assert a == b
    assert getattr(a, "reason", None) == getattr(b, "reason", None)


def _preset_matchers() -> st.SearchStrategy[tuple[str, str]]:
    pairs = [
        (name, render_matcher(m))
        for name in NAMES
        for rule in expand(PRESETS[name])
        for m in rule.matchers
    ]
    return st.sampled_from(pairs)


@given(pair=_preset_matchers(), status=st.integers(100, 599))
def test_a_later_rule_overrides_the_preset_at_equal_specificity(
    pair: tuple[str, str], status: int
) -> None:
    """``@name M:never`` gives up wherever the preset's own matcher M was deciding."""
    name, matcher = pair
    outcome: Any = {
        "timeout": Timeout(),
        "connect": ConnectFailure(),
        "reset": ConnectionReset(),
    }.get(matcher, Response(status))
    base = policy.parse(f"@{name}")
    decided_by = base.compiled().entry_for(outcome)
    own = policy.parse(f"{matcher}:never").rules[0].matchers[0]
    if decided_by is None or own not in decided_by[0].matchers:
        return  # the preset's rule with M does not decide this outcome
    if isinstance(outcome, Response):
        # M decides only where no narrower matcher of the preset does.
        narrower = [
            m
            for m in decided_by[0].matchers
            if hasattr(m, "covers") and m.covers(status) and m.size < own.size  # type: ignore[union-attr]
        ]
        if narrower or not own.covers(status):  # type: ignore[union-attr]
            return
    d = first(f"@{name} {matcher}:never", outcome)
    assert isinstance(d, GiveUp) and "never" in d.reason, d


def test_github_5xx_never_overrides_the_presets_5xx() -> None:
    """The issue's example: ``@github 5xx:never`` stops 502 retries, and nothing else."""
    bad_gateway = Response(502)
    assert isinstance(first("@github", bad_gateway), Retry)
    assert isinstance(first("@github 5xx:never", bad_gateway), GiveUp)
    assert isinstance(first("@github 5xx:never", ConnectFailure()), Retry)


# --- every preset stays within its budget (properties) ------------------------------------


@given(name=st.sampled_from(NAMES), rand=st.floats(0, 0.999), pick=st.integers(0, 10_000))
def test_a_preset_call_ends_within_its_worst_case(
    fixtures: dict[str, Any], name: str, rand: float, pick: int
) -> None:
    """Repeating any vendor-shaped response ends in a give-up within worst_case() requests."""
    samples = fixtures["samples"]
    s = samples[pick % len(samples)]
    outcome = Response(s["status"], with_date(fixtures, s["headers"]))
    p = policy.parse(f"@{name}")
    now = float(fixtures["date_epoch"])
    state = p.start(now=now)
    bound = p.worst_case().requests
    for _ in range(bound):
        d = p.decide(state, outcome, now=now, rand=lambda: rand)
        if not isinstance(d, Retry):
            break
        assert 0 <= d.delay <= p.worst_case().wait
        state = d.state
    else:
        pytest.fail(f"@{name} still retrying {s['source']} after {bound} requests")
    assert state.requests <= bound


@pytest.mark.parametrize("name", NAMES)
def test_hostile_headers_never_raise(fixtures: dict[str, Any], name: str) -> None:
    """Malformed and absurd header values yield a finite decision for every status."""
    for h in fixtures["hostile"]:
        for status in (403, 409, 429, 500, 503, 529):
            d = first(f"@{name}", Response(status, with_date(fixtures, h["headers"])))
            if isinstance(d, Retry):
                assert math.isfinite(d.delay) and 0 <= d.delay <= 3600


# --- @standard ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "RFC 9110 Retry-After, delay-seconds",
        "RFC 9110 Retry-After, IMF-fixdate",
        "RFC 9110 Retry-After, obsolete RFC 850 date",
        "RFC 9110 Retry-After, obsolete asctime date",
        "Retry-After with a decimal",
        "IETF RateLimit fields, draft -10",
        "IETF RateLimit fields, draft -06",
        "Shopify REST",
    ],
)
def test_standard_waits_as_the_server_says(fixtures: dict[str, Any], source: str) -> None:
    """@standard takes the wait from Retry-After or the IETF RateLimit fields on 429/503."""
    s = sample(fixtures, source)
    for status in (429, 503):
        d = first("@standard", Response(status, with_date(fixtures, s["headers"])))
        assert delay_of(d) == pytest.approx(s["wait"])


def test_standard_falls_back_to_jittered_backoff() -> None:
    """A 503 without headers backs off from 1s, doubling, jittered within [1s, 2·base]."""
    p = policy.parse("@standard")
    state = p.start(now=0.0)
    delays = []
    for _ in range(4):
        d = p.decide(state, Response(503), now=0.0, rand=lambda: 0.999)
        assert isinstance(d, Retry)
        delays.append(d.delay)
        state = d.state
    assert delays == pytest.approx([1 + 0.999 * 1, 1 + 0.999 * 3, 1 + 0.999 * 7, 1 + 0.999 * 15])
    assert isinstance(p.decide(state, Response(503), now=0.0), GiveUp)


def test_standard_gives_up_on_a_wait_over_five_minutes() -> None:
    """A server asking for 10 minutes gets a give-up naming the wait, not a long sleep."""
    d = first("@standard", Response(429, {"Retry-After": "600"}))
    assert isinstance(d, GiveUp) and "600s" in d.reason


@pytest.mark.parametrize(
    ("outcome", "retried"),
    [
        (Response(502), True),
        (Response(504), True),
        (ConnectFailure(), True),
        (Response(500), False),
        (Response(404), False),
        (ConnectionReset(), False),
        (Timeout(), False),
    ],
)
def test_standard_retries_what_is_safe(outcome: Any, retried: bool) -> None:
    """502/504/connect back off; 500, 4xx, reset and timeout are not retried by @standard."""
    assert isinstance(first("@standard", outcome, method="POST"), Retry) is retried


def test_standard_with_idempotent_reset_and_timeout() -> None:
    """The documented addition retries reset/timeout for GET but not POST (connect: both)."""
    text = (
        "@standard reset,timeout:backoff(3,1s..30s,x2,jitter) methods=GET,HEAD,PUT,DELETE,OPTIONS"
    )
    assert delay_of(first(text, ConnectionReset(), method="GET")) == 1.0
    assert isinstance(first(text, Timeout(), method="POST"), GiveUp)
    assert isinstance(first(text, ConnectFailure(), method="POST"), Retry)


# --- @github --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [403, 429])
def test_github_primary_limit_waits_for_the_epoch_reset(
    fixtures: dict[str, Any], status: int
) -> None:
    """403/429 with remaining 0 waits until x-ratelimit-reset, measured from Date."""
    s = sample(fixtures, "GitHub primary rate limit")
    headers = with_date(fixtures, s["headers"])
    assert delay_of(first("@github", Response(status, headers))) == s["wait"] == 60
    # A client clock 17 minutes fast changes nothing: the reset is read against Date.
    skewed = first("@github", Response(status, headers), now=fixtures["date_epoch"] + 1000.0)
    assert delay_of(skewed) == 60


def test_github_forbidden_is_not_a_rate_limit(fixtures: dict[str, Any]) -> None:
    """A 403 with remaining above 0 and no Retry-After is a plain 403: give up."""
    s = sample(fixtures, "GitHub primary rate limit")
    headers = with_date(fixtures, {**s["headers"], "x-ratelimit-remaining": "4990"})
    d = first("@github", Response(403, headers))
    assert isinstance(d, GiveUp) and "no usable rate-limit header" in d.reason
    assert isinstance(first("@github", Response(403)), GiveUp)


def test_github_secondary_limit_obeys_retry_after(fixtures: dict[str, Any]) -> None:
    """A secondary limit with Retry-After waits exactly that long, on 429 and on 403."""
    s = sample(fixtures, "GitHub secondary rate limit")
    for status in (403, 429):
        d = first("@github", Response(status, with_date(fixtures, s["headers"])))
        assert delay_of(d) == s["wait"] == 60


def test_github_secondary_limit_without_retry_after_waits_a_minute_and_more(
    fixtures: dict[str, Any],
) -> None:
    """A 429 with remaining above 0 and no Retry-After waits at least 1m, its window growing."""
    s = sample(fixtures, "GitHub secondary rate limit")
    response = Response(429, with_date(fixtures, without(s["headers"], "retry-after")))
    p = policy.parse("@github")
    state = p.start(now=0.0)
    delays = []
    for _ in range(3):
        d = p.decide(state, response, now=0.0, rand=lambda: 0.999)
        assert isinstance(d, Retry)
        delays.append(d.delay)
        state = d.state
    # backoff(3,1m..4m,x2,jitter): full jitter over [1m, 2m], [1m, 4m], [1m, 4m]
    assert delays == pytest.approx([60 + 0.999 * 60, 60 + 0.999 * 180, 60 + 0.999 * 180])
    assert all(d >= 60 for d in delays)
    assert isinstance(p.decide(state, response, now=0.0), GiveUp)


def test_github_gives_up_on_a_reset_over_an_hour(fixtures: dict[str, Any]) -> None:
    """A reset further away than the hour GitHub's windows last is refused, with the wait."""
    reset = str(fixtures["date_epoch"] + 2 * 3600)
    headers = with_date(fixtures, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset})
    d = first("@github", Response(403, headers))
    assert isinstance(d, GiveUp) and "7200s" in d.reason


# --- @openai --------------------------------------------------------------------------------


def test_openai_documented_429_waits_one_second(fixtures: dict[str, Any]) -> None:
    """The documented 429 (retry-after-ms 1000, reset-requests 1s) waits 1s."""
    s = sample(fixtures, "OpenAI (Go-style durations)")
    d = first("@openai", Response(429, with_date(fixtures, s["headers"])))
    assert delay_of(d) == s["wait"] == 1


def test_openai_reads_retry_after_ms_alone(fixtures: dict[str, Any]) -> None:
    """retry-after-ms without Retry-After (Azure OpenAI) is read in milliseconds."""
    s = sample(fixtures, "Azure OpenAI")
    d = first("@openai", Response(429, with_date(fixtures, s["headers"])))
    assert delay_of(d) == s["wait"] == 1.5


def test_openai_reads_the_exhausted_limits_duration(fixtures: dict[str, Any]) -> None:
    """Without retry headers, the reset of the family whose remaining is 0 decides, up to
    the SDK's 2-minute ceiling on a server's wait; a longer reset gives up, naming it."""
    s = sample(fixtures, "OpenAI (Go-style durations)")
    bare = without(s["headers"], "retry-after", "retry-after-ms")
    assert delay_of(first("@openai", Response(429, bare))) == 1  # requests: 1s
    tokens_out = {**bare, "x-ratelimit-remaining-tokens": "0"}
    d = first("@openai", Response(429, tokens_out))  # tokens: 6m0s, over 2m
    assert isinstance(d, GiveUp) and "360s" in d.reason
    tokens_soon = {**tokens_out, "x-ratelimit-reset-tokens": "1m30s"}
    assert delay_of(first("@openai", Response(429, tokens_soon))) == 90


def test_openai_429_without_headers_backs_off() -> None:
    """A 429 with no usable header backs off from 500ms (jittered up to 1s, then 2s), twice,
    then gives up."""
    p = policy.parse("@openai")
    state = p.start(now=0.0)
    for expected in (1.0, 2.0):
        d = p.decide(state, Response(429), now=0.0, rand=lambda: 1 - 1e-9)
        assert delay_of(d) == pytest.approx(expected)
        state = d.state  # type: ignore[union-attr]
    assert isinstance(p.decide(state, Response(429), now=0.0), GiveUp)


@pytest.mark.parametrize("status", [408, 409, 429, 500, 503, 599])
def test_openai_retries_what_its_sdk_retries(status: int) -> None:
    """openai-python 3.3.1: 408, 409, 429 and >= 500 back off from 500ms without a server
    wait; a wait of up to 2 minutes (retry-after-ms or Retry-After) is honoured."""
    assert delay_of(first("@openai", Response(status))) == 0.5
    assert delay_of(first("@openai", Response(status, {"retry-after-ms": "2500"}))) == 2.5
    assert delay_of(first("@openai", Response(status, {"retry-after-ms": "120000"}))) == 120
    assert delay_of(first("@openai", Response(status, {"retry-after": "120"}))) == 120


@pytest.mark.parametrize("status", [408, 409, 429, 500, 503])
@pytest.mark.parametrize("headers", [{"retry-after-ms": "120001"}, {"retry-after": "121"}])
def test_openai_gives_up_on_a_server_wait_over_two_minutes(
    status: int, headers: dict[str, str]
) -> None:
    """Over MAX_RETRY_AFTER_DELAY (120s) the SDK does not retry (since 2.52.0; before, it
    ignored the header and backed off): the preset gives up and names the wait."""
    d = first("@openai", Response(status, headers))
    assert isinstance(d, GiveUp) and "longer than the 2m max" in d.reason


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_openai_does_not_retry_other_4xx(status: int) -> None:
    assert isinstance(first("@openai", Response(status)), GiveUp)


def test_openai_retries_two_times_then_gives_up() -> None:
    """DEFAULT_MAX_RETRIES = 2: a third failure of the same kind gives up."""
    p = policy.parse("@openai")
    for outcome in (Response(503), Response(408), ConnectFailure(), Timeout()):
        state = p.start(now=0.0)
        for _ in range(2):
            d = p.decide(state, outcome, now=0.0, rand=lambda: 0.0)
            assert delay_of(d) == 0.5  # rand 0: the window's low end, 500ms
            state = d.state  # type: ignore[union-attr]
        assert isinstance(p.decide(state, outcome, now=0.0, rand=lambda: 0.0), GiveUp)


def test_openai_retries_reset_and_timeout_for_idempotent_methods_only() -> None:
    """The SDK retries timeouts and broken connections; the preset does for idempotent
    methods (a POST may have been processed), and connection failures for every method."""
    for outcome in (Timeout(), ConnectionReset()):
        assert delay_of(first("@openai", outcome, method="GET")) == 0.5
        assert isinstance(first("@openai", outcome, method="POST"), GiveUp)
    assert delay_of(first("@openai", ConnectFailure(), method="POST")) == 0.5
    # the POST-level behaviour is one rule away, with the lint warning it deserves
    assert (
        delay_of(
            first("@openai reset,timeout:backoff(2,500ms..8s,x2,jitter)", Timeout(), method="POST")
        )
        == 0.5
    )


def test_openai_obeys_x_should_retry(fixtures: dict[str, Any]) -> None:
    """``x-should-retry: false`` on a 500 stops the call."""
    s = sample(fixtures, "OpenAI/Anthropic SDK convention")
    d = first("@openai", Response(s["status"], s["headers"]))
    assert isinstance(d, GiveUp) and "do not retry" in d.reason


# --- @anthropic -----------------------------------------------------------------------------


def test_anthropic_429_waits_for_retry_after(fixtures: dict[str, Any]) -> None:
    """The documented 429 waits its Retry-After of 30s."""
    s = sample(fixtures, "Anthropic (RFC 3339)")
    d = first("@anthropic", Response(429, with_date(fixtures, s["headers"])))
    assert delay_of(d) == s["wait"] == 30


def test_anthropic_429_reads_the_rfc3339_reset(fixtures: dict[str, Any]) -> None:
    """Without Retry-After, the exhausted anthropic-ratelimit-*-reset (RFC 3339) decides."""
    s = sample(fixtures, "Anthropic (RFC 3339)")
    headers = with_date(fixtures, without(s["headers"], "retry-after"))
    assert delay_of(first("@anthropic", Response(429, headers))) == 30
    tokens = {
        "anthropic-ratelimit-requests-remaining": "12",
        "anthropic-ratelimit-tokens-remaining": "0",
        "anthropic-ratelimit-tokens-reset": "2026-11-28T12:00:12.5Z",
    }
    assert delay_of(first("@anthropic", Response(429, with_date(fixtures, tokens)))) == 12.5


def test_anthropic_spend_limit_gives_up(fixtures: dict[str, Any]) -> None:
    """A 429 with no wait header at all (a spend limit) is not retried."""
    s = sample(fixtures, "Anthropic spend limit")
    d = first("@anthropic", Response(429, s["headers"]))
    assert isinstance(d, GiveUp) and "no usable rate-limit header" in d.reason


def test_anthropic_529_overloaded_backs_off_longer_than_other_5xx() -> None:
    """529 backs off from 1s (full jitter windows up to 2s, 4s, 8s, 16s) then gives up; the
    preset's attempts=3 stops it after two retries, as the SDK does, and a written
    attempts= lifts the cap; a 500 starts at 500ms."""
    for text, windows, why in (
        ("@anthropic", (2, 4), "attempts=3 reached"),
        ("@anthropic attempts=10", (2, 4, 8, 16), "4/4"),
    ):
        p = policy.parse(text)
        state = p.start(now=0.0)
        for expected in windows:
            d = p.decide(state, Response(529), now=0.0, rand=lambda: 1 - 1e-12)
            assert delay_of(d) == pytest.approx(expected)
            state = d.state  # type: ignore[union-attr]
        d = p.decide(state, Response(529), now=0.0)
        assert isinstance(d, GiveUp) and why in d.reason, (text, d)
    assert delay_of(first("@anthropic", Response(500))) == 0.5


# --- @stripe --------------------------------------------------------------------------------


def test_stripe_should_retry_false_gives_up(fixtures: dict[str, Any]) -> None:
    """A 409 with ``Stripe-Should-Retry: false`` is final; without it the 409 is retried."""
    s = sample(fixtures, "Stripe: server says do not retry")
    d = first("@stripe", Response(s["status"], s["headers"]))
    assert isinstance(d, GiveUp) and "do not retry" in d.reason
    assert delay_of(first("@stripe", Response(409))) == 0.5


def test_stripe_lock_timeout_429_backs_off() -> None:
    """A 429 lock timeout (no headers) backs off twice from 500ms (windows up to 1s, 2s), then
    gives up."""
    p = policy.parse("@stripe")
    state = p.start(now=0.0)
    for expected in (1.0, 2.0):
        d = p.decide(state, Response(429), now=0.0, rand=lambda: 1 - 1e-12)
        assert delay_of(d) == pytest.approx(expected)
        state = d.state  # type: ignore[union-attr]
    assert isinstance(p.decide(state, Response(429), now=0.0), GiveUp)


def test_stripe_honours_a_short_retry_after_only() -> None:
    """Retry-After up to a minute is obeyed; a longer one is ignored for the backoff."""
    assert delay_of(first("@stripe", Response(429, {"Retry-After": "3"}))) == 3
    assert delay_of(first("@stripe", Response(429, {"Retry-After": "3600"}))) == 0.5


# --- @discord -------------------------------------------------------------------------------


def test_discord_documented_429_waits_one_and_a_quarter_seconds(
    fixtures: dict[str, Any],
) -> None:
    """The documented 429 waits 1.25s, from Retry-After, reset-after or the epoch reset."""
    s = sample(fixtures, "Discord")
    headers = with_date(fixtures, s["headers"])
    assert delay_of(first("@discord", Response(429, headers))) == s["wait"] == 1.25
    no_retry_after = without(headers, "retry-after")
    assert delay_of(first("@discord", Response(429, no_retry_after))) == 1.25
    # The reset-after header is preferred: the epoch reset is measured against Date, so a
    # Date one second early would stretch it, but not the reset-after.
    early = {**no_retry_after, "Date": "Sat, 28 Nov 2026 11:59:59 GMT"}
    assert delay_of(first("@discord", Response(429, early))) == 1.25
    epoch_only = without(no_retry_after, "x-ratelimit-reset-after")
    assert delay_of(first("@discord", Response(429, epoch_only))) == 1.25


def test_discord_429_without_headers_gives_up() -> None:
    """A bare 429 (e.g. a Cloudflare ban) is not retried: retrying would extend the ban."""
    d = first("@discord", Response(429))
    assert isinstance(d, GiveUp)


def test_discord_5xx_backs_off() -> None:
    """A 502 from Discord backs off from 1s."""
    assert delay_of(first("@discord", Response(502))) == 1.0


# --- docs/presets.md --------------------------------------------------------------------------

DOC = Path(__file__).resolve().parents[1] / "docs" / "presets.md"


def _doc_sections() -> dict[str, str]:
    sections: dict[str, str] = {}
    for part in DOC.read_text("utf-8").split("\n## ")[1:]:
        title, _, body = part.partition("\n")
        sections[title.strip()] = body
    return sections


def _blocks(text: str, lang: str) -> list[str]:
    return [b.split("```", 1)[0] for b in text.split(f"```{lang}\n")[1:]]


@pytest.mark.parametrize("name", NAMES)
def test_docs_show_each_preset_expanded_with_its_sources(name: str) -> None:
    """docs/presets.md has a section per preset with its exact rules, one a line, and sources."""
    body = _doc_sections()[f"@{name}"]
    (block,) = _blocks(body, "text")
    assert " ".join(block.split()) == PRESETS[name].text
    for source in PRESETS[name].sources:
        url = source[source.index("https://") :]
        assert url in body, url


def test_docs_python_examples_run() -> None:
    """Every python block in docs/presets.md runs without error."""
    blocks = _blocks(DOC.read_text("utf-8"), "python")
    assert blocks
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), {})


def test_docs_text_examples_parse() -> None:
    """Every text block in docs/presets.md is a valid policy."""
    for block in _blocks(DOC.read_text("utf-8"), "text"):
        policy.parse(block)


def test_composition_claims_in_the_docs() -> None:
    """A narrower preset rule beats a broader later one; equal specificity: later wins."""
    # @anthropic 5xx:never leaves 529 to the preset's own 529 rule.
    assert isinstance(first("@anthropic 5xx:never", Response(529)), Retry)
    assert isinstance(first("@anthropic 5xx,529:never", Response(529)), GiveUp)
    # @standard @github: GitHub's 429 wins, @standard's exact 503 beats GitHub's 5xx.
    both = policy.parse("@standard @github")
    github_429 = policy.parse("@github").compiled().entry_for(Response(429))
    standard_503 = policy.parse("@standard").compiled().entry_for(Response(503))
    assert github_429 is not None and standard_503 is not None
    assert both.compiled().entry_for(Response(429))[0] == github_429[0]  # type: ignore[index]
    assert both.compiled().entry_for(Response(503))[0] == standard_503[0]  # type: ignore[index]
