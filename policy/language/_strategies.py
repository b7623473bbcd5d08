"""Checking the arguments of a strategy (``backoff(...)``, ``headers(...)``, ``never``).

Positional arguments are read by their shape (``5``, ``1s..30s``, ``x1.8``, ``jitter``,
``x-ratelimit-*``), keywords by name; each argument at most once.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ._ast import (
    MAX_FACTOR,
    MAX_LIMIT,
    Backoff,
    Headers,
    Jitter,
    Never,
    Over,
    ResetFormat,
    Span,
    Strategy,
)
from ._build import build, default_of, make_backoff, make_span
from ._raw import RawArg, RawStrategy, did_you_mean, fmt_ms
from ._values import NUMBER, ValueReader

if TYPE_CHECKING:
    from lark import Token

__all__ = ["STRATEGY_NAMES", "StrategyReader"]

STRATEGY_NAMES = ("backoff", "headers", "never")
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

_HEADER = re.compile(r"[a-z][a-z0-9_-]*\Z")


class StrategyReader(ValueReader):
    """Reads strategies and their arguments; records problems instead of raising."""

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
                elif (n := NUMBER.match(s)) is not None and n.group(2):
                    d = self.duration(tok, "the delay")
                    if d is None:
                        continue
                    if self._once(seen, "min", tok) and self._once(seen, "max", tok):
                        kw["min_ms"] = kw["max_ms"] = d
                else:
                    self._unitless(tok, seen)
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
                f"min delay must be ≤ max delay (got {fmt_ms(lo)}..{fmt_ms(hi)})",
            )
            return None
        return make_backoff(span=span, **kw)

    def _unitless(self, tok: Token, seen: dict[str, Token]) -> None:
        """A decimal with no unit in backoff (``1.8``): a factor missing its x, or a
        delay missing its unit; suggest only what would be valid here."""
        s = str(tok)
        fixes, missing = [], []
        if "factor" not in seen and len(s) <= 30 and 1 <= float(s) <= MAX_FACTOR:
            fixes.append(f"x{s} for a factor")
            missing.append("x")
        if "min" not in seen and "max" not in seen and "." in s and len(s) <= 30:
            whole, _, frac = s.partition(".")
            if (int(whole + frac) * 1000) % 10 ** len(frac) == 0:
                fixes.append(f"{s}s for a delay")
                missing.insert(0, "unit")
        if not fixes:
            self.duration(tok, "the delay")
            return
        self.bad(tok, f"missing {' or '.join(missing)}: write " + ", or ".join(fixes), syntax=True)

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
                if s.lower() == "retry-after":
                    self.bad(
                        tok,
                        "Retry-After is always read: write headers() (a family such as "
                        "x-ratelimit-* names the rate-limit headers read besides it)",
                        syntax=True,
                    )
                    continue
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
