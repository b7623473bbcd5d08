"""Checking a setting (``timeout=10s``, ``attempts=3``, ``pace=on``, ``budget=20%`` ...)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ._ast import MAX_LIMIT, TIMEOUT_MAX_MS, TIMEOUT_MIN_MS, Span
from ._breaker_check import read_breaker, read_pace, refuse_options
from ._raw import RawSetting, did_you_mean, fmt_ms, span_of
from ._settings import (
    AttemptsSetting,
    BudgetSetting,
    DeadlineSetting,
    Item,
    MethodsSetting,
    SseSetting,
    TimeoutSetting,
)
from ._values import ValueReader

if TYPE_CHECKING:
    from lark import Token

__all__ = ["METHOD", "SETTING_NAMES", "read_setting"]

SETTING_NAMES = (
    "timeout",
    "deadline",
    "attempts",
    "methods",
    "pace",
    "budget",
    "sse",
    "breaker",
)
PACE_VALUES = {"on": True, "off": False}
METHOD = re.compile(r"[A-Z]+\Z")


def read_sse(self: ValueReader, tok: Token, span: Span) -> SseSetting | None:
    """``sse=on`` / ``sse=off``."""
    on = self.choice(tok, PACE_VALUES, "sse value")
    return None if on is None else SseSetting(on, span=span)


def read_setting(self: ValueReader, raw: RawSetting, seen: dict[str, Token]) -> Item | None:
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
    end = raw.options[-1][1] if raw.options else raw.values[-1]
    span = span_of(raw.name, end)
    if name == "breaker":
        return read_breaker(self, raw, span)
    if refuse_options(self, raw, name):
        return None
    if name != "methods" and len(raw.values) > 1:
        self.bad(raw.values[1], f"{name} takes one value", syntax=True)
        return None
    tok = raw.values[0]
    if name == "timeout":
        ms = self.duration(tok, "timeout", TIMEOUT_MIN_MS, TIMEOUT_MAX_MS)
        if ms is None:
            return None
        if not TIMEOUT_MIN_MS <= ms <= TIMEOUT_MAX_MS:
            self.bad(tok, f"timeout must be between 1s and 2m (got {fmt_ms(ms)})")
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
        return read_pace(self, tok, span)
    if name == "sse":
        return read_sse(self, tok, span)
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
        elif not METHOD.match(m):
            self.bad(v, f"{str(v)!r} is not an HTTP method", syntax=True)
            ok = False
        elif m in methods:
            self.bad(v, f"method {m} is named twice")
            ok = False
        else:
            methods.append(m)
    return MethodsSetting(tuple(methods), span=span) if ok else None
