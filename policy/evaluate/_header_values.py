"""Parsers for the values of rate-limit and retry headers (SPEC §2.4).

Servers say how long to wait in a dozen dialects: RFC 9110 ``Retry-After`` (seconds or an
HTTP-date, in three historical spellings), epoch seconds (GitHub, X), fractional epochs
(Discord), relative seconds under the very same header name (Reddit), milliseconds
(Azure), Go-style durations (OpenAI's ``6m0s``), RFC 3339 timestamps (Anthropic) and the
IETF ``RateLimit`` structured field.  Every function here turns one header *value* into
a number of seconds, or ``None``.

Why malformed means absent: a header is advice from a server we do not control, and a
retry layer that raises on a strange value turns a recoverable 429 into a crash in the
caller.  So nothing here raises, whatever string it is given, and nothing returns NaN,
infinity or a negative number: a value we cannot read with confidence is treated as if
the server had not sent it, and the policy falls back to its other rules (a chain falls
through to e.g. ``backoff``).

Why enormous is not malformed: ``Retry-After: 99999999999999999999999``, a date in year
9999 or an epoch reset centuries away are well-formed values that say "stay away".  Read
as absent, they would turn into a quick fallback retry -- the opposite of what the server
asked.  So every well-formed value gives its wait, however long (always a finite float:
a value has at most ``MAX_VALUE_LEN`` characters), and the policy's ``max``/``over``
decide what a wait that long means (give up, by default).  Only non-numbers (``nan``,
``inf``, ``1e309``, signs, garbage) count as absent.

The parsers are strict about shape and tolerant about the usual harmless variations
(surrounding spaces and tabs, letter case of month names, a decimal point in seconds).
They are deliberately not built on ``float()`` alone (which accepts ``"nan"``,
``"infinity"``, ``"1_000"``, ``"1e309"`` and non-ASCII digits), nor on
``email.utils``/``time.strptime`` (locale-dependent month names, two-digit-year rules of
their own, costly for a per-decision call).  There is no clock and no I/O: every absolute
time is measured against a ``reference`` (epoch seconds) passed in by the caller.  Values
longer than ``MAX_VALUE_LEN`` characters are rejected before any parsing, so the work per
call is bounded whatever the input; every regular expression is linear (no nested
quantifiers over overlapping alternatives).  Dates, durations and ``RateLimit`` fields are
memoised in small LRU caches keyed by the text (a server repeats its values, and the
evaluator reads them on every decision); the functions stay pure.
"""

from __future__ import annotations

import functools
import math
import re

__all__ = [
    "MAX_FIELD_LEN",
    "MAX_VALUE_LEN",
    "OWS",
    "Pattern",
    "bounded",
    "parse_delay_seconds",
    "parse_duration",
    "parse_number",
]

MAX_VALUE_LEN = 256
"""Longer header values are malformed (checked before any parsing)."""


class Pattern:
    """A regular expression compiled on its first use.

    Most processes that import the evaluator never read a date or a ``RateLimit`` field
    (a cold ``policy check`` only lints), so the patterns below are not compiled at import.
    """

    __slots__ = ("_compiled", "_flags", "_source")

    def __init__(self, source: str, flags: int = 0) -> None:
        self._source = source
        self._flags = flags
        self._compiled: re.Pattern[str] | None = None

    def _pattern(self) -> re.Pattern[str]:
        compiled = self._compiled
        if compiled is None:
            compiled = self._compiled = re.compile(self._source, self._flags)
        return compiled

    def match(self, text: str, pos: int = 0) -> re.Match[str] | None:
        return self._pattern().match(text, pos)

    def fullmatch(self, text: str) -> re.Match[str] | None:
        return self._pattern().fullmatch(text)


MAX_FIELD_LEN = 4096
"""The ``RateLimit`` field may list several policies, so it gets a larger budget."""

OWS = " \t"

# --------------------------------------------------------------------------- numbers


def _plain_decimal(s: str) -> bool:
    """Whether ``s`` is ``DIGITS`` or ``DIGITS.DIGITS`` in ASCII (no sign, no exponent)."""
    if not s.isascii():
        return False
    if s.isdigit():
        return True
    head, dot, tail = s.partition(".")
    return bool(dot) and head.isdigit() and tail.isdigit()


def parse_number(value: str) -> float | None:
    """A plain non-negative decimal: ``"5"``, ``"5.0"``, ``" 7 "`` (spaces/tabs around).

    Grammar: ``1*DIGIT [ "." 1*DIGIT ]`` with ASCII digits only.  Signs, exponents
    (``1e3``), ``nan``/``inf``, underscores, ``"5."``, ``".5"`` and empty strings are
    malformed (``None``).  At most ``MAX_VALUE_LEN`` characters, so the result is always
    finite.
    """
    if not isinstance(value, str) or len(value) > MAX_VALUE_LEN:
        return None
    s = value.strip(OWS)
    if _plain_decimal(s):
        return float(s)
    return None


def bounded(wait: float | None) -> float | None:
    """``wait`` if it is a finite number ≥ 0, else ``None``.

    No upper bound: an enormous wait is the server's word, and ``max``/``over`` of the
    policy decide about it.  (Every parser here already returns finite values; this is
    the belt to those braces.)
    """
    if wait is None or not (0.0 <= wait < math.inf):  # also rejects NaN
        return None
    return wait


def parse_delay_seconds(value: str) -> float | None:
    """RFC 9110 ``delay-seconds`` (``1*DIGIT``), also accepting a decimal (``"2.5"``).

    ``None`` if malformed (see ``parse_number``); an enormous value is a long wait.
    """
    return bounded(parse_number(value))


# ---------------------------------------------------------------------- durations

_NUM = r"([0-9]+(?:\.[0-9]+)?)"
_DURATION = Pattern(
    rf"(?:{_NUM}d)?(?:{_NUM}h)?(?:{_NUM}m(?!s))?(?:{_NUM}s)?(?:{_NUM}ms)?"
    rf"(?:{_NUM}(?:us|\u00b5s|\u03bcs))?(?:{_NUM}ns)?",
    re.ASCII,
)
#: Seconds per unit, in the pattern's order: d, h, m, s, ms, us (µs), ns.
_UNIT_SECONDS = (86400.0, 3600.0, 60.0, 1.0, 1e-3, 1e-6, 1e-9)
#: The divisor that reads a sub-second component exactly (``72ms`` is 72 / 1000).
_UNIT_DIVISORS = (0.0, 0.0, 0.0, 0.0, 1e3, 1e6, 1e9)


def parse_duration(value: str) -> float | None:
    """A duration with units, Go style (``time.Duration``), in seconds: ``6m0s``,
    ``1h2m3.5s``, ``72ms``, ``400µs``, ``1.5us``, ``250ns``.

    Components ``<number><unit>`` with units ``d``, ``h``, ``m``, ``s``, ``ms``, ``us``
    (also ``µs``, micro sign or Greek mu, as Go prints it), ``ns`` (lower case) in that
    order, each at most once, no separators: ``1s500ms``, ``1d2h``, ``1d22h8m1s``,
    ``2ms300µs``, ``0s``.  Every number is a plain ASCII decimal (``1.5h``).  A bare
    number is not a duration (``None``), nor is a sign, a space inside or another unit.
    """
    if not isinstance(value, str) or len(value) > MAX_VALUE_LEN:
        return None
    return _duration_text(value.strip(OWS))


@functools.lru_cache(maxsize=512)
def _duration_text(s: str) -> float | None:
    """``parse_duration`` of a stripped text, cached like ``http_date_text``."""
    m = _DURATION.fullmatch(s)
    if m is None or not s:
        return None
    total = 0.0
    for number, unit, divisor in zip(m.groups(), _UNIT_SECONDS, _UNIT_DIVISORS, strict=True):
        if number is None:
            continue
        # A sub-second unit divides (72ms is 0.072, not 72 * 0.001).
        total += float(number) / divisor if divisor else float(number) * unit
    return total if math.isfinite(total) else None
