"""From text to ``Policy``: the Lark parser, the raw transformer, and error translation.

The grammar (``grammar/policy.lark``) is loaded once, lazily, and parsed with Lark's LALR
parser and contextual lexer; the transformer runs inline (no parse tree is built) and
produces *raw* nodes: tokens with their positions, nothing interpreted.  The validation
pass (``_validate``) then interprets every word and number, collects every problem, and
only then builds the frozen AST.  Lark exceptions are translated here, at one boundary,
into ``PolicySyntaxError`` with a position, a caret and words a user knows.

``parse`` keeps a bounded cache keyed by the text: policies are immutable, so a config
value parsed once per request costs a dictionary lookup after the first time.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._ast import MAX_TEXT, Rule
from ._errors import PolicySyntaxError, PolicyValueError, Problem
from ._fastparse import fast_raw as _fast_raw
from ._policy import Policy
from ._validate import (
    STRATEGY_NAMES,
    RawArg,
    RawPreset,
    RawRule,
    RawSetting,
    RawStrategy,
    build_policy,
)

if TYPE_CHECKING:
    from lark import Lark
    from lark.exceptions import UnexpectedInput

    from ._presets import Preset

__all__ = ["grammar_text", "parse", "parser"]


def grammar_text() -> str:
    """The grammar file's text, from the installed package or the source checkout."""
    from importlib import resources
    from pathlib import Path

    try:
        return (resources.files("policy") / "_grammar" / "policy.lark").read_text("utf-8")
    except (FileNotFoundError, NotADirectoryError, OSError):
        pass
    here = Path(__file__).resolve().parents[2] / "grammar" / "policy.lark"
    return here.read_text("utf-8")


_MATCHER_KIND = {"NUMBER": "code", "CODE_RANGE": "range", "CODE_CLASS": "class", "WORD": "word"}


def _transformer() -> Any:
    """The raw transformer (defined here so that Lark is imported only when it is needed)."""
    from lark import Token, Transformer

    class _Raw(Transformer[Token, Any]):
        """Builds raw nodes (tokens and lists); interpretation happens in ``_validate``."""

        def start(self, children: list[Any]) -> list[Any]:
            return [c for c in children if not (isinstance(c, Token) and c.type == "SEP")]

        def rule(self, children: list[Any]) -> RawRule:
            matchers: list[tuple[str, Token]] = []
            strategies: list[RawStrategy] = []
            methods: list[Token] | None = None
            for c in children:
                if type(c) is RawStrategy:
                    strategies.append(c)
                elif type(c) is list:
                    methods = c
                elif c is not None:
                    matchers.append((_MATCHER_KIND[c.type], c))
            return RawRule(matchers, strategies, methods)

        def rule_methods(self, children: list[Token]) -> list[Token]:
            return children

        def strategy(self, children: list[Any]) -> RawStrategy:
            name = children[0]
            if len(children) == 1:
                return RawStrategy(name, None, name.end_pos, name.end_line, name.end_column)
            args, rpar = children[1]
            return RawStrategy(name, args, rpar.end_pos, rpar.end_line, rpar.end_column)

        def args(self, children: list[Any]) -> tuple[list[RawArg], Token]:
            out: list[RawArg] = []
            for c in children[1:-1]:
                if type(c) is RawArg:
                    out.append(c)
                elif c.type != "ARGSEP":
                    out.append(RawArg("pos", None, c, None))
            return out, children[-1]

        def bounds(self, children: list[Token]) -> RawArg:
            return RawArg("bounds", None, children[0], children[2])

        def keyword(self, children: list[Token]) -> RawArg:
            return RawArg("kw", children[0], children[2], None)

        def setting(self, children: list[Token]) -> RawSetting:
            return RawSetting(children[0], children[1:])

        def preset(self, children: list[Token]) -> RawPreset:
            return RawPreset(children[0])

    return _Raw()


@functools.cache
def parser() -> Lark:
    """The LALR parser, built once on first use."""
    from lark import Lark

    return Lark(
        grammar_text(),
        parser="lalr",
        lexer="contextual",
        transformer=_transformer(),
        maybe_placeholders=False,
    )


def parse(text: str) -> Policy:
    """Parse a policy string into a ``Policy``.

    Raises ``PolicySyntaxError`` or ``PolicyValueError`` (both ``PolicyError`` and
    ``ValueError``) with every problem found; nothing else.
    """
    if type(text) is not str:
        if isinstance(text, str):
            text = str(text)
        else:
            raise PolicyValueError(
                "", [Problem(f"a policy must be a string (got {type(text).__name__})", 1, 1, 2)]
            )
    return _parse_cached(text)


@functools.lru_cache(maxsize=512)
def _parse_cached(text: str) -> Policy:
    return _parse(text)


def _parse(text: str) -> Policy:
    size = len(text) if len(text) * 4 <= MAX_TEXT else len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_TEXT:
        raise PolicyValueError(
            text[:200],
            [Problem(f"a policy may be at most {MAX_TEXT} bytes (got {size})", 1, 1, 2)],
        )
    raw = _fast_raw(text)
    if raw is None:
        raw = _lark_raw(text)
    return build_policy(text, raw, _PRESETS)


class _Presets:
    """The rules library for the validation pass: names, and rules parsed from each text."""

    def names(self) -> Sequence[str]:
        from ._presets import PRESETS

        return list(PRESETS)

    def rules(self, name: str) -> tuple[Rule, ...] | None:
        from ._presets import PRESETS

        preset = PRESETS.get(name)
        return None if preset is None else expand(preset)


_PRESETS = _Presets()


def parse_with_lark(text: str) -> Policy:
    """``text`` parsed by the grammar's own (Lark) parser, never the fast one, uncached
    (tests and benchmarks compare the two parsers with it)."""
    return build_policy(text, _lark_raw(text), _PRESETS)


def expand(preset: Preset) -> tuple[Rule, ...]:
    """The rules of ``preset``, parsed from its text (cached by the parser)."""
    parsed = parse(preset.text)
    if len(parsed.rules) != len(parsed.items):
        raise ValueError(f"preset @{preset.name} may hold rules only")
    return parsed.rules


def _lark_raw(text: str) -> list[Any]:
    """The raw items by Lark: for text the fast path does not take, and every error."""
    from lark.exceptions import UnexpectedInput

    try:
        return parser().parse(text)  # type: ignore[return-value]
    except UnexpectedInput as exc:
        raise PolicySyntaxError(text, [_syntax_problem(text, exc)]) from None


# --- error translation ------------------------------------------------------------------

_WORDS = {
    "COLON": "':'",
    "COMMA": "','",
    "VBAR": "'|'",
    "EQUAL": "'='",
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


def _syntax_problem(text: str, exc: UnexpectedInput) -> Problem:
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
