"""A fast path for well-formed policy text: the same raw nodes as the Lark parser, or None.

The language is regular (parentheses do not nest), so a policy that parses can be read
by a few anchored regular expressions and a loop, without Lark's generic LALR machinery
(about 20 Python calls per token) and without importing Lark at all.  This module
accepts only text the grammar accepts and produces exactly the raw nodes the Lark
transformer would (same token types, values and positions); at the first thing it does
not expect it gives up and returns ``None``, and ``_parse`` runs Lark, which produces
the nodes or the syntax error with its message.  So every error, and every message,
still comes from one place; tests compare the two paths on generated text.

Token by token it mirrors Lark's contextual lexer: in each parser state only the
terminals the state accepts are tried, in Lark's order (higher priority first), with the
grammar's own patterns.  Comments run to the end of their line, always all of it (the
grammar's possessive quantifiers, used here too), so they cannot hide or fake a ')' or
',' and both paths read them the same way, in time linear in the text.
"""

from __future__ import annotations

import re
from typing import Any

from ._raw import RawArg, RawPreset, RawRule, RawSetting, RawStrategy

__all__ = ["Tok", "fast_raw"]

# Whitespace and comments inside parentheses (the grammar's LPAR, RPAR, ARGSEP, ...): a
# comment is all of the rest of its line, and nothing is ever given back (linear time).
_WS = r"[ \t\r\n]*+(?:#[^\n]*+[ \t\r\n]*+)*+"
# The grammar's terminals (grammar/policy.lark), one group per terminal, in Lark's order.
_NUMBER = r"(?P<NUMBER>[0-9]+(?:\.[0-9]+)?[A-Za-z]*)"
_WORD = r"(?P<WORD>[A-Za-z*][A-Za-z0-9_*-]*)"
_MATCHER = re.compile(
    r"(?P<CODE_RANGE>[0-9]+-[0-9]+)|(?P<CODE_CLASS>[0-9][xX][xX](?![A-Za-z0-9_*-]))|"
    + _NUMBER
    + "|"
    + _WORD
)
_VALUE = re.compile(
    r"(?P<FACTOR>[xX][0-9]+(?:\.[0-9]+)?(?![A-Za-z0-9_*-]))|" + _NUMBER + "|" + _WORD
)
_SVALUE = re.compile(r"(?P<PERCENT>[0-9]+(?:\.[0-9]+)?%)|" + _NUMBER + "|" + _WORD)
_WORD_RE = re.compile(_WORD)
_SEP = re.compile(r"(?:[ \t\r\n;]|#[^\n]*+)[ \t\r\n;]*+(?:#[^\n]*+[ \t\r\n;]*+)*+")
_LPAR = re.compile(r"\(" + _WS)
_RPAR = re.compile(_WS + r"\)")
# What may follow a value inside parentheses (Lark's KWEQ, DOTDOT, ARGSEP and RPAR), and
# what may follow a whole argument (ARGSEP or RPAR); RPAR keeps no trailing whitespace.
_AFTER_VALUE = re.compile(
    _WS + r"(?:(?P<KWEQ>=)" + _WS + r"|(?P<DOTDOT>\.\.)" + _WS + "|(?P<ARGSEP>,)" + _WS
    + r"|(?P<RPAR>\)))"
)  # fmt: skip
_AFTER_ARG = re.compile(_WS + r"(?:(?P<ARGSEP>,)" + _WS + r"|(?P<RPAR>\)))")
_tuple_new = tuple.__new__

_MATCHER_KIND = {"NUMBER": "code", "CODE_RANGE": "range", "CODE_CLASS": "class", "WORD": "word"}


class Tok(str):
    """A token: the text, its terminal's name and its position (as Lark's ``Token``)."""

    type: str
    start_pos: int
    end_pos: int
    line: int
    column: int
    end_line: int
    end_column: int


def _tok(text: str, kind: str, start: int, end: int, one_line: bool) -> Any:
    # Any: the raw nodes are typed with Lark's Token, which this class stands in for.
    t = Tok(text[start:end])
    t.type = kind
    t.start_pos = start
    t.end_pos = end
    if one_line:
        t.line = t.end_line = 1
        t.column = start + 1
        t.end_column = end + 1
    else:
        t.line = text.count("\n", 0, start) + 1
        t.column = start - text.rfind("\n", 0, start)
        t.end_line = text.count("\n", 0, end) + 1
        t.end_column = end - text.rfind("\n", 0, end)
    return t


def fast_raw(text: str) -> list[Any] | None:
    """The raw items of ``text`` if it is well formed, else ``None`` (ask Lark)."""
    one = "\n" not in text
    n = len(text)
    items: list[Any] = []
    m: Any = _SEP.match(text)
    pos = m.end() if m else 0
    while pos < n:
        if text[pos] == "@":
            m = _WORD_RE.match(text, pos + 1)
            if m is None:
                return None
            items.append(RawPreset(_tok(text, "WORD", pos + 1, m.end(), one)))
            pos = m.end()
        else:
            m = _MATCHER.match(text, pos)
            if m is None:
                return None
            kind = m.lastgroup
            end = m.end()
            first = _tok(text, kind, pos, end, one)
            pos = end
            if kind == "WORD" and text.startswith("=", pos):
                values: list[Any] = []
                while True:
                    m = _SVALUE.match(text, pos + 1)
                    if m is None:
                        return None
                    values.append(_tok(text, m.lastgroup, pos + 1, m.end(), one))
                    pos = m.end()
                    if not text.startswith(",", pos):
                        break
                if text.startswith("/", pos):
                    found = _options(text, pos, one)
                    if found is None:
                        return None
                    options, pos = found
                    items.append(RawSetting(first, values, options))
                else:
                    items.append(RawSetting(first, values))
            else:
                rule = _rule(text, pos, first, one)
                if rule is None:
                    return None
                item, pos = rule
                items.append(item)
        if pos >= n:
            break
        m = _SEP.match(text, pos)
        if m is None:
            return None
        pos = m.end()
    return items


def _options(text: str, pos: int, one: bool) -> tuple[list[Any], int] | None:
    """The "/"-parts of a setting's value from the '/' at ``pos`` (``/1m/open=10s``):
    ``(name or None, value)`` each, and where they end; None if not well formed."""
    options: list[Any] = []
    while text.startswith("/", pos):
        m: Any = _SVALUE.match(text, pos + 1)
        if m is None:
            return None
        value = _tok(text, m.lastgroup, pos + 1, m.end(), one)
        pos = m.end()
        if m.lastgroup == "WORD" and text.startswith("=", pos):
            m = _SVALUE.match(text, pos + 1)
            if m is None:
                return None
            options.append((value, _tok(text, m.lastgroup, pos + 1, m.end(), one)))
            pos = m.end()
        else:
            options.append((None, value))
    return options, pos


def _rule(text: str, pos: int, first: Any, one: bool) -> tuple[RawRule, int] | None:
    m: Any
    matchers: list[tuple[str, Any]] = [(_MATCHER_KIND[first.type], first)]
    while text.startswith(",", pos):
        m = _MATCHER.match(text, pos + 1)
        if m is None:
            return None
        matchers.append(
            (_MATCHER_KIND[m.lastgroup], _tok(text, m.lastgroup, pos + 1, m.end(), one))
        )
        pos = m.end()
    methods: list[Any] | None = None
    if text.startswith("[", pos):
        methods = []
        while True:
            m = _WORD_RE.match(text, pos + 1)
            if m is None:
                return None
            methods.append(_tok(text, "WORD", pos + 1, m.end(), one))
            pos = m.end()
            if not text.startswith(",", pos):
                break
        if not text.startswith("]", pos):
            return None
        pos += 1
    if not text.startswith(":", pos):
        return None
    strategies: list[RawStrategy] = []
    while True:
        m = _WORD_RE.match(text, pos + 1)
        if m is None:
            return None
        name = _tok(text, "WORD", pos + 1, m.end(), one)
        pos = m.end()
        if text.startswith("(", pos):
            found = _args(text, pos, one)
            if found is None:
                return None
            args, pos = found
            # The strategy ends where its ')' does (Lark's RPAR token).
            if one:
                strategies.append(_tuple_new(RawStrategy, (name, args, pos, 1, pos + 1)))
            else:
                line = text.count("\n", 0, pos) + 1
                column = pos - text.rfind("\n", 0, pos)
                strategies.append(_tuple_new(RawStrategy, (name, args, pos, line, column)))
        else:
            strategies.append(
                _tuple_new(RawStrategy, (name, None, name.end_pos, name.end_line, name.end_column))
            )
        if not text.startswith("|", pos):
            break
    return _tuple_new(RawRule, (matchers, strategies, methods)), pos


def _args(text: str, pos: int, one: bool) -> tuple[list[RawArg], int] | None:
    """The arguments from '(' at ``pos``, and where the ')' ends; None if not well formed."""
    pos = _LPAR.match(text, pos).end()  # type: ignore[union-attr]
    out: list[RawArg] = []
    m: Any = _RPAR.match(text, pos)
    if m is not None:
        return out, m.end()
    while True:
        m = _VALUE.match(text, pos)
        if m is None:
            return None
        kind = m.lastgroup
        pos = m.end()
        value = _tok(text, kind, m.start(), pos, one)
        m = _AFTER_VALUE.match(text, pos)
        if m is None:
            return None
        after = m.lastgroup
        if after == "KWEQ" or after == "DOTDOT":
            if after == "KWEQ" and kind != "WORD":
                return None
            m = _VALUE.match(text, m.end())
            if m is None:
                return None
            second = _tok(text, m.lastgroup, m.start(), m.end(), one)
            if after == "KWEQ":
                out.append(_tuple_new(RawArg, ("kw", value, second, None)))
            else:
                out.append(_tuple_new(RawArg, ("bounds", None, value, second)))
            pos = m.end()
            m = _AFTER_ARG.match(text, pos)
            if m is None:
                return None
            after = m.lastgroup
        else:
            out.append(_tuple_new(RawArg, ("pos", None, value, None)))
        if after == "RPAR":
            return out, m.end()
        pos = m.end()
