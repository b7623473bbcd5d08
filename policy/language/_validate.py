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

import re
from collections.abc import Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:
    from lark import Token

from ._ast import (
    IDEMPOTENT,
    MAX_DURATION_MS,
    MAX_FACTOR,
    MAX_LIMIT,
    TIMEOUT_MAX_MS,
    TIMEOUT_MIN_MS,
    AllErrors,
    Backoff,
    Headers,
    Jitter,
    Matcher,
    Never,
    OnConnect,
    OnError,
    OnReset,
    OnTimeout,
    Over,
    ResetFormat,
    Rule,
    Span,
    StatusClass,
    StatusCode,
    StatusRange,
    Strategy,
    _only_2xx,
)
from ._build import build, default_of, make_backoff, make_policy, make_span
from ._errors import PolicySyntaxError, PolicyValueError, Problem
from ._policy import Policy
from ._settings import (
    MAX_BUDGET_PERCENT,
    AttemptsSetting,
    BudgetSetting,
    DeadlineSetting,
    Item,
    MethodsSetting,
    PaceSetting,
    PresetRef,
    TimeoutSetting,
)

__all__ = [
    "STRATEGY_NAMES",
    "RawArg",
    "RawPreset",
    "RawRule",
    "RawSetting",
    "RawStrategy",
    "build_policy",
    "did_you_mean",
]

STRATEGY_NAMES = ("backoff", "headers", "never")
MATCHER_WORDS = ("all", "timeout", "connect", "reset", "error")
SETTING_NAMES = ("timeout", "deadline", "attempts", "methods", "pace", "budget")
PACE_VALUES = {"on": True, "off": False}
BACKOFF_KEYS = ("limit", "min", "max", "factor", "jitter")
HEADERS_KEYS = (
    "limit-header",
    "remaining-header",
    "reset-header",
    "format",
    "limit",
    "max",
    "over",
    "jitter",
)
JITTER_KINDS = {j.value: j for j in Jitter}
FORMATS: dict[str, ResetFormat] = {f.value: f for f in ResetFormat}
FORMATS.update(
    {
        "unix_timestamp": ResetFormat.EPOCH,
        "unix_timestamp_in_ms": ResetFormat.EPOCH_MS,
        "iso_8601": ResetFormat.ISO,
        "iso_8601_duration_openai_variant": ResetFormat.DURATION,
    }
)
OVERS = {o.value: o for o in Over}
UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}

_NUMBER = re.compile(r"([0-9]+(?:\.[0-9]+)?)([A-Za-z]*)\Z")
_HEADER = re.compile(r"[a-z][a-z0-9_-]*\Z")
_METHOD = re.compile(r"[A-Z]+\Z")
_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?\Z")

#: Factors read so far, by their text (a ``Fraction`` from a string costs microseconds).
_FACTORS: dict[str, Fraction] = {}


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


class RawPreset(NamedTuple):
    name: Token


def did_you_mean(word: str, choices: tuple[str, ...] | list[str]) -> str:
    """' (did you mean 'backoff'?)' for a close match, else ''."""
    import difflib

    match = difflib.get_close_matches(word.lower(), list(choices), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _span(tok: Token, end: Token | None = None) -> Span:
    last = end if end is not None else tok
    return make_span(
        tok.start_pos or 0,
        last.end_pos or 0,
        tok.line or 1,
        tok.column or 1,
        last.end_line or 1,
        last.end_column or 1,
    )


class _Builder:
    """Interprets raw nodes; records problems instead of raising."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.problems: list[Problem] = []

    # -- problems ----------------------------------------------------------------------

    def bad(
        self, tok: Token, message: str, *, syntax: bool = False, end: Token | None = None
    ) -> None:
        last = end if end is not None else tok
        col = tok.column or 1
        end_col = last.end_column or col + 1
        if (last.end_line or 1) != (tok.line or 1):
            end_col = col + len(str(tok))
        self.problems.append(
            Problem(message, tok.line or 1, col, max(col + 1, end_col), syntax, tok.start_pos or 0)
        )

    # -- values ------------------------------------------------------------------------

    def duration(self, tok: Token, what: str) -> int | None:
        m = _NUMBER.match(str(tok))
        if m is None:
            self.bad(
                tok,
                f"{what} must be a duration such as 1s or 250ms (got {str(tok)!r})",
                syntax=True,
            )
            return None
        number, unit = m.groups()
        if not unit:
            self.bad(
                tok,
                f"missing unit: {what} is a duration (write {number}s or {number}ms)",
                syntax=True,
            )
            return None
        scale = UNITS.get(unit.lower())
        if scale is None:
            self.bad(
                tok,
                f"unknown unit {unit!r} in {str(tok)!r}: use ms, s, m or h"
                + did_you_mean(unit, tuple(UNITS)),
                syntax=True,
            )
            return None
        if len(number) > 30:
            self.bad(tok, f"{what} must be at most 168h (got {str(tok)[:20]}...)")
            return None
        whole, _, frac = number.partition(".")
        ms: int
        if frac:
            # Exact: whole.frac * scale is a whole number of ms iff 10**len(frac) divides it.
            ms, rest = divmod(int(whole + frac) * scale, 10 ** len(frac))
            if rest:
                self.bad(tok, f"{what} must be a whole number of milliseconds (got {tok})")
                return None
        else:
            ms = int(whole) * scale
        if ms > MAX_DURATION_MS:
            self.bad(tok, f"{what} must be at most 168h (got {tok})")
            return None
        return ms

    def integer(self, tok: Token, what: str, lo: int, hi: int) -> int | None:
        s = str(tok)
        if not s.isdigit():
            self.bad(tok, f"{what} must be a whole number (got {s!r})", syntax=True)
            return None
        if len(s) > 12 or not lo <= int(s) <= hi:
            shown = s if len(s) <= 12 else s[:12] + "..."
            self.bad(tok, f"{what} must be between {lo} and {hi:,} (got {shown})")
            return None
        return int(s)

    def factor(self, tok: Token) -> Fraction | None:
        s = str(tok)
        body = s[1:] if s[:1] in "xX" else s
        value = _FACTORS.get(body)
        if value is not None:
            return value
        if not _DECIMAL.match(body):
            self.bad(tok, f"factor must be a number such as x1.8 (got {s!r})", syntax=True)
            return None
        if len(body) > 30:
            self.bad(tok, f"factor must be between 1 and {MAX_FACTOR} (got {s[:20]}...)")
            return None
        whole, _, frac = body.partition(".")
        num: int = int(whole + frac)
        den: int = 10 ** len(frac)
        if not den <= num <= MAX_FACTOR * den:
            self.bad(tok, f"factor must be between 1 and {MAX_FACTOR} (got {s})")
            return None
        value = Fraction(num, den)
        if len(_FACTORS) >= 256:
            _FACTORS.clear()
        _FACTORS[body] = value
        return value

    def percent(self, tok: Token) -> Fraction | None:
        """``20%`` -> ``Fraction(20)``: 0% to 1000%, at most three decimals."""
        s = str(tok)
        if tok.type != "PERCENT":
            number = _NUMBER.match(s)
            example = f"{number.group(1)}%" if number is not None else "20%"
            self.bad(
                tok, f"budget is a percentage: write {_cut(example, 16)} (got {s!r})", syntax=True
            )
            return None
        body = s[:-1]
        whole, _, frac = body.partition(".")
        if len(whole) > 12 or len(frac) > 3:
            self.bad(
                tok,
                f"budget must be between 0% and {MAX_BUDGET_PERCENT}% with at most three "
                f"decimals (got {_cut(s, 16)})",
            )
            return None
        value = Fraction(int(whole + frac), 10 ** len(frac))
        if value > MAX_BUDGET_PERCENT:
            self.bad(tok, f"budget must be between 0% and {MAX_BUDGET_PERCENT}% (got {s})")
            return None
        return value

    def choice(self, tok: Token, table: dict[str, Any], what: str) -> Any:
        value = table.get(str(tok).lower())
        if value is None:
            known = ", ".join(k for k in table if "_" not in k)
            self.bad(
                tok,
                f"unknown {what} {str(tok)!r}{did_you_mean(str(tok), list(table))}; known: {known}",
                syntax=True,
            )
        return value

    # -- matchers ----------------------------------------------------------------------

    def matcher(self, kind: str, tok: Token) -> Matcher | None:
        s = str(tok)
        span = _span(tok)
        if kind == "code":
            if not s.isdigit():
                self.bad(tok, f"{s!r} is not a status: expected 429, 500-599 or 5xx", syntax=True)
                return None
            code = int(s) if len(s) <= 4 else 10_000
            if not 100 <= code <= 599:
                self.bad(tok, f"status must be between 100 and 599 (got {_cut(s)})")
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
                        tok, f"status must be between 100 and 599 (got {_cut(vs)} in {_cut(s, 24)})"
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

    def strategy(self, raw: RawStrategy) -> Strategy | None:
        name = str(raw.name).lower()
        span = make_span(
            raw.name.start_pos or 0,
            raw.end_pos,
            raw.name.line or 1,
            raw.name.column or 1,
            raw.end_line,
            raw.end_column,
        )
        if name == "never":
            if raw.args is not None:
                self.bad(raw.name, "never takes no arguments (write never)", syntax=True)
                return None
            return build(Never, span=span)
        if name == "backoff":
            return self.backoff(raw.args or [], span)
        if name == "headers":
            return self.headers(raw.args or [], span)
        s = str(raw.name)
        hint = did_you_mean(s, STRATEGY_NAMES)
        self.bad(
            raw.name,
            f"unknown strategy {s!r}{hint}: expected backoff(...), headers(...) or never",
            syntax=True,
        )
        return None

    def _keyword(
        self, arg: RawArg, strategy: str, keys: tuple[str, ...], seen: dict[str, Token]
    ) -> str | None:
        """The lower-case name of a ``name=value`` argument, if known and not repeated."""
        assert arg.key is not None
        key = str(arg.key).lower()
        if key not in keys:
            self.bad(
                arg.key,
                f"{strategy} has no argument {str(arg.key)!r}"
                f"{did_you_mean(key, keys)}; known: {', '.join(keys)}",
                syntax=True,
            )
            return None
        return key if self._once(seen, key, arg.key) else None

    def _once(self, seen: dict[str, Token], key: str, tok: Token) -> bool:
        if key in seen:
            self.bad(tok, f"{key} given twice in one strategy")
            return False
        seen[key] = tok
        return True

    def backoff(self, args: list[RawArg], span: Span) -> Backoff | None:
        before = len(self.problems)
        seen: dict[str, Token] = {}
        kw: dict[str, Any] = {}
        for arg in args:
            if arg.kind == "bounds":
                assert arg.value2 is not None
                lo = self.duration(arg.value, "the minimum delay")
                hi = self.duration(arg.value2, "the maximum delay")
                if self._once(seen, "min", arg.value) and self._once(seen, "max", arg.value2):
                    kw["min_ms"], kw["max_ms"] = lo, hi
                    seen["bounds"] = arg.value
                continue
            if arg.kind == "kw":
                key = self._keyword(arg, "backoff", BACKOFF_KEYS, seen)
                if key is None:
                    continue
                if key == "limit":
                    kw["limit"] = self.integer(arg.value, "limit", 0, MAX_LIMIT)
                elif key in ("min", "max"):
                    what = "the minimum delay" if key == "min" else "the maximum delay"
                    kw[f"{key}_ms"] = self.duration(arg.value, what)
                elif key == "factor":
                    kw["factor"] = self.factor(arg.value)
                else:
                    kw["jitter"] = self.choice(arg.value, JITTER_KINDS, "jitter kind")
                continue
            tok = arg.value
            s = str(tok)
            if tok.type == "FACTOR":
                if self._once(seen, "factor", tok):
                    kw["factor"] = self.factor(tok)
            elif tok.type == "NUMBER":
                if s.isdigit():
                    if self._once(seen, "limit", tok):
                        kw["limit"] = self.integer(tok, "limit", 0, MAX_LIMIT)
                elif (n := _NUMBER.match(s)) is not None and n.group(2):
                    d = self.duration(tok, "the delay")
                    if self._once(seen, "min", tok) and self._once(seen, "max", tok):
                        kw["min_ms"] = kw["max_ms"] = d
                else:
                    self.duration(tok, "the delay")
            else:
                word = s.lower()
                if word in ("jitter", "nojitter"):
                    if self._once(seen, "jitter", tok):
                        kw["jitter"] = Jitter.FULL if word == "jitter" else Jitter.NONE
                else:
                    self.bad(
                        tok,
                        f"backoff has no argument {s!r}"
                        f"{did_you_mean(word, ['jitter', 'nojitter'])}: expected a limit (5), "
                        "delays (1s..30s or 2s), a factor (x1.8) or jitter",
                        syntax=True,
                    )
        if len(self.problems) > before:
            # (a value in kw is None only where a problem was recorded)
            return None
        lo = kw.get("min_ms", default_of(Backoff, "min_ms"))
        hi = kw.get("max_ms", default_of(Backoff, "max_ms"))
        if lo > hi:
            where = seen.get("bounds") or seen.get("min") or seen.get("max")
            assert where is not None
            self.bad(
                where,
                f"min delay must be ≤ max delay (got {_fmt_ms(lo)}..{_fmt_ms(hi)})",
            )
            return None
        return make_backoff(span=span, **kw)

    def header_name(self, tok: Token, what: str) -> str | None:
        s = str(tok).lower()
        if "*" in s or not _HEADER.match(s):
            self.bad(
                tok, f"{what} must be a header name such as x-ratelimit-reset (got {str(tok)!r})"
            )
            return None
        return s

    def headers(self, args: list[RawArg], span: Span) -> Headers | None:
        before = len(self.problems)
        seen: dict[str, Token] = {}
        kw: dict[str, Any] = {}
        for arg in args:
            if arg.kind == "bounds":
                self.bad(
                    arg.value,
                    "headers takes no delay range: the server says how long to wait "
                    "(use max= for the longest wait accepted)",
                    end=arg.value2,
                )
                continue
            if arg.kind == "kw":
                key = self._keyword(arg, "headers", HEADERS_KEYS, seen)
                if key is None:
                    continue
                if key.endswith("-header"):
                    field = key.replace("-", "_")
                    if "family" in seen:
                        self.bad(seen[key], f"{key} given twice (the family already names it)")
                    kw[field] = self.header_name(arg.value, key)
                elif key == "format":
                    kw["format"] = self.choice(arg.value, FORMATS, "reset format")
                elif key == "limit":
                    kw["limit"] = self.integer(arg.value, "limit", 0, MAX_LIMIT)
                elif key == "max":
                    kw["max_ms"] = self.duration(arg.value, "max")
                elif key == "over":
                    kw["over"] = self.choice(arg.value, OVERS, "over= action")
                else:
                    kw["jitter_ms"] = self.duration(arg.value, "jitter")
                continue
            tok = arg.value
            s = str(tok)
            if tok.type == "NUMBER" and s.isdigit():
                if self._once(seen, "limit", tok):
                    kw["limit"] = self.integer(tok, "limit", 0, MAX_LIMIT)
            elif tok.type == "WORD" and s.lower() == "jitter":
                if self._once(seen, "jitter", tok):
                    kw["jitter_ms"] = 1000
            elif tok.type == "WORD" and "*" in s:
                family = s.lower()
                if family.count("*") != 1 or not _HEADER.match(family.replace("*", "x")):
                    self.bad(
                        tok,
                        "a header family has one '*' where limit, remaining and reset go "
                        f"(e.g. x-ratelimit-*; got {s!r})",
                    )
                    continue
                if "family" in seen:
                    self.bad(tok, "the header family given twice in one strategy")
                    continue
                for k in ("limit-header", "remaining-header", "reset-header"):
                    if k in seen:
                        self.bad(tok, f"{k} given twice (the family also names it)")
                seen["family"] = tok
                kw["limit_header"] = family.replace("*", "limit")
                kw["remaining_header"] = family.replace("*", "remaining")
                kw["reset_header"] = family.replace("*", "reset")
            else:
                hint = did_you_mean(s, ("jitter",)) if tok.type == "WORD" else ""
                if not hint and tok.type == "WORD" and _HEADER.match(s.lower()):
                    # a header name where a family goes: x-ratelimit -> x-ratelimit-*
                    hint = f" (did you mean {s.lower().rstrip('-_') + '-*'!r}?)"
                self.bad(
                    tok,
                    f"headers has no argument {s!r}: expected a header family (x-ratelimit-*), "
                    f"a limit (5), jitter, or name=value{hint}",
                    syntax=True,
                )
        if len(self.problems) > before:
            # (a value in kw is None only where a problem was recorded)
            return None
        return build(Headers, span=span, **kw)

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
            elif not _METHOD.match(m):
                self.bad(v, f"{str(v)!r} is not an HTTP method", syntax=True)
            elif m in out:
                self.bad(v, f"method {m} is named twice")
            else:
                out.append(m)
        return tuple(out)

    def setting(self, raw: RawSetting, seen: dict[str, Token]) -> Item | None:
        name = str(raw.name).lower()
        if name not in SETTING_NAMES:
            self.bad(
                raw.name,
                f"unknown setting {str(raw.name)!r}{did_you_mean(name, SETTING_NAMES)}; "
                f"known: {', '.join(SETTING_NAMES)}",
                syntax=True,
            )
            return None
        if name in seen:
            self.bad(raw.name, f"setting {name} given twice (first at column {seen[name].column})")
            return None
        seen[name] = raw.name
        span = _span(raw.name, raw.values[-1])
        if name != "methods" and len(raw.values) > 1:
            self.bad(raw.values[1], f"{name} takes one value", syntax=True)
            return None
        tok = raw.values[0]
        if name == "timeout":
            ms = self.duration(tok, "timeout")
            if ms is None:
                return None
            if not TIMEOUT_MIN_MS <= ms <= TIMEOUT_MAX_MS:
                self.bad(tok, f"timeout must be between 1s and 2m (got {_fmt_ms(ms)})")
                return None
            return TimeoutSetting(ms, span=span)
        if name == "deadline":
            ms = self.duration(tok, "deadline")
            if ms is None:
                return None
            if ms == 0:
                self.bad(tok, "deadline must be more than 0s")
                return None
            return DeadlineSetting(ms, span=span)
        if name == "attempts":
            n = self.integer(tok, "attempts", 1, MAX_LIMIT)
            return None if n is None else AttemptsSetting(n, span=span)
        if name == "pace":
            on = self.choice(tok, PACE_VALUES, "pace value")
            return None if on is None else PaceSetting(on, span=span)
        if name == "budget":
            pct = self.percent(tok)
            return None if pct is None else BudgetSetting(pct, span=span)
        # methods
        if len(raw.values) == 1 and str(tok) == "*":
            return MethodsSetting(None, span=span)
        methods: list[str] = []
        ok = True
        for v in raw.values:
            m = str(v).upper()
            if m == "*":
                self.bad(v, "methods=* stands alone (every method)")
                ok = False
            elif not _METHOD.match(m):
                self.bad(v, f"{str(v)!r} is not an HTTP method", syntax=True)
                ok = False
            elif m in methods:
                self.bad(v, f"method {m} is named twice")
                ok = False
            else:
                methods.append(m)
        return MethodsSetting(tuple(methods), span=span) if ok else None

    def preset(self, raw: RawPreset, presets: PresetLookup) -> PresetRef | None:
        name = str(raw.name).lower()
        rules = presets.rules(name)
        if rules is None:
            names = presets.names()
            known = ", ".join(f"@{k}" for k in sorted(names)) or "none are defined"
            hint = did_you_mean(name, list(names))
            self.bad(raw.name, f"unknown preset @{raw.name}{hint}; known presets: {known}")
            return None
        return PresetRef(name, rules, span=_span(raw.name))


class PresetLookup(Protocol):
    """The presets ``@name`` may name, handed in by the parser (which expands their text)."""

    def names(self) -> Sequence[str]: ...

    def rules(self, name: str) -> tuple[Rule, ...] | None: ...


def build_policy(text: str, raw_items: list[Any], presets: PresetLookup) -> Policy:
    """Interpret the raw items; raise with every problem, or return the ``Policy``."""
    b = _Builder(text)
    items: list[Item] = []
    seen_settings: dict[str, Token] = {}
    for raw in raw_items:
        item: Item | None
        if isinstance(raw, RawRule):
            item = b.rule(raw)
        elif isinstance(raw, RawSetting):
            item = b.setting(raw, seen_settings)
        else:
            item = b.preset(raw, presets)
        if item is not None:
            items.append(item)
    if b.problems:
        problems = sorted(b.problems, key=lambda p: p.offset)
        if any(p.syntax for p in problems):
            raise PolicySyntaxError(text, problems)
        raise PolicyValueError(text, problems)
    return make_policy(tuple(items))


def _cut(s: str, n: int = 10) -> str:
    """``s`` shortened to ``n`` characters, with the cut marked."""
    return s if len(s) <= n else s[:n] + "..."


def _fmt_ms(ms: int) -> str:
    from ._render import duration

    return duration(ms)
