"""Hypothesis strategies for the policy language.

Two families:

* ``policy_text()`` draws strings from the real grammar (``grammar/policy.lark``) with
  ``hypothesis.extra.lark.from_lark``, its terminals steered towards the words and numbers
  users actually write (and, now and then, the mistakes they make), so generated strings
  exercise the validation pass as well as the grammar.
* ``policies()`` builds valid ``Policy`` values directly from the attrs classes, for the
  round-trip properties ``parse(str(p)) == p``.
"""

from __future__ import annotations

import functools
import string
from decimal import Decimal
from fractions import Fraction

from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark
from lark import Lark

from policy import (
    AllErrors,
    AttemptsSetting,
    Backoff,
    BreakerSetting,
    BudgetSetting,
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
    PaceSetting,
    Policy,
    PresetRef,
    ResetFormat,
    Rule,
    SseSetting,
    StatusClass,
    StatusCode,
    StatusRange,
    TimeoutSetting,
)
from policy.language._parse import grammar_text

__all__ = [
    "WAIT_DATE",
    "WAIT_DATE_EPOCH",
    "budget_percents",
    "durations_ms",
    "enormous_waits",
    "factors",
    "header_lines",
    "header_names",
    "matchers",
    "policies",
    "policy_text",
    "presets",
    "rate_limit_headers",
    "rate_limit_values",
    "rules",
    "settings_items",
    "strategies",
]

MAX_DURATION_MS = 168 * 3600 * 1000

# --- strings from the grammar ----------------------------------------------------------


@functools.cache
def _bare_parser() -> Lark:
    """The grammar without the transformer: from_lark needs the plain Lark instance."""
    return Lark(grammar_text(), parser="lalr", lexer="contextual")


# Comments with the punctuation they must not end at: a comment is the rest of its line.
_COMMENTS = ["# c\n", "#\n", "# a ) , .. = ; | ( #\n", "#)\n", "##,\n"]

_SPACE = st.sampled_from(["", "", "", " ", "  ", "\n", " # c\n", *_COMMENTS])

_UNITS = st.sampled_from(["ms", "s", "m", "h", "s", "ms", "", "sec", "us", "d", "M", "S"])

_LIMITS = st.one_of(
    st.sampled_from(["0", "1", "3", "5", "10", "1000000", "1000001", "007"]),
    st.integers(0, 2_000_000).map(str),
)

_DECIMALS = st.one_of(
    st.integers(0, 200).map(str),
    st.builds(
        lambda w, f: f"{w}.{f}", st.integers(0, 99), st.sampled_from(["5", "25", "125", "0001"])
    ),
)

_DURATIONS = st.builds(lambda n, u: n + u, _DECIMALS, _UNITS)

_NUMBERS = st.one_of(_LIMITS, _DURATIONS, st.sampled_from(["429", "503", "200", "600", "99"]))

_CODE_RANGES = st.one_of(
    st.sampled_from(["500-599", "400-499", "200-299", "500-500", "599-500", "100-600"]),
    st.builds(lambda a, b: f"{a}-{b}", st.integers(0, 700), st.integers(0, 700)),
)

_CODE_CLASSES = st.builds(
    lambda d, x, y: f"{d}{x}{y}", st.integers(0, 9), *[st.sampled_from("xX")] * 2
)

_FACTORS = st.builds(
    lambda x, n: x + n,
    st.sampled_from("xX"),
    st.one_of(
        st.sampled_from(["1", "1.8", "2", "1.5", "0.5", "1000", "1001", "1.0001"]),
        _DECIMALS,
    ),
)

_KEYWORDS = [
    "backoff",
    "headers",
    "never",
    "all",
    "timeout",
    "connect",
    "reset",
    "error",
    "jitter",
    "nojitter",
    "limit",
    "min",
    "max",
    "factor",
    "format",
    "over",
    "limit-header",
    "remaining-header",
    "reset-header",
    "x-ratelimit-*",
    "x-ratelimit-*-requests",
    "ratelimit-*",
    "x-ratelimit-reset",
    "deadline",
    "attempts",
    "methods",
    "get",
    "POST",
    "*",
    "auto",
    "epoch",
    "epoch-ms",
    "date",
    "iso",
    "duration",
    "unix_timestamp",
    "unix_timestamp_in_ms",
    "iso_8601",
    "iso_8601_duration_openai_variant",
    "full",
    "equal",
    "decorrelated",
    "scale",
    "none",
    "giveup",
    "clamp",
    "skip",
    "github",
    "Backoff",
    "TIMEOUT",
    "backof",
    "nevr",
    "a*b*",
    "breaker",
    "pace",
    "adaptive",
    "open",
    "probes",
    "on",
]

_WORDS = st.one_of(
    st.sampled_from(_KEYWORDS),
    st.sampled_from(_KEYWORDS),
    st.sampled_from(_KEYWORDS),
    st.from_regex(r"[A-Za-z][A-Za-z0-9_*-]{0,12}", fullmatch=True),
)

_SEPS = st.sampled_from([" ", ";", "\n", " # c\n", "; ", " ;\n\t", "#\n", *_COMMENTS])


def _padded(core: str) -> st.SearchStrategy[str]:
    return st.builds(lambda a, b: a + core + b, _SPACE, _SPACE)


@functools.cache
def policy_text() -> st.SearchStrategy[str]:
    """Strings drawn from the real grammar, terminals steered to realistic values."""
    return from_lark(
        _bare_parser(),
        explicit={
            "NUMBER": _NUMBERS,
            "CODE_RANGE": _CODE_RANGES,
            "CODE_CLASS": _CODE_CLASSES,
            "FACTOR": _FACTORS,
            "WORD": _WORDS,
            "SEP": _SEPS,
            "LPAR": _padded("("),
            "RPAR": _padded(")"),
            "ARGSEP": _padded(","),
            "DOTDOT": _padded(".."),
            "KWEQ": _padded("="),
        },
    )


# --- valid ASTs ------------------------------------------------------------------------


@functools.cache
def durations_ms(lo: int = 0, hi: int = MAX_DURATION_MS) -> st.SearchStrategy[int]:
    """Whole milliseconds in [lo, hi], biased to values written with every unit."""
    nice = [
        v
        for v in (0, 1, 250, 999, 1000, 1250, 1500, 30_000, 60_000, 61_000, 90_000, 3_600_000)
        if lo <= v <= hi
    ]
    return st.one_of(st.sampled_from(nice), st.integers(lo, hi)) if nice else st.integers(lo, hi)


@functools.cache
def factors() -> st.SearchStrategy[Fraction]:
    """Factors in [1, 1000] with at most three decimals, as the language writes them."""
    nice = st.sampled_from(["1", "1.5", "1.8", "2", "2.5", "3", "1.001", "999.999", "1000"])
    thousandths = st.integers(1000, 1_000_000).map(lambda n: str(Decimal(n) / 1000))
    return st.one_of(nice, thousandths).map(lambda d: Fraction(str(Decimal(d))))


_LIMIT = st.one_of(st.integers(0, 12), st.integers(0, 1_000_000))


def _backoff(limit: int, a: int, b: int, same: bool, factor: Fraction, jitter: Jitter) -> Backoff:
    lo, hi = (a, a) if same else (min(a, b), max(a, b))
    return Backoff(limit=limit, min_ms=lo, max_ms=hi, factor=factor, jitter=jitter)


@functools.cache
def header_names() -> st.SearchStrategy[str]:
    """Lower-case header names the grammar can spell (a letter, then letters, digits, -, _)."""
    return st.one_of(
        st.sampled_from(
            ["x-ratelimit-reset", "retry-after", "ratelimit-limit", "x-rate-remaining", "reset"]
        ),
        st.builds(
            str.__add__,
            st.sampled_from(string.ascii_lowercase),
            st.text(alphabet=string.ascii_lowercase + string.digits + "_-", max_size=15),
        ),
    )


def _family(prefix: str, suffix: str) -> tuple[str | None, str | None, str | None]:
    return (f"{prefix}limit{suffix}", f"{prefix}remaining{suffix}", f"{prefix}reset{suffix}")


@functools.cache
def _header_triples() -> st.SearchStrategy[tuple[str | None, str | None, str | None]]:
    opt = st.one_of(st.none(), header_names())
    return st.one_of(
        st.just((None, None, None)),
        st.builds(
            _family,
            st.sampled_from(["x-ratelimit-", "ratelimit-", "", "x-"]),
            st.sampled_from(["", "", "-requests", "-tokens"]),
        ),
        st.tuples(opt, opt, opt),
    )


def _header(
    names: tuple[str | None, str | None, str | None],
    fmt: ResetFormat,
    limit: int,
    max_ms: int,
    over: Over,
    jitter_ms: int,
) -> Headers:
    lim, rem, rst = names
    return Headers(
        limit_header=lim,
        remaining_header=rem,
        reset_header=rst,
        format=fmt,
        limit=limit,
        max_ms=max_ms,
        over=over,
        jitter_ms=jitter_ms,
    )


@functools.cache
def strategies() -> st.SearchStrategy[Backoff | Headers | Never]:
    """Any valid strategy."""
    backoffs = st.builds(
        _backoff,
        _LIMIT,
        durations_ms(),
        durations_ms(),
        st.booleans(),
        factors(),
        st.sampled_from(Jitter),
    )
    headers = st.builds(
        _header,
        _header_triples(),
        st.sampled_from(ResetFormat),
        _LIMIT,
        st.one_of(st.just(15 * 60_000), durations_ms()),
        st.sampled_from(Over),
        st.one_of(st.sampled_from([0, 1000]), durations_ms()),
    )
    return st.one_of(backoffs, headers, st.just(Never()))


@functools.cache
def matchers() -> st.SearchStrategy[object]:
    """Any matcher (2xx ones included: ``rules()`` keeps selectors that are not all-2xx)."""
    return st.one_of(
        st.builds(StatusCode, st.integers(100, 599)),
        st.tuples(st.integers(100, 599), st.integers(100, 599)).map(
            lambda t: StatusRange(min(t), max(t))
        ),
        st.builds(StatusClass, st.integers(1, 5)),
        st.sampled_from([AllErrors(), OnTimeout(), OnConnect(), OnReset(), OnError()]),
    )


def _not_only_2xx(ms: list[object]) -> bool:
    def only(m: object) -> bool:
        if isinstance(m, StatusCode):
            return 200 <= m.code <= 299
        if isinstance(m, StatusRange):
            return m.low >= 200 and m.high <= 299
        if isinstance(m, StatusClass):
            return m.digit == 2
        return False

    return not all(only(m) for m in ms)


@functools.cache
def rules() -> st.SearchStrategy[Rule]:
    """Valid rules: distinct matchers, not all 2xx, a chain of one to three strategies."""
    return st.builds(
        Rule,
        st.lists(matchers(), min_size=1, max_size=4, unique=True).filter(_not_only_2xx),
        st.lists(strategies(), min_size=1, max_size=3),
        methods=st.one_of(
            st.none(),
            st.none(),
            st.just(("GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE")),
            st.lists(
                st.sampled_from(["GET", "PUT", "POST", "DELETE", "HEAD", "PATCH"]),
                min_size=1,
                max_size=3,
                unique=True,
            ).map(tuple),
        ),
    )


_METHODS = st.one_of(
    st.none(),
    st.lists(
        st.one_of(
            st.sampled_from(["GET", "PUT", "POST", "DELETE", "HEAD", "OPTIONS", "PATCH"]),
            st.text(alphabet=string.ascii_uppercase, min_size=1, max_size=8),
        ),
        min_size=1,
        max_size=4,
        unique=True,
    ).map(tuple),
)


def rate_limit_values() -> st.SearchStrategy[str]:
    """Values a rate-limit or Retry-After header may carry: numbers of every size, dates,
    durations, and junk (for properties that must hold whatever the server sends)."""
    return st.one_of(
        st.integers(0, 10**13).map(str),
        st.floats(0, 1e6, allow_nan=False).map(lambda f: f"{f:.3f}"),
        st.sampled_from(
            [
                "Fri, 15 Jan 2027 06:40:00 GMT",
                "2027-01-15T08:00:30Z",
                "6m0s",
                "garbage",
                "",
                "-5",
                "1e9",
                '"default";r=0;t=30',
            ]
        ),
        st.text(max_size=12),
    )


def budget_percents() -> st.SearchStrategy[Fraction]:
    """Valid retry budgets in percent: 0 to 1000 with at most three decimals."""
    return st.integers(0, 1_000_000).map(lambda n: Fraction(n, 1000))


_ADAPTIVE = st.just(PaceSetting(True, adaptive=True))


@functools.cache
def breaker_settings() -> st.SearchStrategy[BreakerSetting]:
    """Valid ``breaker=`` settings: N in a row (no window, no min) or a ratio."""
    opens = durations_ms(1, MAX_DURATION_MS)
    probes = st.one_of(st.just(1), st.integers(1, 1000))
    count = st.builds(
        BreakerSetting, st.integers(1, 1_000_000), st.just(False), open_ms=opens, probes=probes
    )
    ratio = st.builds(
        BreakerSetting,
        st.integers(1, 100),
        st.just(True),
        window_ms=st.one_of(st.just(30_000), durations_ms(1000, MAX_DURATION_MS)),
        open_ms=st.one_of(st.just(30_000), opens),
        min=st.one_of(st.just(20), st.integers(1, 1_000_000)),
        probes=probes,
    )
    return st.one_of(count, ratio)


@functools.cache
def settings_items() -> st.SearchStrategy[list[object]]:
    """Each setting at most once, each a valid value."""
    return st.tuples(
        st.one_of(st.none(), st.builds(TimeoutSetting, durations_ms(1000, 120_000))),
        st.one_of(st.none(), st.builds(DeadlineSetting, durations_ms(1, MAX_DURATION_MS))),
        st.one_of(st.none(), st.builds(AttemptsSetting, st.integers(1, 1_000_000))),
        st.one_of(st.none(), st.builds(MethodsSetting, _METHODS)),
        st.one_of(st.none(), st.builds(PaceSetting, st.booleans()), _ADAPTIVE),
        st.one_of(st.none(), st.builds(BudgetSetting, budget_percents())),
        st.one_of(st.none(), st.builds(SseSetting, st.booleans())),
        st.one_of(st.none(), breaker_settings()),
    ).map(lambda t: [s for s in t if s is not None])


@functools.cache
def presets() -> st.SearchStrategy[PresetRef]:
    """References to the known presets, their rules expanded and their settings attached
    (nothing when none are known)."""
    from policy import PRESETS, parse

    names = sorted(PRESETS)
    if not names:
        return st.nothing()
    # as the parser builds them: with the settings the preset carries
    return st.sampled_from(names).map(lambda n: parse(f"@{n}").items[0])


def _shuffled(items_and_order: tuple[list[object], list[int]]) -> Policy:
    items, order = items_and_order
    return Policy([items[i] for i in order])


@functools.cache
def policies() -> st.SearchStrategy[Policy]:
    """Valid policies (the empty one included): rules, presets and settings in any order."""
    items = st.tuples(
        st.lists(st.one_of(rules(), rules(), rules(), presets()), max_size=4),
        settings_items(),
    ).map(lambda t: [*t[0], *t[1]])
    return items.flatmap(lambda xs: st.tuples(st.just(xs), st.permutations(range(len(xs))))).map(
        _shuffled
    )


#: Every key of the seed's option objects (SPEC §2.7), plus one it lacks ("bodyFilter"),
#: for the option fuzzers of tests/test_options.py and tests/test_fuzz.py.
SEED_OPTION_KEYS = [
    "strategy",
    "type",
    "limit",
    "minTimeoutInMs",
    "maxTimeoutInMs",
    "factor",
    "randomize",
    "limitHeader",
    "remainingHeader",
    "resetHeader",
    "resetFormat",
    "durationInMs",
    "retry",
    "bodyFilter",
]


# -- adapters: policies and scripted server behaviour --------------------------------------

#: What a scripted server can do on one request, by name (tests/test_adapters_agree.py
#: turns each into a ``Reply``): statuses with and without a body, a Retry-After, a reset.
SERVER_STEPS = ("200", "503", "503-empty", "500", "429-ra1", "429-ra2", "404", "reset")


def adapter_policies() -> st.SearchStrategy[str]:
    """Small policies over what a scripted server does (waits are skipped in test mode)."""
    delay = st.sampled_from(["10ms", "20ms..80ms", "5ms..1s", "50ms"])
    jitter = st.sampled_from(["", ",jitter", ",jitter=equal", ",jitter=decorrelated"])
    backoff = st.builds(
        lambda n, d, j: f"backoff({n},{d}{j if '..' in d else ''})",
        st.integers(0, 3),
        delay,
        jitter,
    )
    rule = st.one_of(
        st.builds(
            lambda s, b: f"{s}:{b}", st.sampled_from(["5xx", "503", "500-599", "all"]), backoff
        ),
        st.builds(lambda b: f"429:headers()|{b}", backoff),
        st.builds(lambda b: f"reset:{b}", backoff),
        st.just("503:never"),
    )
    extra = st.sampled_from(["", " attempts=3", " methods=GET"])
    return st.builds(lambda rs, e: " ".join(rs) + e, st.lists(rule, min_size=1, max_size=3), extra)


def server_scripts() -> st.SearchStrategy[list[str]]:
    """A server's replies in order (the last one repeats)."""
    return st.lists(st.sampled_from(SERVER_STEPS), min_size=1, max_size=6)


# --- enormous but well-formed server waits (SPEC §2.4) -----------------------------------

#: The Date of the responses ``enormous_waits`` builds, and that time in epoch seconds.
WAIT_DATE = "Sat, 28 Nov 2026 12:00:00 GMT"
WAIT_DATE_EPOCH = 1_795_867_200

_YEAR_9999_END = 253_402_300_799  # 9999-12-31T23:59:59Z


def _imf_fixdate(t: int) -> str:
    import email.utils

    return email.utils.formatdate(t, usegmt=True)


def _rfc3339(t: int) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@functools.cache
def enormous_waits(at_least: int = 901) -> st.SearchStrategy[tuple[dict[str, str], float]]:
    """``(headers, seconds)``: a response whose one wait-bearing header is well formed and
    asks for at least ``at_least`` seconds -- up to 10²⁵⁰ seconds, a date in year 9999, an
    epoch reset centuries away -- with ``Date: WAIT_DATE``.  ``headers()`` reads each."""
    far = st.integers(WAIT_DATE_EPOCH + at_least, _YEAR_9999_END)
    seconds = st.one_of(
        st.integers(at_least, 10**25),
        st.integers(at_least, 10**250),  # with a fraction, within MAX_VALUE_LEN characters
        st.sampled_from([1_000_000_001, 99_999_999_999_999_999_999_999]),
    )
    as_headers = [
        seconds.map(lambda n: ({"Retry-After": str(n)}, float(n))),
        st.builds(
            lambda n, frac: ({"Retry-After": f"{n}.{frac}"}, float(f"{n}.{frac}")),
            seconds,
            st.sampled_from(["0", "5", "25"]),
        ),
        far.map(lambda t: ({"Retry-After": _imf_fixdate(t)}, float(t - WAIT_DATE_EPOCH))),
        # epoch seconds (from 1e9, read by auto) and epoch ms (from 1e12) in X-RateLimit-Reset
        st.integers(WAIT_DATE_EPOCH + at_least, 10**12 - 1).map(
            lambda t: ({"X-RateLimit-Reset": str(t)}, float(t - WAIT_DATE_EPOCH))
        ),
        st.integers((WAIT_DATE_EPOCH + at_least) * 1000, 10**40).map(
            lambda t: ({"X-RateLimit-Reset": str(t)}, float(t) / 1000 - WAIT_DATE_EPOCH)
        ),
        far.map(lambda t: ({"RateLimit-Reset": _rfc3339(t)}, float(t - WAIT_DATE_EPOCH))),
        st.integers(max(1, at_least // 3600 + 1), 10**9).map(
            lambda h: ({"X-RateLimit-Reset": f"{h}h"}, h * 3600.0)
        ),
        st.integers(at_least, 10**15 - 1).map(
            lambda t: ({"RateLimit": f'"default";r=0;t={t}'}, float(t))
        ),
    ]
    return st.one_of(as_headers).map(lambda hw: ({**hw[0], "Date": WAIT_DATE}, hw[1]))


# --- header lines (SPEC §2.4, §2.6) ------------------------------------------------------

_LINE_NAMES = st.sampled_from(
    [
        *("RateLimit", "ratelimit", "RATELIMIT", "RateLimit-Policy", "Retry-After"),
        *("retry-after", "X-RateLimit-Reset", "x-ratelimit-reset", "Date", "Content-Type"),
    ]
)
_LINE_VALUES = st.one_of(
    st.integers(0, 10**6).map(str),
    st.builds(
        lambda n, r, t: f'"{n}";r={r};t={t}',
        st.sampled_from(["default", "burst", "day"]),
        st.integers(0, 3),
        st.integers(0, 3600),
    ),
    st.text(alphabet=string.ascii_letters + string.digits + ' ;=",.-:', max_size=20),
)


@functools.cache
def header_lines() -> st.SearchStrategy[list[tuple[str, str]]]:
    """Header lines as a server sends them: names in any case, repeated names, list-valued
    fields (``RateLimit``) and single-valued ones (``Retry-After``) alike."""
    return st.lists(st.tuples(_LINE_NAMES, _LINE_VALUES), max_size=12)


def _maybe(values: list[str]) -> st.SearchStrategy[str | None]:
    """Absent a quarter of the time, else one of ``values``."""
    present = st.sampled_from(values)
    return st.one_of(st.none(), present, present, present)


@functools.cache
def rate_limit_headers() -> st.SearchStrategy[dict[str, str]]:
    """Response headers a rate-limited server might send around ``WAIT_DATE``: Retry-After,
    an ``x-ratelimit-*`` family, the IETF fields and a Date, each absent, well formed (near,
    far, past, in every reset format) or malformed."""
    epoch = WAIT_DATE_EPOCH
    fields = {
        "retry-after": st.one_of(
            st.none(),
            st.none(),
            _maybe(
                [
                    *("7", "0", "2.5", "1000", "garbage", "-1", "Sat, 28 Nov 2026 12:00:30 GMT"),
                    *("Saturday, 28-Nov-26 12:01:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT", "nan"),
                ]
            ),
        ),  # absent more often, so that the families get read
        "x-ratelimit-limit": _maybe(["0", "0.0", "5000", "x", ""]),
        "x-ratelimit-remaining": _maybe(["0", "0.0", "3", "4999.0", "bad", ""]),
        "x-ratelimit-reset": _maybe(
            [
                *(str(epoch + 60), str(epoch - 60), f"{epoch + 1.25}", str((epoch + 30) * 1000)),
                *("30", "6m0s", "2026-11-28T12:00:30Z", "soon", "9" * 30, "99999999999"),
                *("Sat, 28 Nov 2026 12:00:30 GMT", "Saturday, 28-Nov-26 12:00:30 GMT"),
            ]
        ),
        "ratelimit": _maybe(['"default";r=0;t=30', '"a";r=5;t=1', '"x";r=0;t=99999999']),
        "ratelimit-reset": _maybe(["7", "x"]),
        "date": _maybe([WAIT_DATE, "garbage", "Saturday, 28-Nov-26 11:59:00 GMT"]),
    }
    return st.fixed_dictionaries({k: v for k, v in fields.items()}).map(
        lambda d: {k: v for k, v in d.items() if v is not None}
    )


#: A well-formed response (body ``ok``) that closes its connection, for the hostile-server
#: properties of tests/test_hostile.py: ``raw_responses()`` varies its status and where
#: the peer cuts it off.
RAW_RESPONSE = b"HTTP/1.1 %d Odd\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


def raw_responses() -> st.SearchStrategy[tuple[int, int | None]]:
    """(status code, cut): any three-digit status, and ``None`` (the whole response) or
    the number of bytes the server sends before closing."""
    return st.tuples(
        st.one_of(st.integers(100, 999), st.sampled_from([100, 101, 103, 199, 204, 599, 600])),
        st.one_of(st.none(), st.integers(0, len(RAW_RESPONSE % 999) - 1)),
    )
