"""Parsing: every construct of SPEC §1 from text to AST, and what arbitrary text does."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from strategies import policy_text

import policy
from policy import (
    AllErrors,
    AttemptsSetting,
    Backoff,
    DeadlineSetting,
    Headers,
    Jitter,
    MethodsSetting,
    Never,
    OnConnect,
    OnError,
    OnReset,
    OnTimeout,
    Over,
    Policy,
    ResetFormat,
    Rule,
    StatusClass,
    StatusCode,
    StatusRange,
    TimeoutSetting,
)

B = Backoff()
H = Headers()
N = Never()
XRL = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")


def rule(matchers: object, *strategies: object) -> Rule:
    """A rule from one matcher or a list of them."""
    ms = matchers if isinstance(matchers, list) else [matchers]
    return Rule(ms, list(strategies))


def one(matchers: object, *strategies: object) -> Policy:
    """A policy of one rule."""
    return Policy([rule(matchers, *strategies)])


def hdr(family: tuple[str, str, str] | None = None, **kw: object) -> Headers:
    """A Headers strategy, optionally with a family's three names."""
    if family is not None:
        kw.update(zip(("limit_header", "remaining_header", "reset_header"), family, strict=True))
    return Headers(**kw)  # type: ignore[arg-type]


VALID: list[tuple[str, Policy]] = [
    # -- the empty policy and separators --------------------------------------------------
    ("", Policy([])),
    ("   ", Policy([])),
    (";;", Policy([])),
    ("\n\n", Policy([])),
    ("# only a comment", Policy([])),
    (" ; \n\t; # c\n", Policy([])),
    # -- matchers ---------------------------------------------------------------------------
    ("429:never", one(StatusCode(429), N)),
    ("100:never", one(StatusCode(100), N)),
    ("599:never", one(StatusCode(599), N)),
    ("500-599:never", one(StatusRange(500, 599), N)),
    ("503-503:never", one(StatusRange(503, 503), N)),
    ("5xx:never", one(StatusClass(5), N)),
    ("1xx:never", one(StatusClass(1), N)),
    ("3xx:never", one(StatusClass(3), N)),
    ("4xx:never", one(StatusClass(4), N)),
    ("all:never", one(AllErrors(), N)),
    ("timeout:never", one(OnTimeout(), N)),
    ("connect:never", one(OnConnect(), N)),
    ("reset:never", one(OnReset(), N)),
    ("error:never", one(OnError(), N)),
    ("ERROR:never", one(OnError(), N)),
    (
        "429,500-599,5xx,all,timeout,connect,reset,error:never",
        one(
            [
                StatusCode(429),
                StatusRange(500, 599),
                StatusClass(5),
                AllErrors(),
                OnTimeout(),
                OnConnect(),
                OnReset(),
                OnError(),
            ],
            N,
        ),
    ),
    # A 2xx code is fine beside a matcher that is not 2xx.
    ("200,503:never", one([StatusCode(200), StatusCode(503)], N)),
    ("2xx,timeout:never", one([StatusClass(2), OnTimeout()], N)),
    ("200-599:never", one(StatusRange(200, 599), N)),
    # Overlapping but different matchers are not duplicates.
    ("5xx,500-599:never", one([StatusClass(5), StatusRange(500, 599)], N)),
    # -- case-insensitivity ----------------------------------------------------------------
    ("5XX:NEVER", one(StatusClass(5), N)),
    ("5Xx:Never", one(StatusClass(5), N)),
    ("ALL:never", one(AllErrors(), N)),
    ("Timeout:never", one(OnTimeout(), N)),
    ("5xx:Backoff()", one(StatusClass(5), B)),
    (
        "5xx:BACKOFF(LIMIT=3,JITTER=EQUAL)",
        one(StatusClass(5), Backoff(limit=3, jitter=Jitter.EQUAL)),
    ),
    ("429:HEADERS(X-RateLimit-*)", one(StatusCode(429), hdr(XRL))),
    ("Timeout=10s", Policy([TimeoutSetting(10_000)])),
    ("DEADLINE=2M", Policy([DeadlineSetting(120_000)])),
    ("5xx:backoff(1S..30S,X2)", one(StatusClass(5), Backoff(min_ms=1000, max_ms=30_000, factor=2))),
    # -- backoff by shape -----------------------------------------------------------------
    ("5xx:backoff", one(StatusClass(5), B)),
    ("5xx:backoff()", one(StatusClass(5), B)),
    ("5xx:backoff(3)", one(StatusClass(5), Backoff(limit=3))),
    ("5xx:backoff(0)", one(StatusClass(5), Backoff(limit=0))),
    ("5xx:backoff(1000000)", one(StatusClass(5), Backoff(limit=1_000_000))),
    ("5xx:backoff(1s..30s)", one(StatusClass(5), Backoff(min_ms=1000, max_ms=30_000))),
    ("5xx:backoff(250ms..1.5s)", one(StatusClass(5), Backoff(min_ms=250, max_ms=1500))),
    ("5xx:backoff(0s..1h)", one(StatusClass(5), Backoff(min_ms=0, max_ms=3_600_000))),
    ("5xx:backoff(1ms..168h)", one(StatusClass(5), Backoff(min_ms=1, max_ms=604_800_000))),
    ("5xx:backoff(1.001s..2m)", one(StatusClass(5), Backoff(min_ms=1001, max_ms=120_000))),
    ("5xx:backoff(2s)", one(StatusClass(5), Backoff(min_ms=2000, max_ms=2000, factor=1))),
    ("5xx:backoff(x2)", one(StatusClass(5), Backoff(factor=Fraction(2)))),
    ("5xx:backoff(x1.25)", one(StatusClass(5), Backoff(factor=Fraction(5, 4)))),
    ("5xx:backoff(x1)", one(StatusClass(5), Backoff(factor=Fraction(1)))),
    ("5xx:backoff(x1000)", one(StatusClass(5), Backoff(factor=Fraction(1000)))),
    ("5xx:backoff(jitter)", one(StatusClass(5), Backoff(jitter=Jitter.FULL))),
    ("5xx:backoff(nojitter)", one(StatusClass(5), Backoff(jitter=Jitter.NONE))),
    (
        "5xx:backoff(5,1s..30s,x1.8,jitter)",
        one(StatusClass(5), Backoff(5, 1000, 30_000, Fraction(9, 5), Jitter.FULL)),
    ),
    # Positional arguments are recognised by shape, not by order.
    (
        "5xx:backoff(jitter,x3,2s..4s,7)",
        one(StatusClass(5), Backoff(7, 2000, 4000, Fraction(3), Jitter.FULL)),
    ),
    # -- backoff by keyword -----------------------------------------------------------------
    ("5xx:backoff(limit=2)", one(StatusClass(5), Backoff(limit=2))),
    ("5xx:backoff(min=2s)", one(StatusClass(5), Backoff(min_ms=2000))),
    ("5xx:backoff(max=30s)", one(StatusClass(5), Backoff(max_ms=30_000))),
    ("5xx:backoff(min=2s,max=2s)", one(StatusClass(5), Backoff(min_ms=2000, max_ms=2000))),
    ("5xx:backoff(factor=2.5)", one(StatusClass(5), Backoff(factor=Fraction(5, 2)))),
    ("5xx:backoff(jitter=full)", one(StatusClass(5), Backoff(jitter=Jitter.FULL))),
    ("5xx:backoff(jitter=equal)", one(StatusClass(5), Backoff(jitter=Jitter.EQUAL))),
    ("5xx:backoff(jitter=decorrelated)", one(StatusClass(5), Backoff(jitter=Jitter.DECORRELATED))),
    ("5xx:backoff(jitter=scale)", one(StatusClass(5), Backoff(jitter=Jitter.SCALE))),
    ("5xx:backoff(jitter=none)", one(StatusClass(5), Backoff(jitter=Jitter.NONE))),
    (
        "5xx:backoff(limit=3,min=500ms,max=10s,factor=3,jitter=equal)",
        one(StatusClass(5), Backoff(3, 500, 10_000, Fraction(3), Jitter.EQUAL)),
    ),
    # Whitespace, newlines and comments are free inside parentheses.
    (
        "5xx:backoff( 5 , 1s .. 30s ,\n x1.8 , jitter = full # why\n )",
        one(StatusClass(5), Backoff(5, 1000, 30_000, Fraction(9, 5), Jitter.FULL)),
    ),
    ("5xx:backoff( )", one(StatusClass(5), B)),
    # -- headers -------------------------------------------------------------------------
    ("429:headers", one(StatusCode(429), H)),
    ("429:headers()", one(StatusCode(429), H)),
    ("429:headers(x-ratelimit-*)", one(StatusCode(429), hdr(XRL))),
    (
        "429:headers(ratelimit-*)",
        one(StatusCode(429), hdr(("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"))),
    ),
    (
        "429:headers(x-ratelimit-*-requests)",
        one(
            StatusCode(429),
            hdr(
                (
                    "x-ratelimit-limit-requests",
                    "x-ratelimit-remaining-requests",
                    "x-ratelimit-reset-requests",
                )
            ),
        ),
    ),
    (
        "429:headers(limit-header=X-Lim,remaining-header=x-left,reset-header=X-When)",
        one(StatusCode(429), hdr(("x-lim", "x-left", "x-when"))),
    ),
    ("429:headers(reset-header=x-reset)", one(StatusCode(429), hdr(reset_header="x-reset"))),
    ("429:headers(limit-header=l)", one(StatusCode(429), hdr(limit_header="l"))),
    ("429:headers(remaining-header=r)", one(StatusCode(429), hdr(remaining_header="r"))),
    ("429:headers(format=auto)", one(StatusCode(429), hdr(format=ResetFormat.AUTO))),
    ("429:headers(format=s)", one(StatusCode(429), hdr(format=ResetFormat.SECONDS))),
    ("429:headers(format=ms)", one(StatusCode(429), hdr(format=ResetFormat.MILLISECONDS))),
    ("429:headers(format=epoch)", one(StatusCode(429), hdr(format=ResetFormat.EPOCH))),
    ("429:headers(format=epoch-ms)", one(StatusCode(429), hdr(format=ResetFormat.EPOCH_MS))),
    ("429:headers(format=date)", one(StatusCode(429), hdr(format=ResetFormat.DATE))),
    ("429:headers(format=iso)", one(StatusCode(429), hdr(format=ResetFormat.ISO))),
    ("429:headers(format=duration)", one(StatusCode(429), hdr(format=ResetFormat.DURATION))),
    ("429:headers(format=unix_timestamp)", one(StatusCode(429), hdr(format=ResetFormat.EPOCH))),
    (
        "429:headers(format=unix_timestamp_in_ms)",
        one(StatusCode(429), hdr(format=ResetFormat.EPOCH_MS)),
    ),
    ("429:headers(format=iso_8601)", one(StatusCode(429), hdr(format=ResetFormat.ISO))),
    (
        "429:headers(format=iso_8601_duration_openai_variant)",
        one(StatusCode(429), hdr(format=ResetFormat.DURATION)),
    ),
    ("429:headers(format=EPOCH-MS)", one(StatusCode(429), hdr(format=ResetFormat.EPOCH_MS))),
    ("429:headers(3)", one(StatusCode(429), hdr(limit=3))),
    ("429:headers(limit=0)", one(StatusCode(429), hdr(limit=0))),
    ("429:headers(max=1h)", one(StatusCode(429), hdr(max_ms=3_600_000))),
    ("429:headers(over=giveup)", one(StatusCode(429), hdr(over=Over.GIVEUP))),
    ("429:headers(over=clamp)", one(StatusCode(429), hdr(over=Over.CLAMP))),
    ("429:headers(over=skip)", one(StatusCode(429), hdr(over=Over.SKIP))),
    ("429:headers(jitter)", one(StatusCode(429), hdr(jitter_ms=1000))),
    ("429:headers(jitter=2s)", one(StatusCode(429), hdr(jitter_ms=2000))),
    ("429:headers(jitter=250ms)", one(StatusCode(429), hdr(jitter_ms=250))),
    (
        "429:headers(x-ratelimit-*,format=epoch,3,max=1m,over=clamp,jitter=2s)",
        one(
            StatusCode(429),
            hdr(
                XRL,
                format=ResetFormat.EPOCH,
                limit=3,
                max_ms=60_000,
                over=Over.CLAMP,
                jitter_ms=2000,
            ),
        ),
    ),
    # -- never and chains ---------------------------------------------------------------
    (
        "501:never 5xx:backoff(3)",
        Policy([rule(StatusCode(501), N), rule(StatusClass(5), Backoff(limit=3))]),
    ),
    (
        "429:headers(x-ratelimit-*)|backoff(3)",
        one(StatusCode(429), hdr(XRL), Backoff(limit=3)),
    ),
    ("429:headers|backoff|never", one(StatusCode(429), H, B, N)),
    # -- settings ----------------------------------------------------------------------
    ("timeout=1s", Policy([TimeoutSetting(1000)])),
    ("timeout=2m", Policy([TimeoutSetting(120_000)])),
    ("timeout=1500ms", Policy([TimeoutSetting(1500)])),
    ("deadline=1ms", Policy([DeadlineSetting(1)])),
    ("deadline=168h", Policy([DeadlineSetting(604_800_000)])),
    ("attempts=1", Policy([AttemptsSetting(1)])),
    ("attempts=1000000", Policy([AttemptsSetting(1_000_000)])),
    ("methods=*", Policy([MethodsSetting(None)])),
    ("methods=GET", Policy([MethodsSetting(("GET",))])),
    ("methods=get,Put", Policy([MethodsSetting(("GET", "PUT"))])),
    (
        "timeout=10s deadline=2m attempts=10 methods=GET,PUT",
        Policy(
            [
                TimeoutSetting(10_000),
                DeadlineSetting(120_000),
                AttemptsSetting(10),
                MethodsSetting(("GET", "PUT")),
            ]
        ),
    ),
    # -- separators, comments, order ------------------------------------------------------
    (
        "429:never;5xx:backoff(3)",
        Policy([rule(StatusCode(429), N), rule(StatusClass(5), Backoff(limit=3))]),
    ),
    (
        "429:never\n5xx:backoff(3)\n",
        Policy([rule(StatusCode(429), N), rule(StatusClass(5), Backoff(limit=3))]),
    ),
    (
        "  429:never ;; 5xx:backoff(3) ;  ",
        Policy([rule(StatusCode(429), N), rule(StatusClass(5), Backoff(limit=3))]),
    ),
    (
        "# retry policy\n429:never # a note\n\n5xx:backoff(3)# touching comment\n",
        Policy([rule(StatusCode(429), N), rule(StatusClass(5), Backoff(limit=3))]),
    ),
    ("5xx:never#note", one(StatusClass(5), N)),
    ("\t5xx:never\r\n", one(StatusClass(5), N)),
    (
        "timeout=10s 5xx:never",
        Policy([TimeoutSetting(10_000), rule(StatusClass(5), N)]),
    ),
    # The SPEC's example.
    (
        "429:headers(x-ratelimit-*) 5xx:backoff(5,1s..30s,x1.8,jitter)",
        Policy(
            [
                rule(StatusCode(429), hdr(XRL)),
                rule(StatusClass(5), Backoff(5, 1000, 30_000, Fraction(9, 5), Jitter.FULL)),
            ]
        ),
    ),
]


@pytest.mark.parametrize(("text", "expected"), VALID, ids=[repr(t) for t, _ in VALID])
def test_valid(text: str, expected: Policy) -> None:
    """Each valid text parses to the AST the SPEC describes."""
    assert policy.parse(text) == expected


def test_fixed_delay_stores_factor_one() -> None:
    """A fixed delay has no factor: whatever factor is written, it is stored as 1."""
    p = policy.parse("5xx:backoff(2,2s..2s,x3)")
    (r,) = p.rules
    (b,) = r.strategies
    assert isinstance(b, Backoff)
    assert (b.min_ms, b.max_ms, b.factor) == (2000, 2000, Fraction(1))


def test_policy_views() -> None:
    """The settings are readable from the policy; methods=* reads as None."""
    p = policy.parse("timeout=10s deadline=2m attempts=4 methods=get 5xx:never")
    assert (p.timeout_ms, p.deadline_ms, p.attempts, p.methods) == (10_000, 120_000, 4, ("GET",))
    assert policy.parse("methods=*").methods is None
    assert policy.parse("").rules == ()


def test_spans_point_at_the_source() -> None:
    """Parsed nodes carry their position in the text, and positions do not affect equality."""
    p = policy.parse("429:never\n  5xx:backoff(3)")
    second = p.rules[1]
    assert second.span is not None
    assert (second.span.line, second.span.column) == (2, 3)
    m = second.matchers[0]
    assert m.span is not None and (m.span.line, m.span.column, m.span.end_column) == (2, 3, 6)
    assert p == policy.parse("429:never 5xx:backoff(3)")


def test_parse_is_cached_and_returns_equal_policies() -> None:
    """Parsing one text twice gives equal policies (a cache may return the same object)."""
    text = "5xx:backoff(3) timeout=10s"
    assert policy.parse(text) == policy.parse(text)


def test_not_a_string() -> None:
    """A non-string argument is a PolicyError (a ValueError), not a TypeError from deep inside."""
    with pytest.raises(policy.PolicyError):
        policy.parse(b"5xx:never")  # type: ignore[arg-type]


@given(policy_text())
def test_grammar_strings_parse_or_raise_policy_error(text: str) -> None:
    """Any string the grammar generates parses or raises PolicyError — nothing else."""
    try:
        p = policy.parse(text)
    except policy.PolicyError as err:
        assert isinstance(err, ValueError)
        assert err.line >= 1 and err.column >= 1 and err.end_column > err.column
    else:
        assert policy.parse(str(p)) == p


_NASTY = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(codec="utf-8")),
    st.text(alphabet=st.sampled_from("0123456789xX-.,:;|()=@*# \n\tsmh")),
    st.text(alphabet=st.characters(max_codepoint=0x1F), min_size=1),
    st.integers(0, 10**400).map(lambda n: f"{n}:backoff({n},{n}s..{n}h,x{n})"),
    st.integers(1, 10**400).map(lambda n: f"timeout={n}ms attempts={n} {n}-{n}:never"),
    st.builds(
        lambda s, n: s * n,
        st.sampled_from(["5xx:never ", "(", "a", "1", "\x00", "é"]),
        st.integers(1, 12_000),
    ),
)


@given(_NASTY)
@example("5" * 10_000)
@example("(" * 10_000)
@example("5xx:backoff(" + "1" * 5000 + "s)")
@example("x" * 8193)
@example("\x00\x01\x7f\u2028\ud800")
@example("5xx:backoff(1s..30s,x1." + "9" * 5000 + ")")
def test_arbitrary_text_raises_only_policy_error(text: str) -> None:
    """Arbitrary text (control characters, huge numbers, 10 kB) parses or raises PolicyError."""
    try:
        policy.parse(text)
    except policy.PolicyError as err:
        assert isinstance(err, ValueError)
        str(err)


def test_presets_are_case_insensitive_and_expand_in_place() -> None:
    """`@GitHub` is `@github`; its rules take its place among the policy's rules."""
    name = sorted(policy.PRESETS)[0]
    own = policy.parse(policy.PRESETS[name].text).rules
    p = policy.parse(f"429:never @{name.upper()} 5xx:never")
    assert p.items[1] == policy.PresetRef(name, own)
    assert p.rules == (rule(StatusCode(429), N), *own, rule(StatusClass(5), N))
    assert str(p) == f"429:never @{name} 5xx:never"


def test_unknown_preset_suggests_and_lists() -> None:
    """An unknown preset is a PolicyError with a suggestion and the known names."""
    name = sorted(policy.PRESETS)[0]
    with pytest.raises(policy.PolicyError) as info:
        policy.parse(f"@{name[:-1]}")
    assert f"did you mean '{name}'" in info.value.message
    for known in policy.PRESETS:
        assert f"@{known}" in info.value.message


def test_sse_setting_parses_renders_and_compares() -> None:
    """``sse=on|off`` (case-insensitive): kept as written, ``sse=off`` equals its absence,
    a bad value or a repeat is a positioned error, the seed options refuse ``sse=on``."""
    p = policy.parse("5xx:backoff() SSE=On")
    assert p.sse is True
    assert str(p) == "5xx:backoff(5,1s..1m,x1.8) sse=on"
    assert policy.parse(str(p)) == p
    assert policy.parse("5xx:backoff() sse=off") == policy.parse("5xx:backoff()")
    assert policy.parse("5xx:backoff() sse=off").sse is False
    assert policy.parse("5xx:backoff()").sse is False
    with pytest.raises(policy.PolicySyntaxError, match="unknown sse value 'maybe'"):
        policy.parse("sse=maybe")
    with pytest.raises(policy.PolicyValueError, match="setting sse given twice"):
        policy.parse("sse=on sse=off")
    with pytest.raises(policy.PolicyValueError, match="sse=on has no seed option"):
        p.to_options()
