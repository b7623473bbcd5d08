"""Errors (SPEC §1.4): every invalid input gets a positioned, readable PolicyError."""

from __future__ import annotations

import pickle
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

import policy
from policy import PolicyError, PolicySyntaxError, PolicyValueError

SYN = PolicySyntaxError
VAL = PolicyValueError

# (text, exception class, line, column, substring of the message)
INVALID: list[tuple[str, type[PolicyError], int, int, str]] = [
    # -- min > max ---------------------------------------------------------------------------
    ("5xx:backoff(30s..1s)", VAL, 1, 13, "min delay must be ≤ max delay"),
    ("5xx:backoff(min=2m,max=1m)", VAL, 1, 13, "min delay must be ≤ max delay"),
    ("5xx:backoff(min=2m)", VAL, 1, 13, "min delay must be ≤ max delay"),
    # -- statuses -----------------------------------------------------------------------------
    ("600:never", VAL, 1, 1, "between 100 and 599"),
    ("99:never", VAL, 1, 1, "between 100 and 599"),
    ("429,0:never", VAL, 1, 5, "between 100 and 599"),
    ("500-600:never", VAL, 1, 1, "between 100 and 599"),
    ("50-599:never", VAL, 1, 1, "between 100 and 599"),
    ("599-500:never", VAL, 1, 1, "low must be ≤ high"),
    ("6xx:never", VAL, 1, 1, "1xx to 5xx"),
    ("0xx:never", VAL, 1, 1, "1xx to 5xx"),
    ("99999999999999999999:never", VAL, 1, 1, "between 100 and 599"),
    # -- 2xx only ------------------------------------------------------------------------------
    ("200:never", VAL, 1, 1, "2xx"),
    ("2xx:backoff(3)", VAL, 1, 1, "2xx"),
    ("200-299:never", VAL, 1, 1, "2xx"),
    ("204-210:never", VAL, 1, 1, "2xx"),
    ("200,2xx,250-260:never", VAL, 1, 1, "2xx"),
    ("429:never 200:never", VAL, 1, 11, "2xx"),
    # -- settings ------------------------------------------------------------------------------
    ("timeout=10s timeout=20s", VAL, 1, 13, "twice"),
    ("attempts=3 5xx:never Attempts=4", VAL, 1, 22, "twice"),
    ("methods=* methods=GET", VAL, 1, 11, "twice"),
    ("deadline=1m deadline=1m", VAL, 1, 13, "twice"),
    ("timeout=999ms", VAL, 1, 9, "between 1s and 2m"),
    ("timeout=0s", VAL, 1, 9, "between 1s and 2m"),
    ("timeout=2.001m", VAL, 1, 9, "between 1s and 2m"),
    ("timeout=3m", VAL, 1, 9, "between 1s and 2m"),
    ("attempts=0", VAL, 1, 10, "attempts must be between 1"),
    ("attempts=1000001", VAL, 1, 10, "1,000,000"),
    ("deadline=0s", VAL, 1, 10, "deadline"),
    ("methods=*,GET", VAL, 1, 9, "*"),
    ("methods=GET,get", VAL, 1, 13, "twice"),
    ("methods=G3T", SYN, 1, 9, "not an HTTP method"),
    ("timeout=10s,20s", SYN, 1, 13, "one value"),
    ("timeot=10s", SYN, 1, 1, "did you mean 'timeout'"),
    ("retries=3", SYN, 1, 1, "unknown setting"),
    # -- negative values ---------------------------------------------------------------------
    ("5xx:backoff(-1)", SYN, 1, 13, "negative"),
    ("5xx:backoff(limit=-1)", SYN, 1, 19, "negative"),
    ("429:headers(-2)", SYN, 1, 13, "negative"),
    ("attempts=-1", SYN, 1, 10, "negative"),
    # -- factors -------------------------------------------------------------------------------
    ("5xx:backoff(x0.5)", VAL, 1, 13, "factor must be between 1 and 1000"),
    ("5xx:backoff(factor=0.99)", VAL, 1, 20, "factor must be between 1 and 1000"),
    ("5xx:backoff(x1001)", VAL, 1, 13, "factor must be between 1 and 1000"),
    ("5xx:backoff(factor=1000.001)", VAL, 1, 20, "factor must be between 1 and 1000"),
    ("5xx:backoff(x" + "9" * 400 + ")", VAL, 1, 13, "factor must be between 1 and 1000"),
    # -- sub-millisecond durations -------------------------------------------------------------
    ("5xx:backoff(1.5ms)", VAL, 1, 13, "whole number of milliseconds"),
    ("5xx:backoff(1s..1.0001s)", VAL, 1, 17, "whole number of milliseconds"),
    ("timeout=1.0005s", VAL, 1, 9, "whole number of milliseconds"),
    ("429:headers(jitter=0.1ms)", VAL, 1, 20, "whole number of milliseconds"),
    # -- magnitude bounds ---------------------------------------------------------------------
    ("5xx:backoff(169h)", VAL, 1, 13, "168h"),
    ("5xx:backoff(1s..604800001ms)", VAL, 1, 17, "168h"),
    ("deadline=10081m", VAL, 1, 10, "168h"),
    ("429:headers(max=169h)", VAL, 1, 17, "168h"),
    ("5xx:backoff(" + "9" * 400 + "s)", VAL, 1, 13, "168h"),
    ("5xx:backoff(1000001)", VAL, 1, 13, "1,000,000"),
    ("5xx:backoff(limit=" + "9" * 400 + ")", VAL, 1, 19, "1,000,000"),
    ("429:headers(1000001)", VAL, 1, 13, "1,000,000"),
    # -- duplicates ----------------------------------------------------------------------------
    ("429,429:never", VAL, 1, 5, "twice"),
    ("5xx,5XX:never", VAL, 1, 5, "twice"),
    ("timeout,connect,timeout:never", VAL, 1, 17, "twice"),
    ("5xx:backoff(3,4)", VAL, 1, 15, "twice"),
    ("5xx:backoff(limit=3,limit=4)", VAL, 1, 21, "twice"),
    ("5xx:backoff(x2,factor=3)", VAL, 1, 16, "twice"),
    ("429:headers(x-ratelimit-*,reset-header=x)", VAL, 1, 27, "twice"),
    # -- hints for known mistakes -----------------------------------------------------------
    ("5xx:backoff(5,1s-30s,x1.8)", SYN, 1, 15, "'..'"),
    ("5xx:backoff(1s-30s)", SYN, 1, 13, "'..'"),
    ("5xx:backoff(5,1..30,x1.8)", SYN, 1, 15, "missing unit"),
    ("5xx:backoff(0.5)", SYN, 1, 13, "missing unit"),
    ("5xx:backoff(min=1)", SYN, 1, 17, "missing unit"),
    ("timeout=10", SYN, 1, 9, "missing unit"),
    ("deadline=120", SYN, 1, 10, "missing unit"),
    ("429:headers(max=60)", SYN, 1, 17, "missing unit"),
    ("429:headers(jitter=2)", SYN, 1, 20, "missing unit"),
    ("5xx:backoff(1sec)", SYN, 1, 13, "unknown unit"),
    ("5xx:backoff(2d)", SYN, 1, 13, "unknown unit"),
    ("5xx backoff()", SYN, 1, 1, "missing ':'"),
    ("5xx:backof(3)", SYN, 1, 5, "did you mean 'backoff'"),
    ("5xx:Backof(3)", SYN, 1, 5, "did you mean 'backoff'"),
    ("429:header(x-ratelimit-*)", SYN, 1, 5, "did you mean 'headers'"),
    ("5xx:nevr", SYN, 1, 5, "did you mean 'never'"),
    ("timout:never", SYN, 1, 1, "did you mean 'timeout'"),
    ("5xx:backoff(jiter)", SYN, 1, 13, "did you mean 'jitter'"),
    ("5xx:backoff(jitter=ful)", SYN, 1, 20, "did you mean 'full'"),
    ("5xx:backoff(limt=3)", SYN, 1, 13, "did you mean 'limit'"),
    ("429:headers(formt=epoch)", SYN, 1, 13, "did you mean 'format'"),
    ("429:headers(format=epoc)", SYN, 1, 20, "did you mean 'epoch'"),
    ("429:headers(over=clmp)", SYN, 1, 18, "did you mean 'clamp'"),
    ("429:never5xx:never", SYN, 1, 10, "separated"),
    ("5xx : backoff()", SYN, 1, 4, "whitespace"),
    ("5xx: backoff()", SYN, 1, 5, "whitespace"),
    ("5xx:backoff() |never", SYN, 1, 14, "whitespace"),
    ("5xx:backoff (3)", SYN, 1, 12, "whitespace"),
    ("timeout = 10s", SYN, 1, 8, "whitespace"),
    # -- other syntax --------------------------------------------------------------------------
    ("5xx:", SYN, 1, 4, "ends too early"),
    ("5xx:backoff(1s..30s", SYN, 1, 19, "ends too early"),
    ("5xx:never(3)", SYN, 1, 5, "never takes no arguments"),
    ("429:headers(1s..2s)", VAL, 1, 13, "max="),
    ("429:headers(x-*-*)", VAL, 1, 13, "one '*'"),
    ("5xx:backoff(1s..2s..3s)", SYN, 1, 19, "'..'"),
    ("5xx:backoff(limit=1s)", SYN, 1, 19, "whole number"),
    ("@nope", VAL, 1, 2, "unknown preset"),
    ("5xx:never\n  429:backof(3)", SYN, 2, 7, "did you mean 'backoff'"),
    ("5xx:never\n\n\t\t600:never", VAL, 3, 3, "between 100 and 599"),
    ("5xx:never\x00", SYN, 1, 10, "\\x00"),
]


@pytest.mark.parametrize(
    ("text", "cls", "line", "column", "hint"), INVALID, ids=[repr(t[0][:40]) for t in INVALID]
)
def test_invalid(text: str, cls: type[PolicyError], line: int, column: int, hint: str) -> None:
    """Each invalid text raises the right error class at the right place with a useful hint."""
    with pytest.raises(PolicyError) as info:
        policy.parse(text)
    err = info.value
    assert type(err) is cls, str(err)
    assert (err.line, err.column) == (line, column), str(err)
    assert hint in err.message, err.message
    assert err.end_column > err.column
    assert isinstance(err, ValueError)
    assert err.text == text


@pytest.mark.parametrize("text", [t[0] for t in INVALID if len(t[0]) < 200])
def test_str_shows_the_caret(text: str) -> None:
    """str(err) shows the offending line, a caret line under the problem and the message."""
    with pytest.raises(PolicyError) as info:
        policy.parse(text)
    err = info.value
    lines = str(err).split("\n")
    src = text.split("\n")[err.line - 1].replace("\t", " ")
    assert lines[0] == src
    caret = " " * (err.column - 1) + "^" * (err.end_column - err.column)
    assert lines[1] == caret
    assert err.message in lines[2]


def test_spec_example_rendering() -> None:
    """The SPEC's own error example renders exactly as shown there."""
    with pytest.raises(PolicySyntaxError) as info:
        policy.parse("5xx:backoff(5,1s-30s,x1.8)")
    err = info.value
    assert (err.line, err.column, err.end_column) == (1, 15, 18)
    assert str(err).split("\n")[:2] == [
        "5xx:backoff(5,1s-30s,x1.8)",
        "              ^^^",
    ]
    assert "'..'" in str(err) and "1s..30s" in str(err)


def test_end_column_covers_the_token() -> None:
    """end_column (exclusive) ends where the offending token ends."""
    with pytest.raises(PolicyValueError) as info:
        policy.parse("5xx:backoff(30s..1s)")
    assert (info.value.column, info.value.end_column) == (13, 16)
    with pytest.raises(PolicyValueError) as info:
        policy.parse("timeout=500ms")
    assert (info.value.column, info.value.end_column) == (9, 14)
    with pytest.raises(PolicySyntaxError) as syn:
        policy.parse("5xx:backof(3)")
    assert (syn.value.column, syn.value.end_column) == (5, 11)


def test_every_problem_is_reported() -> None:
    """Several problems in one text are all reported, in source order, the first on the error."""
    text = "600:never timeout=0s 5xx:backoff(30s..1s) 429,429:never"
    with pytest.raises(PolicyValueError) as info:
        policy.parse(text)
    err = info.value
    positions = [(p.line, p.column) for p in err.problems]
    assert positions == [(1, 1), (1, 19), (1, 34), (1, 47)]
    assert (err.line, err.column) == positions[0]
    assert err.message == err.problems[0].message
    rendered = str(err)
    for p in err.problems:
        assert p.message in rendered


def test_syntax_problem_makes_a_syntax_error() -> None:
    """A text with both a bad value and a misspelt word is a syntax error listing both."""
    with pytest.raises(PolicySyntaxError) as info:
        policy.parse("600:never 5xx:backof()")
    messages = [p.message for p in info.value.problems]
    assert len(messages) == 2
    assert "between 100 and 599" in messages[0]
    assert "did you mean 'backoff'" in messages[1]
    assert [p.code for p in info.value.problems] == ["E002", "E001"]


def test_text_size_bound() -> None:
    """A text of 8 kB parses; one byte more is refused up front with a PolicyValueError."""
    ok = "5xx:never" + " " * (8192 - len("5xx:never"))
    assert str(policy.parse(ok)) == "5xx:never"
    too_big = ok + " "
    with pytest.raises(PolicyValueError) as info:
        policy.parse(too_big)
    assert "8192" in info.value.message
    assert (info.value.line, info.value.column) == (1, 1)


def test_text_size_counts_bytes() -> None:
    """The 8 kB bound counts UTF-8 bytes, so multi-byte text cannot slip past it."""
    text = "5xx:never # " + "é" * 4100
    assert len(text) < 8192 < len(text.encode())
    with pytest.raises(PolicyValueError):
        policy.parse(text)


@pytest.mark.parametrize(
    "text",
    [
        "5" * 10_000,
        "5xx:never " * 1000,
        "5xx:backoff(" + "1" * 10_000,
        "(" * 10_000,
        "5xx:backoff(1s.." + "9" * 8000 + "s)",
        "# " + "x" * 8300,
    ],
)
def test_big_rejected_input_completes(text: str) -> None:
    """A rejected input of up to 10 kB raises a PolicyError (and returns at all)."""
    with pytest.raises(PolicyError):
        policy.parse(text)


def test_long_number_is_not_misquoted() -> None:
    """A message quoting a number too long to show marks the cut instead of showing another."""
    with pytest.raises(PolicyValueError) as info:
        policy.parse("99999999999999999999:never")
    quoted = re.findall(r"\d{5,}\.*", info.value.message)
    assert quoted and all(q == "99999999999999999999" or q.endswith("...") for q in quoted)


def test_no_terminal_names_in_messages() -> None:
    """Messages use words a user knows, never the grammar's terminal names."""
    texts = [t[0] for t in INVALID] + [
        "5xx:backoff(5 1s)",
        "5xx:backoff(5,,1s)",
        "5xx:backoff((3))",
        ":never",
        "5xx,:never",
        "@",
        "=3",
        "5xx:backoff(3)x",
        "5xx|never",
        "5xx:backoff(x2..x3)",
    ]
    names = re.compile(
        r"\b(NUMBER|CODE_RANGE|CODE_CLASS|FACTOR|WORD|SEP|LPAR|RPAR|ARGSEP|DOTDOT|KWEQ|"
        r"COLON|COMMA|VBAR|EQUAL|AT|\$END)\b"
    )
    for text in texts:
        with pytest.raises(PolicyError) as info:
            policy.parse(text)
        assert not names.search(str(info.value)), str(info.value)


def test_errors_are_value_errors_and_pickle() -> None:
    """PolicyError is a ValueError; both subclasses are PolicyErrors; errors survive pickling."""
    assert issubclass(PolicyError, ValueError)
    assert issubclass(PolicySyntaxError, PolicyError)
    assert issubclass(PolicyValueError, PolicyError)
    with pytest.raises(PolicyError) as info:
        policy.parse("5xx:backof()")
    assert isinstance(info.value, ValueError)
    copy = pickle.loads(pickle.dumps(info.value))
    assert type(copy) is PolicySyntaxError
    assert (copy.text, copy.line, copy.column, copy.problems) == (
        info.value.text,
        info.value.line,
        info.value.column,
        info.value.problems,
    )


@given(st.text(alphabet=st.sampled_from("5x0129:;,()|=@*.# \nabckfmsoe-"), max_size=40))
def test_error_positions_are_inside_the_text(text: str) -> None:
    """Every reported problem points at a line of the text and a column within or just past it."""
    try:
        policy.parse(text)
    except PolicyError as err:
        lines = text.split("\n")
        for p in err.problems:
            assert 1 <= p.line <= len(lines)
            assert 1 <= p.column <= len(lines[p.line - 1]) + 1
            assert p.end_column > p.column


def test_repeated_family_is_an_error() -> None:
    """A header family given twice is 'given twice', like every other repeated argument."""
    with pytest.raises(PolicyValueError) as info:
        policy.parse("429:headers(x-ratelimit-*,ratelimit-*)")
    assert "twice" in info.value.message


def test_missing_comma_between_arguments() -> None:
    """Two arguments without a ',' get a hint about ',' — whitespace inside parentheses is fine."""
    with pytest.raises(PolicySyntaxError) as info:
        policy.parse("5xx:backoff(5 1s)")
    assert "','" in info.value.message
    assert "whitespace" not in info.value.message


def test_strategy_without_selector() -> None:
    """A strategy written without a selector is told it needs one (e.g. 5xx:backoff(3))."""
    with pytest.raises(PolicySyntaxError) as info:
        policy.parse("backoff(3)")
    assert "only backoff and headers take arguments" not in info.value.message
    assert "selector" in info.value.message
