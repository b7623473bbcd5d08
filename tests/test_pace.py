"""The pace= and budget= settings, and the pure pacing hold (``Policy.hold``)."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import rate_limit_values

import policy
from policy import BudgetSetting, PaceSetting, Response

NOW = 1_800_000_000.0
HTTP_DATE = "Fri, 15 Jan 2027 06:40:00 GMT"  # epoch 1799995200: NOW - 4800 s

# --- the settings ---------------------------------------------------------------------------

VALID = [
    ("pace=on", "pace=on", True, None),
    ("PACE=ON", "pace=on", True, None),
    ("pace=off", "pace=off", False, None),
    ("budget=20%", "budget=20%", False, Fraction(1, 5)),
    ("budget=12.50%", "budget=12.5%", False, Fraction(1, 8)),
    ("budget=0%", "budget=0%", False, Fraction(0)),
    ("budget=1000%", "budget=1000%", False, Fraction(10)),
    ("5xx:never;budget=0.125%; pace=on", "5xx:never budget=0.125% pace=on", True, Fraction(1, 800)),
]


@pytest.mark.parametrize(("text", "canonical", "pace", "budget"), VALID)
def test_settings_parse_render_and_read(
    text: str, canonical: str, pace: bool, budget: Fraction | None
) -> None:
    """pace= and budget= parse, render canonically, read back, and round-trip."""
    p = policy.parse(text)
    assert str(p) == canonical
    assert policy.parse(canonical) == p
    assert p.pace is pace
    assert p.budget == budget


def test_the_defaults_do_not_render() -> None:
    """A policy without pace= or budget= has pacing off and no budget, and shows neither."""
    p = policy.parse("5xx:backoff(3)")
    assert p.pace is False and p.budget is None
    assert "pace" not in str(p) and "budget" not in str(p)


INVALID = [
    ("budget=20", 1, 8, "write 20%"),
    ("budget=1001%", 1, 8, "between 0% and 1000%"),
    ("budget=1.2345%", 1, 8, "at most three decimals"),
    ("budget=abc", 1, 8, "percentage"),
    ("budget=20%,30%", 1, 12, "one value"),
    ("pace=yes", 1, 6, "known: on, off"),
    ("pace=onn", 1, 6, "did you mean 'on'"),
    ("pace=on pace=off", 1, 9, "given twice"),
    ("budget=5% 5xx:never budget=6%", 1, 21, "given twice"),
    ("5xx:backoff(20%)", 1, 15, "'%'"),
    ("timeout=20%", 1, 9, "duration"),
]


@pytest.mark.parametrize(("text", "line", "column", "words"), INVALID)
def test_bad_settings_are_positioned_errors(text: str, line: int, column: int, words: str) -> None:
    """Each mistake is a PolicyError at the offending value, in words a user knows."""
    with pytest.raises(policy.PolicyError) as info:
        policy.parse(text)
    err = info.value
    assert (err.line, err.column) == (line, column), str(err)
    assert words in str(err)


def test_lark_and_the_fast_parser_agree_on_percentages() -> None:
    """A comment sends the text through Lark: the same policy comes out."""
    assert policy.parse("budget=12.5% pace=on # why") == policy.parse("budget=12.5% pace=on")
    with pytest.raises(policy.PolicySyntaxError, match="percentage"):
        policy.parse("budget=20 # no percent sign")


def test_ast_nodes_validate_by_hand() -> None:
    """Hand-built settings are checked too, and appear at most once in a policy."""
    assert BudgetSetting(20).percent == Fraction(20)
    with pytest.raises(ValueError, match="between 0% and 1000%"):
        BudgetSetting(Fraction(1001))
    with pytest.raises(ValueError, match="three decimals"):
        BudgetSetting(Fraction(1, 3))
    with pytest.raises(TypeError):
        PaceSetting("on")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="given twice"):
        policy.Policy([PaceSetting(True), PaceSetting(False)])


def test_to_options_refuses_pace_and_budget() -> None:
    """The seed has no pacing and no budgets: to_options names them; pace=off is its default."""
    with pytest.raises(policy.PolicyValueError) as info:
        policy.parse("5xx:backoff(3) pace=on budget=20%").to_options()
    assert "pace=on" in str(info.value) and "budget=20%" in str(info.value)
    assert policy.parse("5xx:backoff(3) pace=off").to_options()["retry"]["5xx"]


# --- the hold --------------------------------------------------------------------------------


def _hold(text: str, status: int, headers: dict[str, str], now: float = NOW) -> float | None:
    return policy.parse(text).hold(Response(status, headers), now)


FAMILY = "429:headers(x-ratelimit-*) 5xx:backoff(3,1s..8s,x2,jitter) pace=on"


def test_no_hold_without_pace() -> None:
    """With pacing off a policy never holds, whatever the server says."""
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "30", "retry-after": "5"}
    assert _hold(FAMILY.replace(" pace=on", ""), 429, headers) is None
    assert _hold(FAMILY.replace("pace=on", "pace=off"), 200, headers) is None


def test_remaining_zero_on_a_success_holds_until_the_reset() -> None:
    """A 200 with remaining 0 holds the origin until its reset (delta seconds)."""
    h = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "30"}
    assert _hold(FAMILY, 200, h) == NOW + 30
    assert _hold(FAMILY, 200, {**h, "x-ratelimit-remaining": "0.0"}) == NOW + 30


def test_remaining_above_zero_or_no_reset_is_no_hold() -> None:
    """Quota left, a missing reset or a malformed one: no hold."""
    assert _hold(FAMILY, 200, {"x-ratelimit-remaining": "3", "x-ratelimit-reset": "30"}) is None
    assert _hold(FAMILY, 200, {"x-ratelimit-remaining": "0"}) is None
    assert _hold(FAMILY, 200, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "soon"}) is None
    assert _hold(FAMILY, 200, {"x-ratelimit-reset": "30"}) is None
    assert _hold(FAMILY, 200, {}) is None


def test_epoch_reset_is_measured_against_the_date_header() -> None:
    """An absolute reset counts from the response's Date, not the client's clock."""
    server_now = 1799995200  # HTTP_DATE
    h = {"date": HTTP_DATE, "x-ratelimit-remaining": "0", "x-ratelimit-reset": str(server_now + 20)}
    # The client's clock is 4800 s ahead of the server's: the hold is still 20 s.
    assert _hold(FAMILY, 200, h) == NOW + 20


def test_retry_after_holds_only_on_429_and_503() -> None:
    """Retry-After on a 429 or 503 holds; on a 301 or a 200 it is not about a quota."""
    assert _hold(FAMILY, 429, {"retry-after": "7"}) == NOW + 7
    assert _hold(FAMILY, 503, {"retry-after": "7"}) == NOW + 7
    assert _hold(FAMILY, 301, {"retry-after": "7"}) is None
    assert _hold(FAMILY, 200, {"retry-after": "7"}) is None


def test_retry_after_wins_as_in_the_headers_strategy() -> None:
    """Retry-After and a spent family together: Retry-After decides, as in headers()."""
    h = {"retry-after": "2", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "9"}
    assert _hold(FAMILY, 429, h) == NOW + 2
    # On a 200 Retry-After alone says nothing, but it times a spent family's hold.
    assert _hold(FAMILY, 200, h) == NOW + 2
    assert _hold(FAMILY, 200, {**h, "x-ratelimit-remaining": "1"}) is None


def test_retry_after_zero_on_a_spent_quota_defers_to_the_reset() -> None:
    """Retry-After: 0 with remaining 0 holds until the reset (limiters round it down)."""
    h = {"retry-after": "0", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "1"}
    assert _hold(FAMILY, 200, h) == NOW + 1
    assert _hold(FAMILY, 429, h) == NOW + 1
    assert _hold(FAMILY, 429, {"retry-after": "0"}) is None  # nothing else to go on


def test_the_latest_reset_of_spent_families_wins() -> None:
    """Two spent quotas: the origin is held until both have reset."""
    p = "429:headers(x-a-*)|headers(x-b-*) pace=on"
    h = {"x-a-remaining": "0", "x-a-reset": "3", "x-b-remaining": "0", "x-b-reset": "8"}
    assert _hold(p, 200, h) == NOW + 8


def test_ratelimit_field_is_read_whatever_families_are_named() -> None:
    """The IETF RateLimit field (r=0) holds for every policy: headers(), a named family,
    no headers strategy at all; an item with requests left does not."""
    h = {"ratelimit": '"default";r=0;t=30, "burst";r=4;t=1'}
    assert _hold("429:headers() pace=on", 200, h) == NOW + 30
    assert _hold(FAMILY, 200, h) == NOW + 30
    assert _hold("429:headers(x-foo-*) pace=on", 429, h) == NOW + 30
    assert _hold("5xx:backoff(3) pace=on", 200, h) == NOW + 30
    assert _hold("429:headers() pace=on", 200, {"ratelimit": '"default";r=1;t=30'}) is None


def test_a_hold_is_capped_by_the_deciding_rules_backoff() -> None:
    """A status decided by a backoff rule: its max caps the hold (the matching strategy's
    max); a status no rule decides keeps headers()'s default cap."""
    ra = {"retry-after": "900"}
    assert _hold("5xx:backoff(3,1s..5s) pace=on", 503, ra) == NOW + 5
    assert _hold("429:backoff(3,1s..5s) pace=on", 429, ra) == NOW + 5
    assert _hold("429:headers(max=1m)|backoff(3,1s..5s) pace=on", 429, ra) == NOW + 60
    assert _hold("5xx:backoff(3,1s..5s) pace=on", 429, ra) == NOW + 900


def test_a_policy_without_headers_reads_the_default_families() -> None:
    """No headers strategy: the headers() families, capped at 15m."""
    p = "5xx:backoff(3,1s,jitter) pace=on"
    assert _hold(p, 200, {"ratelimit-remaining": "0", "ratelimit-reset": "12"}) == NOW + 12
    assert _hold(p, 200, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "3600"}) == NOW + 900


def test_a_named_family_with_its_format() -> None:
    """A family named by a strategy is read in that strategy's format."""
    p = "429:headers(x-rl-*,format=ms) pace=on"
    assert _hold(p, 200, {"x-rl-remaining": "0", "x-rl-reset": "1500"}) == NOW + 1.5
    # the default families are not read when every headers strategy names its own
    assert _hold(p, 200, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "5"}) is None


def test_a_hold_never_exceeds_the_matching_max() -> None:
    """The status's rule caps its holds; else the family's strategy; else 15m."""
    p = "429:headers(max=1m) 403:headers(x-gh-*,max=2m) 5xx:backoff(2,1s,jitter) pace=on"
    assert _hold(p, 429, {"retry-after": "3600"}) == NOW + 60
    # A 200 carrying a spent x-gh family: that family's strategy caps it at 2m.
    assert _hold(p, 200, {"x-gh-remaining": "0", "x-gh-reset": "3600"}) == NOW + 120
    # A 503 decided by backoff(2,1s) with Retry-After: that backoff's max, 1s.
    assert _hold(p, 503, {"retry-after": "99999"}) == NOW + 1


def test_a_reset_in_the_past_is_no_hold() -> None:
    """A reset that has already passed needs no hold."""
    h = {"date": HTTP_DATE, "x-ratelimit-remaining": "0", "x-ratelimit-reset": "1799995100"}
    assert _hold(FAMILY, 200, h) is None


# --- properties ------------------------------------------------------------------------------

_values = rate_limit_values()
_names = ["x-ratelimit-remaining", "x-ratelimit-reset", "retry-after", "ratelimit", "date"]


def test_no_hold_while_quota_remains_even_with_retry_after() -> None:
    """Retry-After on a 200 whose quota is not spent holds nothing."""
    assert _hold(FAMILY, 200, {"retry-after": "5", "x-ratelimit-remaining": "4"}) is None


@given(
    max_s=st.integers(1, 3600),
    status=st.sampled_from([200, 404, 429, 503]),
    headers=st.dictionaries(st.sampled_from(_names), _values),
    now=st.floats(0, 4e9, allow_nan=False),
)
def test_hold_is_never_past_now_plus_max(
    max_s: int, status: int, headers: dict[str, str], now: float
) -> None:
    """Whatever the headers, a hold ends after now and no later than now + the max."""
    p = policy.parse(f"429,503:headers(x-ratelimit-*,max={max_s}s) pace=on")
    until = p.hold(Response(status, headers), now)
    assert until is None or now < until <= now + max_s
    # pure: asking again gives the same answer
    assert p.hold(Response(status, headers), now) == until


@given(
    remaining=st.integers(1, 10**6),
    reset=_values,
    status=st.sampled_from([200, 404, 429, 500]),
    now=st.floats(0, 4e9, allow_nan=False),
)
def test_no_hold_while_quota_remains(remaining: int, reset: str, status: int, now: float) -> None:
    """remaining > 0 (no Retry-After on a 429/503, no RateLimit field) never holds."""
    h = {"x-ratelimit-remaining": str(remaining), "x-ratelimit-reset": reset}
    for text in (FAMILY, "429:headers() pace=on", "5xx:backoff(2,1s,jitter) pace=on"):
        assert policy.parse(text).hold(Response(status, h), now) is None


# --- the remaining quota (Policy.quota) -----------------------------------------------------


def _quota(
    text: str, status: int, headers: dict[str, str], now: float = NOW
) -> tuple[int, float] | None:
    return policy.parse(text).quota(Response(status, headers), now)


def test_remaining_and_reset_give_a_quota() -> None:
    """``remaining: N`` with a reset gives (N, reset time), on any status, 0 included."""
    h = {"x-ratelimit-remaining": "3", "x-ratelimit-reset": "30"}
    assert _quota(FAMILY, 200, h) == (3, NOW + 30)
    assert _quota(FAMILY, 429, {**h, "x-ratelimit-remaining": "0"}) == (0, NOW + 30)
    assert _quota(FAMILY, 200, {**h, "x-ratelimit-remaining": "2.7"}) == (2, NOW + 30)
    # A Retry-After beside it is the seconds to the reset (as limiters send it), read
    # first as for a hold; "Retry-After: 0" (rounded down) defers to the reset.
    assert _quota(FAMILY, 200, {**h, "retry-after": "2"}) == (3, NOW + 2)
    assert _quota(FAMILY, 200, {**h, "retry-after": "0"}) == (3, NOW + 30)
    assert _quota(FAMILY, 200, {**h, "retry-after": "soon"}) == (3, NOW + 30)


def test_no_quota_without_pace_or_without_a_usable_pair() -> None:
    """Pacing off, a missing or malformed half of the pair, a past reset: no quota."""
    h = {"x-ratelimit-remaining": "3", "x-ratelimit-reset": "30"}
    assert _quota(FAMILY.replace(" pace=on", ""), 200, h) is None
    assert _quota(FAMILY, 200, {"x-ratelimit-remaining": "3"}) is None
    assert _quota(FAMILY, 200, {"x-ratelimit-reset": "30"}) is None
    assert _quota(FAMILY, 200, {**h, "x-ratelimit-remaining": "-1"}) is None
    assert _quota(FAMILY, 200, {**h, "x-ratelimit-reset": "soon"}) is None
    assert _quota(FAMILY, 200, {**h, "x-ratelimit-reset": "0"}) is None
    assert _quota(FAMILY, 200, {**h, "x-ratelimit-reset": str(int(NOW) - 60)}) is None
    assert _quota(FAMILY, 200, {}) is None
    # Retry-After and the RateLimit field alone give holds, not quotas.
    assert _quota(FAMILY, 429, {"retry-after": "5"}) is None
    assert _quota("pace=on", 200, {"ratelimit": '"default";r=2;t=30'}) is None


def test_a_quota_is_date_corrected_and_within_the_max() -> None:
    """An absolute reset counts from the response's Date; a reset further away than the
    max records no quota (capped, its window would seem new with every answer)."""
    h = {"x-ratelimit-remaining": "4", "x-ratelimit-reset": str(1799995200 + 20)}
    assert _quota(FAMILY, 200, {**h, "date": HTTP_DATE}) == (4, NOW + 20)
    far = {"x-ratelimit-remaining": "4", "x-ratelimit-reset": "7200"}
    assert _quota("429:headers(x-ratelimit-*,max=1m) pace=on", 200, far) is None
    assert _quota("pace=on", 200, far) is None  # headers()'s default max: 15m
    assert _quota("429:headers(x-ratelimit-*,max=3h) pace=on", 200, far) == (4, NOW + 7200)


def test_the_family_with_fewest_requests_left_wins() -> None:
    """Two families: the one closest to running out decides (then the later reset)."""
    text = "429:headers(x-ratelimit-*) 429:headers(ratelimit-*) pace=on"
    h = {
        "x-ratelimit-remaining": "9",
        "x-ratelimit-reset": "5",
        "ratelimit-remaining": "2",
        "ratelimit-reset": "60",
    }
    assert _quota(text, 200, h) == (2, NOW + 60)
    assert _quota(text, 200, {**h, "ratelimit-remaining": "9"}) == (9, NOW + 60)


@given(
    remaining=rate_limit_values(),
    reset=rate_limit_values(),
    status=st.sampled_from([200, 404, 429, 503]),
)
def test_a_quota_is_whole_and_ends_within_the_cap(remaining: str, reset: str, status: int) -> None:
    """Whatever the server sends: no quota, or a whole count >= 0 ending in (now, now + cap]."""
    headers = {"x-ratelimit-remaining": remaining, "x-ratelimit-reset": reset}
    got = _quota("429:headers(x-ratelimit-*,max=2m) pace=on", status, headers)
    if got is not None:
        left, until = got
        assert type(left) is int and left >= 0
        assert NOW < until <= NOW + 120


@given(reset=rate_limit_values(), status=st.sampled_from([200, 404, 429]))
def test_a_spent_quota_ends_when_the_hold_does(reset: str, status: int) -> None:
    """``remaining: 0``: the quota is (0, the hold's end) -- the same reset -- unless the
    reset lies beyond the max: then only the hold, capped at that max."""
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}
    hold = _hold(FAMILY, status, headers)
    got = _quota(FAMILY, status, headers)
    if hold is None:
        assert got is None
    elif got is None:
        assert hold - NOW in (8.0, 900.0)  # FAMILY's caps: backoff(..8s) for a 5xx, 15m
    else:
        assert got == (0, hold)
