"""Lark's exceptions translated into a ``Problem``: a position, a caret and words a user
knows (never a grammar terminal name), with a "did you mean" where a word is misspelt.

Only ``_parse`` calls this, at its one boundary with Lark.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ._errors import Problem
from ._strategies import STRATEGY_NAMES
from ._values import UNIT_WORDS, UNITS

if TYPE_CHECKING:
    from lark.exceptions import UnexpectedInput

__all__ = ["syntax_problem"]

_WORDS = {
    "COLON": "':'",
    "COMMA": "','",
    "VBAR": "'|'",
    "EQUAL": "'='",
    "SLASH": "'/'",
    "AT": "'@'",
    "LSQB": "'['",
    "RSQB": "']'",
    "LPAR": "'('",
    "RPAR": "')'",
    "ARGSEP": "','",
    "DOTDOT": "'..'",
    "KWEQ": "'='",
    "SEP": "a space or ';'",
    "NUMBER": "a number",
    "CODE_RANGE": "a status range",
    "CODE_CLASS": "a status class",
    "FACTOR": "a factor such as x2",
    "PERCENT": "a percentage such as 20%",
    "WORD": "a name",
    "$END": "the end of the policy",
}

_ITEM_START = {"NUMBER", "CODE_RANGE", "CODE_CLASS", "WORD", "AT"}

#: A number, whitespace, then a unit ('5 seconds', '10 s'): a duration split in two.
_SPLIT_DURATION = re.compile(
    r"(?:(?<=\.\.)|(?<![\w.]))([0-9]+(?:\.[0-9]+)?)[ \t]+("
    + "|".join(sorted([*UNITS, *UNIT_WORDS], key=len, reverse=True))
    + r")(?![\w.*-])",
    re.I,
)


def _split_duration(text: str, pos: int) -> Problem | None:
    """'backoff(3, 5 seconds)', 'timeout=5 seconds': the first duration written with a
    space before its unit, up to the error (outside comments), as a problem."""
    for m in _SPLIT_DURATION.finditer(text):
        if m.start() > pos:
            break
        line_start = text.rfind("\n", 0, m.start()) + 1
        if "#" in text[line_start : m.start()]:
            continue
        number, unit = m.group(1), m.group(2).lower()
        fix = number + UNIT_WORDS.get(unit, unit)
        return _problem(
            text,
            m.start(),
            m.end(),
            f"a duration is a number and a unit with no space: write {fix}",
        )
    return None


def _describe(expected: set[str]) -> str:
    words = sorted({_WORDS.get(e, e.lower()) for e in expected})
    if {"NUMBER", "CODE_RANGE", "CODE_CLASS", "WORD"} <= expected and "AT" in expected:
        return "a rule, a setting or a preset"
    if {"NUMBER", "CODE_RANGE", "CODE_CLASS", "WORD"} <= expected:
        return "a status (429, 500-599, 5xx) or all, timeout, connect, reset, error"
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return line, col


def _problem(text: str, start: int, end: int, message: str) -> Problem:
    line, col = _line_col(text, start)
    # The caret stays on one line.
    nl = text.find("\n", start)
    if nl != -1 and end > nl:
        end = max(nl, start + 1)
    return Problem(message, line, col, col + max(1, end - start), True, start)


def _prev_word(text: str, pos: int) -> tuple[int, str]:
    """The run of word characters (and '.') that ends right before ``pos``."""
    i = pos
    while i > 0 and (text[i - 1].isalnum() or text[i - 1] in "._*-"):
        i -= 1
    return i, text[i:pos]


def syntax_problem(text: str, exc: UnexpectedInput) -> Problem:
    from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken

    pos = exc.pos_in_stream if exc.pos_in_stream is not None else len(text)
    expected: set[str] = set()
    if isinstance(exc, UnexpectedToken):
        expected = set(exc.expected)
        tok = exc.token
        ttype = tok.type
        pos = tok.start_pos if tok.start_pos is not None and ttype != "$END" else len(text)
        value = str(tok)
    elif isinstance(exc, UnexpectedCharacters):
        expected = set(exc.allowed or ())
        ttype = ""
        value = text[pos] if pos < len(text) else ""
    elif isinstance(exc, UnexpectedEOF):  # pragma: no cover - LALR reports $END as a token
        expected = set(exc.expected)
        ttype, value = "$END", ""
    else:  # pragma: no cover
        ttype, value = "", ""

    split = _split_duration(text, pos)
    if split is not None:
        return split

    # Only whitespace and comments up to the end, inside parentheses: '5xx:backoff(5 # 1s)'
    # (a comment runs to the end of its line, so a ')' written in it closes nothing).
    if ttype == "SEP" and "ARGSEP" in expected and pos + len(value) >= len(text):
        end_start = len(text[:pos].rstrip())
        return _problem(
            text,
            max(0, end_start - 1),
            end_start,
            f"the policy ends too early: expected {_describe(expected)}"
            + (" (a comment runs to the end of its line)" if "#" in value else ""),
        )

    # Two arguments without a ',' between them: '5xx:backoff(5 1s)'.
    if ttype == "SEP" and "ARGSEP" in expected:
        return _problem(
            text,
            pos,
            pos + len(value),
            "expected ',' between arguments (e.g. backoff(5,1s))",
        )

    # Whitespace where it does not belong: '5xx : never', '5xx backoff()', 'backoff (5)'.
    if ttype == "SEP" and "SEP" not in expected:
        rest = text[pos + len(value) :]
        if ";" not in value and "#" not in value:
            nxt = rest[:1]
            if "COLON" in expected and nxt and (nxt.isalpha()):
                word_end = pos + len(value)
                while word_end < len(text) and (text[word_end].isalnum() or text[word_end] in "_-"):
                    word_end += 1
                word = text[pos + len(value) : word_end]
                start, sel = _prev_word(text, pos)
                if word.lower() in STRATEGY_NAMES:
                    return _problem(
                        text,
                        start,
                        word_end,
                        f"missing ':' between the selector and the strategy ({sel}:{word})",
                    )
            if nxt in (":", "|", "(", "=", ","):
                return _problem(
                    text,
                    pos,
                    pos + len(value),
                    f"whitespace is not allowed before {nxt!r}: outside parentheses it only "
                    "separates items",
                )
            if "COLON" in expected:
                return _problem(
                    text,
                    pos,
                    pos + len(value),
                    "expected ':' after the selector (e.g. 5xx:backoff())",
                )
        return _problem(
            text,
            pos,
            pos + max(1, len(value.rstrip())),
            f"expected {_describe(expected)}; items may not be split by whitespace",
        )

    prior = text[:pos].rstrip(" \t\r\n")
    if expected == {"WORD"} and prior.endswith((":", "|")):
        what = "a strategy: backoff(...), headers(...) or never"
        if ttype == "$END" or pos >= len(text):
            return _problem(
                text, max(0, pos - 1), pos, f"the policy ends too early: expected {what}"
            )
        return _problem(text, pos, pos + max(1, len(value)), f"expected {what}")

    # Whitespace before punctuation that joins the parts of an item: '5xx:backoff() |never'.
    if ttype in ("VBAR", "COLON", "COMMA", "EQUAL", "LPAR") and pos and text[pos - 1] in " \t\r\n":
        ws = len(text[:pos]) - len(prior)
        return _problem(
            text,
            pos - ws,
            pos,
            f"whitespace is not allowed before {value!r}: outside parentheses it only "
            "separates items",
        )

    if ttype in ("KWEQ", "ARGSEP", "DOTDOT", "RPAR") and value[:1].isspace():
        stripped = value.strip()
        return _problem(
            text,
            pos,
            pos + len(value) - len(value.lstrip()),
            f"whitespace is not allowed before {stripped!r}: outside parentheses it only "
            "separates items",
        )

    if ttype == "$END" or (not ttype and pos >= len(text)):
        end_start = len(text.rstrip())
        return _problem(
            text,
            max(0, end_start - 1),
            end_start,
            f"the policy ends too early: expected {_describe(expected)}",
        )

    # Items that touch: '429:never5xx:never'.
    start, word = _prev_word(text, pos)
    for name in STRATEGY_NAMES:
        if word.lower().startswith(name) and len(word) > len(name) and word[len(name)].isdigit():
            cut = start + len(name)
            return _problem(
                text,
                cut,
                cut + 1,
                "items must be separated by a space or ';' "
                f"(write {word[: len(name)]} {word[len(name) :]}...)",
            )

    ch = text[pos] if pos < len(text) else ""
    in_args = "ARGSEP" in expected or "RPAR" in expected or "DOTDOT" in expected
    if ch == "-" and in_args and "DOTDOT" in expected:
        return _problem(
            text,
            start,
            pos + 1,
            f"expected '..' between the minimum and maximum delay ({word}..{_after(text, pos)})",
        )
    if ch == "-" and in_args:
        return _problem(text, pos, pos + 1, "negative values are not allowed")
    if ch == "-" and ("NUMBER" in expected or "WORD" in expected) and not in_args:
        return _problem(text, pos, pos + 1, "negative values are not allowed")
    if ch == "." and "DOTDOT" not in expected and in_args:
        return _problem(
            text, pos, pos + 1, "unexpected '.': expected ',' or ')' (a range has one '..')"
        )
    if ttype in ("NUMBER", "WORD", "FACTOR", "CODE_CLASS", "CODE_RANGE") and (
        "ARGSEP" in expected or "RPAR" in expected
    ):
        return _problem(
            text,
            pos,
            pos + len(value),
            f"expected ',' or ')' before {value!r}: arguments are separated by ','",
        )
    if ttype == "LPAR" and "COLON" in expected and word.lower() in STRATEGY_NAMES:
        return _problem(
            text,
            start,
            pos + 1,
            f"a strategy needs a selector before it (e.g. 5xx:{word}(...))",
        )
    if ttype == "LPAR" and "LPAR" not in expected:
        return _problem(
            text, pos, pos + 1, "unexpected '(': only backoff and headers take arguments"
        )
    if ch and not ch.isprintable():
        return _problem(text, pos, pos + 1, f"unexpected character {ch!r}")
    if ttype:
        shown = value if len(value) <= 20 else value[:20] + "..."
        return _problem(
            text,
            pos,
            pos + max(1, len(value.strip())),
            f"unexpected {shown.strip()!r}: expected {_describe(expected)}",
        )
    return _problem(
        text, pos, pos + 1, f"unexpected character {ch!r}: expected {_describe(expected)}"
    )


def _after(text: str, pos: int) -> str:
    j = pos + 1
    while j < len(text) and (text[j].isalnum() or text[j] == "."):
        j += 1
    return text[pos + 1 : j]
