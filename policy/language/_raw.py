"""Raw nodes: what the parsers (Lark's transformer and the fast parser) hand to validation.

They only group tokens; ``_validate`` interprets them.  Also the small helpers every
validation module shares (spans from tokens, "did you mean", cutting long text).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from ._ast import Span
from ._build import make_span

if TYPE_CHECKING:
    from lark import Token

__all__ = [
    "RawArg",
    "RawPreset",
    "RawRule",
    "RawSetting",
    "RawStrategy",
    "cut",
    "did_you_mean",
    "fmt_ms",
    "span_of",
]


class RawArg(NamedTuple):
    kind: str  # "pos", "bounds" or "kw"
    key: Token | None
    value: Token
    value2: Token | None


class RawStrategy(NamedTuple):
    name: Token
    args: list[RawArg] | None
    end_pos: int
    end_line: int
    end_column: int


class RawRule(NamedTuple):
    matchers: list[tuple[str, Token]]
    strategies: list[RawStrategy]
    methods: list[Token] | None = None


class RawSetting(NamedTuple):
    name: Token
    values: list[Token]
    #: The "/"-parts after the value (``breaker=50%/1m/open=10s``): (name or None, value).
    options: list[tuple[Token | None, Token]] = []  # noqa: RUF012 (never mutated)


class RawPreset(NamedTuple):
    name: Token


def did_you_mean(word: str, choices: tuple[str, ...] | list[str]) -> str:
    """' (did you mean 'backoff'?)' for a close match, else ''."""
    import difflib

    match = difflib.get_close_matches(word.lower(), list(choices), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def span_of(tok: Token, end: Token | None = None) -> Span:
    last = end if end is not None else tok
    return make_span(
        tok.start_pos or 0,
        last.end_pos or 0,
        tok.line or 1,
        tok.column or 1,
        last.end_line or 1,
        last.end_column or 1,
    )


def cut(s: str, n: int = 10) -> str:
    """``s`` shortened to ``n`` characters, with the cut marked."""
    return s if len(s) <= n else s[:n] + "..."


def fmt_ms(ms: int) -> str:
    from ._render import duration

    return duration(ms)
