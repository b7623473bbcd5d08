"""From text to ``Policy``: the Lark parser, the raw transformer, and error translation.

The grammar (``grammar/policy.lark``) is loaded once, lazily, and parsed with Lark's LALR
parser and contextual lexer; the transformer runs inline (no parse tree is built) and
produces *raw* nodes: tokens with their positions, nothing interpreted.  The validation
pass (``_validate``) then interprets every word and number, collects every problem, and
only then builds the frozen AST.  Lark exceptions are translated here, at one boundary,
into ``PolicySyntaxError`` (the words and the caret are worked out in ``_syntax``).

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
from ._raw import RawArg, RawPreset, RawRule, RawSetting, RawStrategy
from ._settings import SETTING_TYPES, Setting
from ._syntax import syntax_problem
from ._validate import build_policy

if TYPE_CHECKING:
    from lark import Lark

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

        def setting(self, children: list[Any]) -> RawSetting:
            values = [c for c in children[1:] if type(c) is not tuple]
            options = [c for c in children[1:] if type(c) is tuple]
            return (
                RawSetting(children[0], values, options)
                if options
                else RawSetting(children[0], values)
            )

        def setting_option(self, children: list[Token]) -> tuple[Token | None, Token]:
            return (children[0], children[1]) if len(children) == 2 else (None, children[0])

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

    def settings(self, name: str) -> tuple[Setting, ...]:
        from ._presets import PRESETS

        preset = PRESETS.get(name)
        return () if preset is None else preset_settings(preset)


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


def preset_settings(preset: Preset) -> tuple[Setting, ...]:
    """The settings ``preset`` carries, parsed from its ``settings`` text (cached)."""
    if not preset.settings:
        return ()
    parsed = parse(preset.settings)
    if parsed.rules:
        raise ValueError(f"preset @{preset.name}'s settings may hold settings only")
    return tuple(i for i in parsed.items if isinstance(i, SETTING_TYPES))


def _lark_raw(text: str) -> list[Any]:
    """The raw items by Lark: for text the fast path does not take, and every error."""
    from lark.exceptions import UnexpectedInput

    try:
        return parser().parse(text)  # type: ignore[return-value]
    except UnexpectedInput as exc:
        raise PolicySyntaxError(text, [syntax_problem(text, exc)]) from None
