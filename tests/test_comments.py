"""Comments: read to the end of their line, anywhere whitespace may be, in linear time.

A comment used to be matched by a sub-pattern that could end anywhere, inside terminals
that repeat it (``(?:[ \\t\\r\\n]|#[^\\n]*)*\\)``): on ``"# # # ..."`` the regex engine
tried every way of cutting the line into comments, ×3 per ``"# "``, so a 60-byte policy
ran for minutes.  These tests parse 8 kB of comment-heavy text in a subprocess with a
watchdog, so a regression fails instead of hanging; no speed is asserted (see
bench/bench_parse.py for the measurement).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st
from strategies import policies

import policy

# Parsed by a child process so that a catastrophic regex (which holds the GIL and cannot
# be interrupted) is killed by the watchdog instead of blocking the test run.
_CHILD = r"""
import json, sys
import policy
out = []
for text in json.load(sys.stdin):
    try:
        out.append(["ok", str(policy.parse(text))])
    except policy.PolicyError as err:
        out.append(["error", type(err).__name__, err.line, err.column, str(err)])
print(json.dumps(out))
"""

_WATCHDOG_S = 20.0  # generous: the whole batch takes well under a second


def _parse_in_child(texts: list[str]) -> list[list[object]]:
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        timeout=_WATCHDOG_S,
        check=True,
    )
    result: list[list[object]] = json.loads(proc.stdout)
    return result


_N = 3500  # "# " * 3500 and friends: about 7-8 kB, under the 8 kB limit

# (text, the same policy without its comments)
_VALID: list[tuple[str, str]] = [
    ("5xx:backoff(5 " + "# " * 13 + "\n)", "5xx:backoff(5)"),
    ("5xx:backoff(5 " + "# " * _N + "\n)", "5xx:backoff(5)"),
    ("5xx:backoff(5 " + "#" * (2 * _N) + "\n)", "5xx:backoff(5)"),
    ("5xx:backoff(5" + " # ) , .. =\n" * 500 + ",1s..30s)", "5xx:backoff(5,1s..30s)"),
    ("5xx:backoff(limit" + " #=\n" * 1000 + "=5)", "5xx:backoff(limit=5)"),
    ("5xx:backoff(1s" + "#..\n" * 1500 + "..2s)", "5xx:backoff(1s..2s)"),
    ("5xx:backoff(" + "# (\n" * 1500 + "5)", "5xx:backoff(5)"),
    ("429:never" + "\n# between ) items ,\n" * 300 + "5xx:never", "429:never 5xx:never"),
    ("5xx:never # " + "x)" * _N, "5xx:never"),
    ("5xx:never" + "#" * (2 * _N), "5xx:never"),
    ("# " * _N, ""),
    ("#" * (2 * _N), ""),
    (";#\n" * 2000, ""),
    ("timeout=10s" + " # ;\n" * 1000 + "429:never", "timeout=10s 429:never"),
]

# (text, the message the parser gives) -- refused, with a position, in bounded time.
_REFUSED: list[tuple[str, str]] = [
    ("5xx:backoff(5 " + "# " * _N, "ends too early"),
    ("5xx:backoff(5 " + "#" * (2 * _N), "ends too early"),
    ("5xx:backoff(5 #" + ")" * (2 * _N), "ends too early"),
    ("5xx:backoff(5 #,)\n", "ends too early"),
    ("5xx:backoff(5" + " # ,\n" * 1000 + "x)", "expected ',' between arguments"),
    ("5xx " + "# " * _N + "\n:never", "may not be split by whitespace"),
    ("5xx:backoff(" + "(#\n" * 1500 + ")", "unexpected"),
    ("# " * 5000 + "\n5xx:never", "at most 8192 bytes"),
    ("#" * 10_000, "at most 8192 bytes"),
]


def test_comment_heavy_text_parses_or_is_refused_in_bounded_time() -> None:
    """8 kB of comments of every shape parse (to the uncommented policy) or are refused."""
    texts = [t for t, _ in _VALID] + [t for t, _ in _REFUSED]
    results = _parse_in_child(texts)
    for (text, plain), got in zip(_VALID, results[: len(_VALID)], strict=True):
        assert got == ["ok", str(policy.parse(plain))], text[:60]
    for (text, message), got in zip(_REFUSED, results[len(_VALID) :], strict=True):
        assert got[0] == "error", text[:60]
        assert message in str(got[4]), (text[:60], got)
        assert isinstance(got[2], int) and isinstance(got[3], int) and got[2] >= 1


def test_a_comment_cannot_close_a_parenthesis() -> None:
    """')' or ',' written in a comment is comment: the comment is the rest of its line."""
    err = _parse_in_child(["5xx:backoff(5 # ,1s)"])[0]
    assert err[0] == "error" and "ends too early" in str(err[4])
    plain = str(policy.parse("5xx:backoff(5)"))
    assert _parse_in_child(["5xx:backoff(5 # ,1s)\n)"]) == [["ok", plain]]


def test_error_positions_after_comments() -> None:
    """A mistake after comments is still pointed at on its own line and column."""
    with_comments = "# a comment\n5xx:backoff(5, # why\n  1s 30s)"
    results = _parse_in_child([with_comments])
    assert results[0][:4] == ["error", "PolicySyntaxError", 3, 5]
    assert "expected ',' between arguments" in str(results[0][4])


# --- comment placement ------------------------------------------------------------------


def _spaced(text: str) -> str:
    """``text`` with whitespace around the punctuation inside each pair of parentheses."""

    def inner(m: re.Match[str]) -> str:
        args = m.group(1).replace(",", " , ").replace("..", " .. ").replace("=", " = ")
        return "( " + args + " )"

    return re.sub(r"\(([^)]*)\)", inner, text)


def _blank_positions(text: str) -> list[int]:
    """Where whitespace (or ';' between items) is: where a comment may be inserted."""
    return [i for i, ch in enumerate(text) if ch in " \t\r\n;"]


_COMMENT_BODY = st.text(
    alphabet=st.characters(blacklist_characters="\n", blacklist_categories=("Cs",)), max_size=12
)


@given(
    policies(),
    st.lists(st.tuples(st.integers(0, 10_000), _COMMENT_BODY, st.booleans()), max_size=6),
)
def test_comments_at_any_whitespace_leave_the_policy_unchanged(
    p: policy.Policy, inserts: list[tuple[int, str, bool]]
) -> None:
    """Inserting ``#...\\n`` at any whitespace position of a valid policy gives the same AST."""
    text = _spaced(str(p))
    assert policy.parse(text) == p
    blanks = _blank_positions(text)
    if blanks:
        # Positions in the original text, filled from the end so that none moves.
        places = sorted(((blanks[at % len(blanks)] + after, body) for at, body, after in inserts))
        for i, body in reversed(places):
            text = text[:i] + "#" + body + "\n" + text[i:]
    assert policy.parse(text) == p
