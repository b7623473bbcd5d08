"""Checking ``breaker=`` and ``pace=adaptive``: the resilience settings' values.

``breaker=`` is the one setting whose value has ``/``-parts::

    breaker=5                       5 failed attempts in a row
    breaker=50%                     50 % of the last 30 s's attempts failed (≥ 20 of them)
    breaker=50%/1m/open=10s/min=10/probes=2

The first part is a whole number or a percentage; each option is a duration (the window)
or ``open=``, ``min=``, ``probes=``, in any order, each at most once.  A window or
``min=`` after ``breaker=N`` is an error: they mean something only for a ratio.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._ast import MAX_DURATION_MS, MAX_LIMIT, Span
from ._breaker_setting import BREAKER_DEFAULTS, MAX_PROBES, MIN_WINDOW_MS, BreakerSetting
from ._raw import RawSetting, cut, did_you_mean, fmt_ms
from ._settings import PaceSetting
from ._values import ValueReader

if TYPE_CHECKING:
    from lark import Token

__all__ = ["BREAKER_OPTIONS", "PACE_CHOICES", "read_breaker", "read_pace", "refuse_options"]

BREAKER_OPTIONS = ("open", "min", "probes")
#: ``pace=`` values: on, off, adaptive.
PACE_CHOICES = {"on": (True, False), "off": (False, False), "adaptive": (True, True)}


def read_pace(self: ValueReader, tok: Token, span: Span) -> PaceSetting | None:
    """``pace=on`` / ``pace=off`` / ``pace=adaptive``."""
    found = self.choice(tok, PACE_CHOICES, "pace value")
    if found is None:
        return None
    on, adaptive = found
    return PaceSetting(on, span=span, adaptive=adaptive)


def refuse_options(self: ValueReader, raw: RawSetting, name: str) -> bool:
    """Record a problem for ``/``-parts after a setting other than ``breaker=``."""
    if not raw.options:
        return False
    key, value = raw.options[0]
    self.bad(
        key if key is not None else value,
        f"{name} takes one value, without '/' options (only breaker= has them)",
        syntax=True,
    )
    return True


def read_breaker(self: ValueReader, raw: RawSetting, span: Span) -> BreakerSetting | None:
    """``breaker=N`` or ``breaker=P%``, then its options."""
    if len(raw.values) > 1:
        self.bad(raw.values[1], "breaker takes one value, then '/' options", syntax=True)
        return None
    tok = raw.values[0]
    ok = True
    s = str(tok)
    ratio = tok.type == "PERCENT"
    threshold: int | None
    if ratio:
        body = s[:-1]
        if not body.isdigit():
            self.bad(tok, f"a breaker's percentage is a whole number such as 50% (got {cut(s)})")
            threshold = None
        else:
            threshold = int(body) if len(body) <= 4 else 10_000
            if not 1 <= threshold <= 100:
                self.bad(tok, f"a breaker's percentage must be between 1% and 100% (got {cut(s)})")
                threshold = None
    elif s.isdigit():
        threshold = self.integer(tok, "a breaker's failures in a row", 1, MAX_LIMIT)
    else:
        self.bad(
            tok,
            "breaker= takes a number of failed attempts in a row (breaker=5) or a percentage "
            f"(breaker=50%) (got {cut(s, 16)!r})",
            syntax=True,
        )
        threshold = None
    values: dict[str, Any] = dict(BREAKER_DEFAULTS)
    seen: dict[str, Token] = {}
    for key, value in raw.options:
        name = "window" if key is None else str(key).lower()
        where = key if key is not None else value
        if key is not None and name not in BREAKER_OPTIONS:
            known = ", ".join(f"{o}=" for o in BREAKER_OPTIONS)
            self.bad(
                key,
                f"unknown breaker option {str(key)!r}{did_you_mean(name, BREAKER_OPTIONS)}; "
                f"known: a window (a duration such as 1m), {known}",
                syntax=True,
            )
            ok = False
            continue
        if name in seen:
            self.bad(where, f"the breaker's {name} is given twice")
            ok = False
            continue
        seen[name] = where
        if not ratio and threshold is not None and name in ("window", "min"):
            what = "a window" if name == "window" else "min="
            self.bad(
                where,
                f"{what} means something only for a ratio such as breaker=50%; "
                f"breaker={threshold} opens after {threshold} failed attempts in a row",
                end=value,
            )
            ok = False
            continue
        got: int | None
        if name == "window":
            got = self.duration(value, "the breaker's window")
            if got is not None and got < MIN_WINDOW_MS:
                self.bad(value, f"the breaker's window must be at least 1s (got {fmt_ms(got)})")
                got = None
            values["window_ms"] = got
        elif name == "open":
            got = self.duration(value, "open")
            if got is not None and not 0 < got <= MAX_DURATION_MS:
                self.bad(value, "open must be more than 0s")
                got = None
            values["open_ms"] = got
        elif name == "min":
            got = values["min"] = self.integer(value, "min", 1, MAX_LIMIT)
        else:
            got = values["probes"] = self.integer(value, "probes", 1, MAX_PROBES)
        if got is None:
            ok = False
    if not ok or threshold is None:
        return None
    return BreakerSetting(threshold, ratio, span=span, **values)
