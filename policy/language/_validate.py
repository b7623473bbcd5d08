"""The validation pass: raw nodes in, a frozen AST out, every problem collected.

The transformer (``_parse``) only groups tokens.  Here each word and number is
interpreted: keywords are looked up case-insensitively (with a "did you mean" for a
misspelling), durations are converted to integer milliseconds with exact integer
arithmetic, bounds are checked (SPEC §1.1), duplicates are found.  Problems are collected
rather than raised one by one, so a user fixing a policy sees all of them at once; only
when there are none is the AST built.  Problems of the text itself (unknown words, a
missing unit) make a ``PolicySyntaxError``; well-formed but invalid values make a
``PolicyValueError``.

Every value is checked here, so the nodes are built through the AST's private fast
constructors (``_ast._make_*``), which do not run the attrs validators a second time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from lark import Token

from ._ast import (
    IDEMPOTENT,
    AllErrors,
    Matcher,
    OnConnect,
    OnError,
    OnReset,
    OnTimeout,
    Rule,
    StatusClass,
    StatusCode,
    StatusRange,
    _only_2xx,
)
from ._build import build, make_policy, make_span
from ._errors import PolicySyntaxError, PolicyValueError
from ._inherit import conflicts
from ._policy import Policy
from ._raw import RawPreset, RawRule, RawSetting, cut, did_you_mean, span_of
from ._setting_check import METHOD, read_setting
from ._settings import Item, PresetRef, Setting
from ._strategies import StrategyReader

__all__ = ["build_policy"]

MATCHER_WORDS = ("all", "timeout", "connect", "reset", "error")


class _Builder(StrategyReader):
    """Interprets raw nodes; records problems instead of raising."""

    def matcher(self, kind: str, tok: Token) -> Matcher | None:
        s = str(tok)
        span = span_of(tok)
        if kind == "code":
            if not s.isdigit():
                self.bad(tok, f"{s!r} is not a status: expected 429, 500-599 or 5xx", syntax=True)
                return None
            code = int(s) if len(s) <= 4 else 10_000
            if not 100 <= code <= 599:
                self.bad(tok, f"status must be between 100 and 599 (got {cut(s)})")
                return None
            return build(StatusCode, code=code, span=span)
        if kind == "range":
            lo_s, hi_s = s.split("-")
            lo = int(lo_s) if len(lo_s) <= 4 else 10_000
            hi = int(hi_s) if len(hi_s) <= 4 else 10_000
            ok = True
            for v, vs in ((lo, lo_s), (hi, hi_s)):
                if not 100 <= v <= 599:
                    self.bad(
                        tok, f"status must be between 100 and 599 (got {cut(vs)} in {cut(s, 24)})"
                    )
                    ok = False
            if ok and lo > hi:
                self.bad(tok, f"range low must be ≤ high (got {s})")
                ok = False
            return build(StatusRange, low=lo, high=hi, span=span) if ok else None
        if kind == "class":
            digit = int(s[0])
            if not 1 <= digit <= 5:
                self.bad(tok, f"status class must be 1xx to 5xx (got {s})")
                return None
            return build(StatusClass, digit=digit, span=span)
        word = s.lower()
        if word == "all":
            return build(AllErrors, span=span)
        if word == "timeout":
            return build(OnTimeout, span=span)
        if word == "connect":
            return build(OnConnect, span=span)
        if word == "reset":
            return build(OnReset, span=span)
        if word == "error":
            return build(OnError, span=span)
        self.bad(
            tok,
            f"unknown selector {s!r}{did_you_mean(s, MATCHER_WORDS)}: expected a status "
            "(429, 500-599, 5xx) or all, timeout, connect, reset, error",
            syntax=True,
        )
        return None

    # -- strategies --------------------------------------------------------------------
    # -- items -------------------------------------------------------------------------

    def rule(self, raw: RawRule) -> Rule | None:
        before = len(self.problems)
        matchers: list[Matcher] = []
        for kind, tok in raw.matchers:
            m = self.matcher(kind, tok)
            if m is None:
                continue
            if matchers and m in matchers:
                self.bad(tok, f"{tok} is named twice in one selector")
                continue
            matchers.append(m)
        first_tok = raw.matchers[0][1]
        last_tok = raw.matchers[-1][1]
        if (
            matchers
            and _only_2xx(matchers[0])
            and len(matchers) == len(raw.matchers)
            and all(_only_2xx(m) for m in matchers)
        ):
            self.bad(
                first_tok,
                "this selector only matches 2xx responses, which are never retried",
                end=last_tok,
            )
        methods = self.methods(raw.methods) if raw.methods is not None else None
        strategies = [self.strategy(s) for s in raw.strategies]
        if len(self.problems) > before:
            return None
        last = raw.strategies[-1]
        span = make_span(
            first_tok.start_pos or 0,
            last.end_pos,
            first_tok.line or 1,
            first_tok.column or 1,
            last.end_line,
            last.end_column,
        )
        # No problem was recorded, so no strategy is None.
        return build(
            Rule,
            matchers=tuple(matchers),
            strategies=tuple(strategies),
            methods=methods,
            span=span,
        )

    def methods(self, toks: list[Token]) -> tuple[str, ...] | None:
        """``[GET,PUT]`` or ``[idempotent]`` after a selector."""
        if len(toks) == 1 and str(toks[0]).lower() == "idempotent":
            return IDEMPOTENT
        out: list[str] = []
        for v in toks:
            m = str(v).upper()
            if m == "IDEMPOTENT":
                self.bad(v, "[idempotent] stands alone (it names GET, HEAD, PUT, DELETE, ...)")
            elif not METHOD.match(m):
                self.bad(v, f"{str(v)!r} is not an HTTP method", syntax=True)
            elif m in out:
                self.bad(v, f"method {m} is named twice")
            else:
                out.append(m)
        return tuple(out)

    def setting(self, raw: RawSetting, seen: dict[str, Token]) -> Item | None:
        return read_setting(self, raw, seen)

    def preset(self, raw: RawPreset, presets: PresetLookup) -> PresetRef | None:
        name = str(raw.name).lower()
        rules = presets.rules(name)
        if rules is None:
            names = presets.names()
            known = ", ".join(f"@{k}" for k in sorted(names)) or "none are defined"
            hint = did_you_mean(name, list(names))
            self.bad(raw.name, f"unknown preset @{raw.name}{hint}; known presets: {known}")
            return None
        return PresetRef(name, rules, span=span_of(raw.name), settings=presets.settings(name))


class PresetLookup(Protocol):
    """The presets ``@name`` may name, handed in by the parser (which expands their text)."""

    def names(self) -> Sequence[str]: ...

    def rules(self, name: str) -> tuple[Rule, ...] | None: ...

    def settings(self, name: str) -> tuple[Setting, ...]: ...


def build_policy(text: str, raw_items: list[Any], presets: PresetLookup) -> Policy:
    """Interpret the raw items; raise with every problem, or return the ``Policy``."""
    b = _Builder(text)
    items: list[Item] = []
    seen_settings: dict[str, Token] = {}
    preset_tokens: dict[int, Token] = {}
    for raw in raw_items:
        item: Item | None
        if isinstance(raw, RawRule):
            item = b.rule(raw)
        elif isinstance(raw, RawSetting):
            item = b.setting(raw, seen_settings)
        else:
            item = b.preset(raw, presets)
            if item is not None and item.settings:
                preset_tokens[id(item)] = raw.name
        if item is not None:
            items.append(item)
    if len(preset_tokens) > 1:
        for c in conflicts(tuple(items)):
            b.bad(preset_tokens[id(c.second)], c.message())
    if b.problems:
        problems = sorted(b.problems, key=lambda p: p.offset)
        if any(p.syntax for p in problems):
            raise PolicySyntaxError(text, problems)
        raise PolicyValueError(text, problems)
    return make_policy(tuple(items))
