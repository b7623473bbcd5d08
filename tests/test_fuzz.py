"""Fuzzing: whatever text, options, headers or outcomes come in, only the promised errors come out.

Four entry points take input a user or a server controls: ``policy.parse`` (config text),
``policy.from_options`` (the seed's JSON objects), the header parsers of
``policy.evaluate._headers`` (values a server sends) and ``Policy.decide`` (responses with any
header map).  The contract (SPEC §1.4, §2.4, §2.7): ``parse`` and ``from_options`` raise
``PolicyError`` (a ``ValueError``) and nothing else; header parsing and ``decide`` raise
nothing at all.  Every input is also timed: the slowest per entry point is kept in
``SLOWEST`` and checked against a generous sanity bound (``SANITY_S``), since bounded work
per input is part of the promise (a regular expression gone quadratic shows up here).

The inputs: strings drawn from the real grammar then randomly edited, random bytes decoded,
huge numbers, deep nesting, texts around the 8 kB bound, random JSON for options and random
header maps with hostile values under the header names the evaluator reads.
``bench/fuzz_long.py`` is the long run (≥ 10⁶ inputs) of the same contract.
"""

from __future__ import annotations

import contextlib
import json
import math
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import SEED_OPTION_KEYS, policies, policy_text

import policy
import policy.evaluate._headers as H
import policy.language._outcomes as _outcomes
from policy.language._ast import ResetFormat

SANITY_S = 1.0
"""No single input may take this long (a sanity bound, far above the measured maxima)."""

SLOWEST: dict[str, float] = {}
"""The slowest input seen per entry point in this run (seconds), for the report."""

T = TypeVar("T")


def _record(name: str, took: float) -> None:
    SLOWEST[name] = max(SLOWEST.get(name, 0.0), took)
    assert took < SANITY_S, f"{name} took {took:.3f}s on one input"


def _timed(name: str, fn: Callable[[], T]) -> T:
    t0 = time.perf_counter()
    try:
        return fn()
    finally:
        _record(name, time.perf_counter() - t0)


@pytest.fixture(scope="module", autouse=True)
def _warm() -> Iterator[None]:
    """Build the Lark parser before timing anything (it is built once, lazily)."""
    with contextlib.suppress(policy.PolicyError):
        policy.parse("5xx:backoff(")
    yield


# --- inputs ------------------------------------------------------------------------------

_EDIT_CHARS = st.sampled_from(
    [*"()=,.;:#|@*-_ \t\n\r\x00x0123456789aAsSmh\"'\\", "\u00e9", "\u0660", "\ufeff", "..."]
)


@st.composite
def _edited(draw: st.DrawFn, base: st.SearchStrategy[str]) -> str:
    """A string from ``base`` with up to six random insertions, deletions or swaps."""
    s = draw(base)
    for _ in range(draw(st.integers(0, 6))):
        pos = draw(st.integers(0, len(s)))
        op = draw(st.sampled_from(["ins", "del", "rep", "dup"]))
        if op == "ins":
            s = s[:pos] + draw(_EDIT_CHARS) + s[pos:]
        elif op == "del":
            s = s[:pos] + s[pos + 1 :]
        elif op == "rep":
            s = s[:pos] + draw(_EDIT_CHARS) + s[pos + 1 :]
        else:
            end = draw(st.integers(pos, min(len(s), pos + 20)))
            s = s[:end] + s[pos:end] + s[end:]
    return s


_HUGE = st.one_of(
    st.integers(10**6, 10**400).map(str),
    st.sampled_from(["9" * 5000, "1" + "0" * 400, "1e309", "0." + "0" * 300 + "1", "1" * 4000]),
)


def _huge_policy(n: str) -> st.SearchStrategy[str]:
    return st.sampled_from(
        [
            f"5xx:backoff({n})",
            f"5xx:backoff({n}s..{n}h,x{n})",
            f"429:headers(max={n}ms,jitter={n}s,limit={n})",
            f"attempts={n}",
            f"deadline={n}m",
            f"timeout={n}.{n}s",
            f"{n}:never",
            f"{n}-{n}:never",
        ]
    )


def _nested(depth: int, kind: str) -> str:
    if kind == "parens":
        return "5xx:backoff" + "(" * depth + ")" * depth
    if kind == "open":
        return "5xx:backoff(" * depth
    if kind == "chain":
        return "5xx:" + "|".join(["backoff(1)"] * depth)
    if kind == "selector":
        return ",".join(["5xx"] * depth) + ":never"
    return "@" * depth + "github"


_TEXTS = st.one_of(
    _edited(policy_text()),
    policy_text(),
    st.binary(max_size=300).map(lambda b: b.decode("utf-8", "replace")),
    st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
    st.text(max_size=200),
    _HUGE.flatmap(_huge_policy),
    st.builds(
        _nested,
        st.sampled_from([10, 100, 1000, 3000]),
        st.sampled_from(["parens", "open", "chain", "selector", "at"]),
    ),
    st.builds(
        lambda item, n: item * n,
        st.sampled_from(["5xx:never ", "429:backoff(3) ", "x", "(", "# c\n", ";", "\u00e9"]),
        st.sampled_from([1000, 1600, 2100, 8200, 10_240]),
    ),
)


@given(_TEXTS)
def test_parse_raises_only_policy_errors(text: str) -> None:
    """``parse`` of any text returns a Policy or raises PolicyError, in bounded time."""
    try:
        p = _timed("parse", lambda: policy.parse(text))
    except policy.PolicyError as e:
        assert isinstance(e, ValueError)
        assert e.line >= 1 and e.column >= 1
        str(e)  # the rendered message (caret line) must not raise either
    else:
        assert isinstance(p, policy.Policy)
        assert policy.parse(str(p)) == p


# --- from_options ------------------------------------------------------------------------

_SEED_KEYS = SEED_OPTION_KEYS
_SEED_PATTERNS = ["429", "500-599", "5xx", "all", "429,5xx", "200", "2xx", "600", "5XX", " 5xx"]

_JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(
        ["backoff", "headers", "x-ratelimit-reset", "unix_timestamp", "iso_8601", "1.8", ""]
    ),
    st.sampled_from([0, 1, 5, 1000, 60_000, 120_000, 10**6, 10**9, 1.5, 0.5, -1]),
)
_JSON_KEYS = st.one_of(st.sampled_from(_SEED_KEYS + _SEED_PATTERNS), st.text(max_size=12))


def _json_values() -> st.SearchStrategy[Any]:
    return st.recursive(
        _JSON_LEAVES,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(_JSON_KEYS, inner, max_size=6)
        ),
        max_leaves=25,
    )


_STRATEGY_OBJECTS = st.dictionaries(st.sampled_from(_SEED_KEYS), _JSON_LEAVES, max_size=8)
_RETRY = st.one_of(
    st.dictionaries(
        st.one_of(st.sampled_from(_SEED_PATTERNS), st.text(max_size=10)),
        st.one_of(_STRATEGY_OBJECTS, _json_values()),
        max_size=4,
    ),
    _json_values(),
)
_TIMEOUT = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {"durationInMs": _JSON_LEAVES},
        optional={"retry": st.one_of(_STRATEGY_OBJECTS, _json_values())},
    ),
    _json_values(),
)


def _deep_options(depth: int) -> Any:
    v: Any = {"strategy": "backoff"}
    for _ in range(depth):
        v = {"5xx": v}
    return v


@given(
    st.one_of(_RETRY, st.sampled_from([_deep_options(50), _deep_options(900)])),
    _TIMEOUT,
    st.booleans(),
)
def test_from_options_raises_only_policy_errors(retry: Any, timeout: Any, via_json: bool) -> None:
    """``from_options`` of any JSON-like objects returns a Policy or raises PolicyError."""
    if via_json:  # the values a real JSON document decodes to (no NaN, lists for tuples)
        with contextlib.suppress(ValueError):
            retry, timeout = json.loads(json.dumps([retry, timeout], allow_nan=False))
    try:
        p = _timed("from_options", lambda: policy.from_options(retry=retry, timeout=timeout))
    except policy.PolicyError as e:
        assert isinstance(e, ValueError)
        str(e)
    else:
        assert isinstance(p, policy.Policy)
        assert policy.parse(str(p)) == p


# --- header parsers ----------------------------------------------------------------------

_NOW = 1_780_000_000.0

_HOSTILE_VALUES = st.one_of(
    st.text(max_size=40),
    st.binary(max_size=60).map(lambda b: b.decode("latin-1")),
    _HUGE,
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**20), 10**20).map(str),
    st.sampled_from(
        [
            "nan",
            "NaN",
            "inf",
            "-inf",
            "-1",
            "-0",
            "0",
            "1e3",
            "1_000",
            "\u0665",
            "5.",
            ".5",
            "315360000",
            "Thu, 01 Jan 1970 00:00:00 GMT",
            "Fri, 31 Dec 9999 23:59:59 GMT",
            "Sat, 29 Feb 2025 00:00:00 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999999999+23:59",
            "2026-01-01T00:00:00-99:99",
            "999999999d",
            "1d22h8m1s",
            "1" * 255 + "s",
            "1.5h0.5m" * 30,
            '"a";r=0;t=30, "b";r=0;t=99999999999',
            ";r=0;t=1," * 400,
            '"' + "\\" * 3000,
            "true",
            "false",
            " FALSE\t",
        ]
    ),
    st.builds(
        lambda n, t: t * n,
        st.sampled_from([100, 257, 1000, 5000]),
        st.sampled_from(["9", "1d", ",", ";r=0", '"\\', "Mon, "]),
    ),
)

_REFERENCES = st.one_of(
    st.just(_NOW),
    st.floats(0, 4e11),
    st.sampled_from([0.0, -1.0, 1e18, -1e18, math.inf, -math.inf, math.nan]),
)


def _wait_ok(w: float | None) -> bool:
    return w is None or (isinstance(w, float) and 0.0 <= w < math.inf)


@given(_HOSTILE_VALUES, _REFERENCES)
def test_header_parsers_never_raise(value: str, reference: float) -> None:
    """Every header parser returns None or a finite wait >= 0 for any value."""

    def run() -> list[float | None]:
        out: list[float | None] = [
            H.parse_delay_seconds(value),
            H.parse_ratelimit(value),
            H.parse_retry_after(value, reference),
        ]
        out += [H.parse_reset(value, fmt, reference) for fmt in ResetFormat]
        H.parse_number(value)
        H.parse_duration(value)
        H.parse_http_date(value, reference=reference)
        H.parse_iso(value)
        H.reference_time({"date": value}, reference)
        return out

    for w in _timed("headers", run):
        assert _wait_ok(w), (value, reference, w)
    n = H.parse_number(value)
    assert n is None or (math.isfinite(n) and n >= 0)
    dur = H.parse_duration(value)  # a duration, not yet a wait: finite, not bounded
    assert dur is None or (math.isfinite(dur) and dur >= 0)
    for t in (H.parse_http_date(value, reference=reference), H.parse_iso(value)):
        assert t is None or (math.isfinite(t) and t >= 0)


# --- decide ------------------------------------------------------------------------------

_HEADER_NAMES = st.one_of(
    st.sampled_from(
        [
            "Retry-After",
            "retry-after",
            "Date",
            "x-ratelimit-limit",
            "x-ratelimit-remaining",
            "x-ratelimit-reset",
            "ratelimit",
            "RateLimit-Reset",
            "ratelimit-limit",
            "ratelimit-remaining",
            "x-should-retry",
            "stripe-should-retry",
            "x-ratelimit-reset-requests",
            "anthropic-ratelimit-requests-reset",
        ]
    ),
    st.text(max_size=20),
)
_HEADER_MAPS = st.one_of(
    st.dictionaries(_HEADER_NAMES, _HOSTILE_VALUES, max_size=8),
    st.lists(
        st.tuples(
            st.one_of(_HEADER_NAMES, st.binary(max_size=10)),
            st.one_of(_HOSTILE_VALUES, st.binary(max_size=20)),
        ),
        max_size=8,
    ),
)
_HEADER_POLICIES = st.sampled_from(
    [
        "429,503:headers(x-ratelimit-*)|backoff(3,1s..30s)",
        "all:headers()",
        "all:headers(reset-header=x-ratelimit-reset,format=epoch,over=clamp,jitter)",
        "all:headers(reset-header=ratelimit-reset,format=epoch-ms,over=skip,max=1h)",
        "all:headers(reset-header=x-ratelimit-reset,format=date,max=0s)",
        "all:headers(reset-header=x-ratelimit-reset,format=iso,jitter=1h)|never",
        "all:headers(reset-header=x-ratelimit-reset-requests,format=duration) deadline=1m",
        "all:headers(reset-header=anthropic-ratelimit-requests-reset,format=ms,limit=1000000)",
        "@github @openai @anthropic @stripe @standard",
    ]
)


def _outcomes_of(statuses: list[int], headers: Any) -> list[_outcomes.Outcome]:
    out: list[_outcomes.Outcome] = []
    for s in statuses:
        if s == 0:
            out.append(policy.Timeout())
        elif s == 1:
            out.append(policy.ConnectFailure())
        elif s == 2:
            out.append(policy.ConnectionReset())
        else:
            out.append(policy.Response(s, headers))
    return out


@given(
    st.one_of(_HEADER_POLICIES.map(policy.parse), policies()),
    st.lists(st.one_of(st.integers(0, 2), st.integers(100, 599)), min_size=1, max_size=6),
    _HEADER_MAPS,
    st.one_of(st.just(_NOW), st.floats(0, 4e11)),
    st.sampled_from(["GET", "POST", "get", "BREW", ""]),
    st.sampled_from([0.0, 0.5, 0.9999999999999999]),
)
def test_decide_never_raises(
    p: policy.Policy,
    statuses: list[int],
    headers: Any,
    now: float,
    method: str,
    r: float,
) -> None:
    """``decide`` on any outcome with any headers returns a decision with a sane delay."""
    state = p.start(now=now)
    for outcome in _outcomes_of(statuses, headers):
        t0 = time.perf_counter()
        d = p.decide(state, outcome, now=now, rand=lambda: r, method=method)
        _record("decide", time.perf_counter() - t0)
        assert isinstance(d, policy.Retry | policy.GiveUp | policy.Accept)
        if isinstance(d, policy.GiveUp):
            assert isinstance(d.reason, str) and d.reason
        if not isinstance(d, policy.Retry):
            break
        assert math.isfinite(d.delay) and d.delay >= 0
        if p.deadline_ms is not None:
            assert now + d.delay <= state.start + p.deadline_ms / 1000 + 1e-6
        assert isinstance(d.reason, str)
        state = d.state
        now += d.delay


@given(_HEADER_MAPS)
def test_response_accepts_any_header_map(headers: Any) -> None:
    """``Response`` normalises any mapping or list of pairs without raising."""
    r = _timed("response", lambda: policy.Response(429, headers))
    assert all(k == k.lower() for k in r.headers)


@pytest.fixture(scope="module", autouse=True)
def _report_slowest(request: pytest.FixtureRequest) -> Iterator[None]:
    """After this module, print the slowest input per entry point (read by
    docs/reliability.md), only when output capture is off (``-s``): a plain ``pytest -q``
    run stays quiet, and no test depends on which others ran before it."""
    yield
    if SLOWEST and request.config.getoption("capture") == "no":
        print("\nslowest input (s): " + ", ".join(f"{k}={v:.4f}" for k, v in SLOWEST.items()))


def test_long_run_script_runs_a_short_batch() -> None:
    """``bench/fuzz_long.py`` (the documented 10⁶-input run) works on a short batch."""
    script = Path(__file__).parents[1] / "bench" / "fuzz_long.py"
    proc = subprocess.run(
        [sys.executable, str(script), "-n", "400", "-j", "1", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["inputs"] == 400 and summary["errors"] == 0
    assert {t: v["count"] for t, v in summary["targets"].items()} == {
        "parse": 100,
        "from_options": 100,
        "headers": 100,
        "decide": 100,
    }
