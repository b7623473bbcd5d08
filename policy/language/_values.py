"""Reading one value of a policy (durations, whole numbers, factors, percentages, a
keyword from a table), recording a positioned problem instead of raising.

Durations are converted to integer milliseconds with exact integer arithmetic and their
bounds checked (SPEC §1.1).  ``ValueReader`` is the base of the validation pass.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from ._ast import MAX_DURATION_MS, MAX_FACTOR
from ._errors import Problem
from ._raw import cut, did_you_mean
from ._settings import MAX_BUDGET_PERCENT

if TYPE_CHECKING:
    from lark import Token

__all__ = ["NUMBER", "UNITS", "UNIT_WORDS", "ValueReader", "unit_hint"]

UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}

#: Units as people spell them in words, and the unit a policy writes instead.
UNIT_WORDS = {
    **{w: "ms" for w in ("msec", "msecs", "millis", "millisecond", "milliseconds")},
    **{w: "s" for w in ("sec", "secs", "second", "seconds")},
    **{w: "m" for w in ("min", "mins", "minute", "minutes")},
    **{w: "h" for w in ("hr", "hrs", "hour", "hours")},
}


def _ms_of(number: str, unit: str) -> int | None:
    """``number`` (digits, maybe a '.') in ``unit`` as whole milliseconds, else None."""
    whole, _, frac = number.partition(".")
    ms, rest = divmod(int(whole + frac) * UNITS[unit], 10 ** len(frac))
    return None if rest else ms


def unit_hint(number: str, lo_ms: int = 1, hi_ms: int = MAX_DURATION_MS) -> str:
    """'write 10s' / 'write 10s or 10ms': only the spellings that are valid here."""
    if len(number) > 30:
        return "e.g. 1s"
    fits = [
        f"{number}{unit}"
        for unit in ("s", "ms")
        if (ms := _ms_of(number, unit)) is not None and lo_ms <= ms <= hi_ms
    ]
    return "write " + " or ".join(fits) if fits else f"e.g. {fmt_bound(lo_ms)}"


def fmt_bound(ms: int) -> str:
    return f"{ms // 1000}s" if ms >= 1000 and ms % 1000 == 0 else f"{max(ms, 1)}ms"


NUMBER = re.compile(r"([0-9]+(?:\.[0-9]+)?)([A-Za-z]*)\Z")
_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?\Z")

#: Factors read so far, by their text (a ``Fraction`` from a string costs microseconds).
_FACTORS: dict[str, Fraction] = {}


class ValueReader:
    """Reads values; records problems instead of raising."""

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

    def duration(
        self, tok: Token, what: str, lo_ms: int = 1, hi_ms: int = MAX_DURATION_MS
    ) -> int | None:
        """``tok`` in whole milliseconds; ``lo_ms``/``hi_ms`` only steer the hint for a
        missing unit (the caller checks its own bounds)."""
        m = NUMBER.match(str(tok))
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
                f"missing unit: {what} is a duration ({unit_hint(number, lo_ms, hi_ms)})",
                syntax=True,
            )
            return None
        scale = UNITS.get(unit.lower())
        if scale is None and unit.lower() in UNIT_WORDS:
            self.bad(
                tok,
                f"unknown unit {unit!r} in {str(tok)!r}: write "
                f"{number}{UNIT_WORDS[unit.lower()]} (units are ms, s, m or h)",
                syntax=True,
            )
            return None
        if scale is None and unit.lower() == "x":
            self.bad(
                tok,
                f"a factor is written with the x first: x{number} (got {str(tok)!r})",
                syntax=True,
            )
            return None
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
            number = NUMBER.match(s)
            example = f"{number.group(1)}%" if number is not None else "20%"
            self.bad(
                tok, f"budget is a percentage: write {cut(example, 16)} (got {s!r})", syntax=True
            )
            return None
        body = s[:-1]
        whole, _, frac = body.partition(".")
        if len(whole) > 12 or len(frac) > 3:
            self.bad(
                tok,
                f"budget must be between 0% and {MAX_BUDGET_PERCENT}% with at most three "
                f"decimals (got {cut(s, 16)})",
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
