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
from collections.abc import Mapping

from ..language._ast import ResetFormat

__all__ = [
    "ABSOLUTE",
    "DATE_EPOCHS",
    "DATE_PARTS",
    "MALFORMED",
    "MAX_VALUE_LEN",
    "NUMBERS",
    "RELATIVE",
    "RESET_PARTS",
    "RETRY_AFTER_PARTS",
    "VARIES",
    "date_parts",
    "number",
    "parse_delay_seconds",
    "parse_duration",
    "parse_http_date",
    "parse_iso",
    "parse_number",
    "parse_ratelimit",
    "parse_reset",
    "parse_retry_after",
    "reference_time",
    "reset_parts",
    "retry_after_parts",
]

MAX_VALUE_LEN = 256
"""Longer header values are malformed (checked before any parsing)."""


class _Pattern:
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


_MAX_FIELD_LEN = 4096
"""The ``RateLimit`` field may list several policies, so it gets a larger budget."""

_OWS = " \t"

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
    s = value.strip(_OWS)
    if _plain_decimal(s):
        return float(s)
    return None


def _bounded(wait: float | None) -> float | None:
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
    return _bounded(parse_number(value))


# ------------------------------------------------------------------------- calendar

_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}
_SHORT_DAYS = frozenset({"mon", "tue", "wed", "thu", "fri", "sat", "sun"})
_LONG_DAYS = frozenset(
    {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}
)
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date.

    Counts in 400-year eras starting on March 1st, so that February (and its leap
    day) is the last month of the shifted year and needs no special case.
    """
    y = year - 1 if month <= 2 else year
    era = y // 400
    year_of_era = y - era * 400  # [0, 399]
    shifted_month = month - 3 if month > 2 else month + 9  # March = 0
    day_of_year = (153 * shifted_month + 2) // 5 + day - 1  # [0, 365]
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468  # 719468 = days from 0000-03-01 to 1970-01-01


def _year_of(epoch: float) -> int | None:
    """The UTC calendar year containing ``epoch`` seconds, if it is in 1..9999."""
    if not (-62135596800.0 <= epoch < 253402300800.0):  # 0001-01-01 .. 10000-01-01
        return None
    days = int(epoch // 86400)
    year = 1970 + int(days // 365.2425) - 1  # at most one year early, never late
    while _days_from_civil(year + 1, 1, 1) <= days:
        year += 1
    return year


def _epoch(year: int, month: int, day: int, hour: int, minute: int, second: int) -> float | None:
    """Epoch seconds of a UTC date and time, or ``None`` if the fields are out of range.

    Years 1-9999; second 60 (a leap second) is accepted and counts as the next minute's
    first second, as POSIX time does.
    """
    if not (1 <= year <= 9999 and 1 <= month <= 12 and day >= 1):
        return None
    last = 29 if month == 2 and _is_leap(year) else _MONTH_DAYS[month - 1]
    if day > last or hour > 23 or minute > 59 or second > 60:
        return None
    days = _days_from_civil(year, month, day)
    return float(days * 86400 + hour * 3600 + minute * 60 + second)


# ------------------------------------------------------------------------ HTTP-date

# IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT" and obsolete RFC 850
# "Sunday, 06-Nov-94 08:49:37 GMT" share one shape: weekday "," SP day SEP month SEP
# year SP time SP "GMT", SEP being SP or "-" (the same twice).
_RFC1123_850 = _Pattern(
    r"([a-z]{3,9}), ([0-9]{1,2})([ -])([a-z]{3})\3([0-9]{4}|[0-9]{2})"
    r" ([0-9]{2}):([0-9]{2}):([0-9]{2}) (?:gmt|utc)",
    re.ASCII | re.IGNORECASE,
)
# asctime "Sun Nov  6 08:49:37 1994".
_ASCTIME = _Pattern(
    r"([a-z]{3}) ([a-z]{3}) {1,2}([0-9]{1,2}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) ([0-9]{4})",
    re.ASCII | re.IGNORECASE,
)


def _two_digit_year(yy: int, reference: float | None) -> int:
    """The full year of an RFC 850 two-digit year (RFC 9110 §5.6.7).

    A year that would appear more than 50 years in the future is the most recent past
    year with the same last two digits: the result is the year ending in ``yy`` within
    [ref - 49, ref + 50], ref being the calendar year of ``reference`` (compared by
    year, not to the second).  Without a usable reference the POSIX ``%y`` rule
    applies (69-99 are 1969-1999, 00-68 are 2000-2068).
    """
    ref_year = _year_of(reference) if reference is not None else None
    if ref_year is None:
        return 1900 + yy if yy >= 69 else 2000 + yy
    year = ref_year - ref_year % 100 + yy
    if year > ref_year + 50:
        year -= 100
    elif year < ref_year - 49:
        year += 100
    return year


_Fields = tuple[int, int, int, int, int, int]


@functools.lru_cache(maxsize=512)
def _http_date_text(s: str) -> float | _Fields | None:
    """An HTTP-date's epoch seconds, or its fields when the year has two digits.

    Cached (on texts of at most ``MAX_VALUE_LEN`` characters): a server repeats the
    same Date and Retry-After values, and the evaluator reads them on every decision.
    (Reading an IMF-fixdate by position instead of the regular expression was measured:
    no faster, since the match runs in C.)
    """
    m = _RFC1123_850.fullmatch(s)
    if m is not None:
        weekday, day, _, month, year, hour, minute, second = m.groups()
        weekday = weekday.lower()
        if weekday not in _SHORT_DAYS and weekday not in _LONG_DAYS:
            return None
    else:
        m = _ASCTIME.fullmatch(s)
        if m is None:
            return None
        weekday, month, day, hour, minute, second, year = m.groups()
        if weekday.lower() not in _SHORT_DAYS:
            return None
    month_number = _MONTHS.get(month.lower())
    if month_number is None:
        return None
    fields = (int(year), month_number, int(day), int(hour), int(minute), int(second))
    return fields if len(year) == 2 else _epoch(*fields)


def _http_date(value: str, reference: float | None) -> float | None:
    """Epoch seconds of an HTTP-date, possibly negative (before 1970)."""
    if not isinstance(value, str) or len(value) > MAX_VALUE_LEN:
        return None
    parsed = _http_date_text(value.strip(_OWS))
    if not isinstance(parsed, tuple):
        return parsed
    two_digit_year, *rest = parsed
    return _epoch(_two_digit_year(two_digit_year, reference), *rest)


def parse_http_date(value: str, *, reference: float | None = None) -> float | None:
    """An HTTP-date (RFC 9110 §5.6.7) as epoch seconds (UTC).

    Accepted spellings (weekday and month names in English, any letter case; the
    weekday must be a real name but is not checked against the date, as most HTTP
    implementations do; spaces/tabs around are ignored):

    - IMF-fixdate: ``Sat, 28 Nov 2026 12:00:30 GMT`` (the one servers must send);
    - obsolete RFC 850: ``Saturday, 28-Nov-26 12:00:30 GMT``; the two-digit year is
      resolved against ``reference`` (epoch seconds) by the RFC 9110 rule, see
      ``_two_digit_year``, as is the year of an RFC 822 date such as
      ``Sat, 28 Nov 26 12:00:30 GMT``; a four-digit year is taken as is;
    - obsolete asctime: ``Sat Nov 28 12:00:30 2026`` (day padded with a space or zero).

    ``UTC`` is accepted in place of ``GMT``.  Years 1-9999, real calendar days (no Feb
    30), hours 00-23, minutes 00-59, seconds 00-60.  A date before 1970 has no
    non-negative epoch time and gives ``None``.
    """
    t = _http_date(value, reference)
    return t if t is not None and t >= 0.0 else None


# ---------------------------------------------------------------------- RFC 3339

_ISO = _Pattern(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2})"
    r"(?::([0-9]{2})(?:[.,]([0-9]+))?)?"
    r"([Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)?",
    re.ASCII,
)


def _iso(value: str) -> float | None:
    """Epoch seconds of an RFC 3339 / ISO 8601 date-time, possibly negative."""
    if not isinstance(value, str) or len(value) > MAX_VALUE_LEN:
        return None
    return _iso_text(value.strip(_OWS))


@functools.lru_cache(maxsize=512)
def _iso_text(s: str) -> float | None:
    """``_iso`` of a stripped text, cached like ``_http_date_text``."""
    m = _ISO.fullmatch(s)
    if m is None:
        return None
    year, month, day, hour, minute, second, fraction, offset = m.groups()
    t = _epoch(int(year), int(month), int(day), int(hour), int(minute), int(second or 0))
    if t is None:
        return None
    if fraction:
        t += float("0." + fraction)
    if offset and offset not in "Zz":
        offset_hours = int(offset[1:3])
        offset_minutes = int(offset[-2:]) if len(offset) > 3 else 0
        if offset_hours > 23 or offset_minutes > 59:
            return None
        shift = offset_hours * 3600 + offset_minutes * 60
        t = t - shift if offset[0] == "+" else t + shift
    return t


def parse_iso(value: str) -> float | None:
    """An RFC 3339 / ISO 8601 date-time as epoch seconds.

    ``YYYY-MM-DD`` then ``T``, ``t`` or a space, ``hh:mm`` with optional ``:ss`` and an
    optional fraction (``.`` or ``,``, any number of digits), then an optional offset:
    ``Z``/``z``, ``+hh:mm``, ``+hhmm`` or ``+hh`` (or ``-``).  No offset means UTC.
    Examples: ``2026-11-28T12:00:30Z``, ``2026-11-28t13:00:30.5+01:00``.  Field ranges
    as in ``parse_http_date``; a time before 1970 gives ``None``.
    """
    t = _iso(value)
    return t if t is not None and t >= 0.0 else None


# ---------------------------------------------------------------------- durations

_NUM = r"([0-9]+(?:\.[0-9]+)?)"
_DURATION = _Pattern(
    rf"(?:{_NUM}d)?(?:{_NUM}h)?(?:{_NUM}m(?!s))?(?:{_NUM}s)?(?:{_NUM}ms)?",
    re.ASCII,
)
_UNIT_SECONDS = (86400.0, 3600.0, 60.0, 1.0)


def parse_duration(value: str) -> float | None:
    """A duration with units, Go style, in seconds: ``6m0s``, ``1h2m3.5s``, ``72ms``.

    Components ``<number><unit>`` with units ``d``, ``h``, ``m``, ``s``, ``ms`` (lower
    case) in that order, each at most once, no separators: ``1s500ms``, ``1d2h``,
    ``1d22h8m1s``, ``0s``.  Every number is a plain decimal (``1.5h``).  A bare number
    is not a duration (``None``), nor is a sign, a space inside or another unit.
    """
    if not isinstance(value, str) or len(value) > MAX_VALUE_LEN:
        return None
    return _duration_text(value.strip(_OWS))


@functools.lru_cache(maxsize=512)
def _duration_text(s: str) -> float | None:
    """``parse_duration`` of a stripped text, cached like ``_http_date_text``."""
    m = _DURATION.fullmatch(s)
    if m is None or not s:
        return None
    *larger, milliseconds = m.groups()
    total = 0.0
    for number, unit in zip(larger, _UNIT_SECONDS, strict=True):
        if number is not None:
            total += float(number) * unit
    if milliseconds is not None:
        total += float(milliseconds) / 1000.0  # 72ms is 0.072, not 72 * 0.001
    return total if math.isfinite(total) else None


# ------------------------------------------------------------------- reset / wait


def _until(t: float | None, reference: float) -> float | None:
    """The wait until absolute time ``t``: ``max(0, t - reference)``, bounded."""
    if t is None:
        return None
    return _bounded(max(0.0, t - reference))


def _auto(value: str, reference: float) -> float | None:
    """SPEC §2.4 auto-detection; the formats are disjoint, so plain numbers go first."""
    number = parse_number(value)
    if number is not None:
        if number >= 1e12:
            return _until(number / 1000.0, reference)
        if number >= 1e9:
            return _until(number, reference)
        return _bounded(number)
    t = _http_date(value, reference)
    if t is None:
        t = _iso(value)
    if t is not None:
        return _until(t, reference)
    return _bounded(parse_duration(value))


def parse_reset(value: str, fmt: ResetFormat, reference: float) -> float | None:
    """The wait in seconds implied by a reset header ``value`` read in ``fmt``.

    ============  ===========================================  ======================
    format        value                                        wait
    ============  ===========================================  ======================
    ``s``         delta seconds, decimal ok (``372``)          the value
    ``ms``        delta milliseconds (``1500``)                value / 1000
    ``epoch``     epoch seconds, fractions ok (``1795867260``) max(0, t - reference)
    ``epoch-ms``  epoch milliseconds                           max(0, t - reference)
    ``date``      HTTP-date (``parse_http_date``)              max(0, t - reference)
    ``iso``       RFC 3339 (``parse_iso``)                     max(0, t - reference)
    ``duration``  ``parse_duration`` (``6m0s``)                the duration
    ``auto``      HTTP-date, else RFC 3339, else a duration with units, else a plain
                  number: >= 1e12 is epoch ms, >= 1e9 epoch seconds, else delta seconds
    ============  ===========================================  ======================

    ``reference`` is the response's time in epoch seconds (see ``reference_time``); a
    reset in the past waits 0.  ``None`` if the value is malformed; a well-formed value
    far in the future (year 9999, an epoch centuries away) is a long wait, not ``None``.
    """
    if fmt is ResetFormat.AUTO:
        return _auto(value, reference)
    if fmt is ResetFormat.SECONDS:
        return _bounded(parse_number(value))
    if fmt is ResetFormat.MILLISECONDS:
        number = parse_number(value)
        return _bounded(number / 1000.0) if number is not None else None
    if fmt is ResetFormat.EPOCH:
        return _until(parse_number(value), reference)
    if fmt is ResetFormat.EPOCH_MS:
        number = parse_number(value)
        return _until(number / 1000.0, reference) if number is not None else None
    if fmt is ResetFormat.DATE:
        return _until(_http_date(value, reference), reference)
    if fmt is ResetFormat.ISO:
        return _until(_iso(value), reference)
    if fmt is ResetFormat.DURATION:
        return _bounded(parse_duration(value))
    return None


def parse_retry_after(value: str, reference: float) -> float | None:
    """The wait in seconds a ``Retry-After`` value asks for (RFC 9110 §10.2.3).

    Either delay-seconds (a decimal is accepted: ``2.5``) or an HTTP-date, whose wait
    is ``max(0, date - reference)``.  ``None`` if malformed; an enormous value
    (``99999999999999999999999``, a date in year 9999) is a long wait, not ``None``.
    """
    number = parse_number(value)
    if number is not None:
        return _bounded(number)
    return _until(_http_date(value, reference), reference)


# ------------------------------------------------- memoised parts, for the evaluator
#
# The evaluator reads the same header texts on every decision (a server repeats its
# Retry-After, its limits and its Date), so what a text says is computed once and kept
# in a small dict: the *parts* of a value, independent of the reference time, so that one
# cached entry serves every ``now``.  Parts are ``(kind, x)``:
#
#   RELATIVE, seconds   a wait (delay-seconds, ``s``, ``ms``, a duration)
#   ABSOLUTE, epoch     an absolute time, waited for as ``max(0, epoch - reference)``
#   VARIES,   0.0       an RFC 850 / RFC 822 date with a two-digit year, whose century
#                       depends on the reference: read with ``parse_*`` each time
#   MALFORMED, 0.0      absent
#
# Reading a cached entry is one dict lookup, with no function call; a miss computes the
# parts with the functions above (so both paths give the same numbers) and stores them.
# Each cache holds at most ``_CACHE_SIZE`` entries and is emptied when full, so a server
# sending a new value every time costs a miss per value, never unbounded memory.  Values
# over ``MAX_VALUE_LEN`` characters are malformed and not stored.

RELATIVE = 0
ABSOLUTE = 1
VARIES = 2
MALFORMED = 3

Parts = tuple[int, float]

_CACHE_SIZE = 1024
_BAD: Parts = (MALFORMED, 0.0)
_VARIES: Parts = (VARIES, 0.0)

#: Retry-After text -> parts.
RETRY_AFTER_PARTS: dict[str, Parts] = {}
#: Date header text -> parts (ABSOLUTE with a non-negative epoch, VARIES or MALFORMED).
DATE_PARTS: dict[str, Parts] = {}
#: Date header text -> its epoch, for the ABSOLUTE entries of ``DATE_PARTS`` only.
DATE_EPOCHS: dict[str, float] = {}
#: Plain decimal text -> its value, or None (``parse_number``).
NUMBERS: dict[str, float | None] = {}
#: Per reset format: reset text -> parts.
RESET_PARTS: dict[ResetFormat, dict[str, Parts]] = {fmt: {} for fmt in ResetFormat}


def _keep(cache: dict[str, Parts], value: str, parts: Parts) -> Parts:
    if isinstance(value, str) and len(value) <= MAX_VALUE_LEN:
        if len(cache) >= _CACHE_SIZE:
            cache.clear()
        cache[value] = parts
    return parts


def number(value: str) -> float | None:
    """``parse_number(value)``, memoised in ``NUMBERS``."""
    n = parse_number(value)
    if isinstance(value, str) and len(value) <= MAX_VALUE_LEN:
        if len(NUMBERS) >= _CACHE_SIZE:
            NUMBERS.clear()
        NUMBERS[value] = n
    return n


def _date_parts(value: str) -> Parts:
    """The parts of an HTTP-date (ABSOLUTE, possibly before 1970), VARIES or MALFORMED."""
    if not isinstance(value, str) or len(value) > MAX_VALUE_LEN:
        return _BAD
    parsed = _http_date_text(value.strip(_OWS))
    if parsed is None:
        return _BAD
    if isinstance(parsed, tuple):
        return _VARIES
    return (ABSOLUTE, parsed)


def retry_after_parts(value: str) -> Parts:
    """The parts of a ``Retry-After`` value (``parse_retry_after``), memoised."""
    n = parse_number(value)
    parts = (RELATIVE, n) if n is not None else _date_parts(value)
    return _keep(RETRY_AFTER_PARTS, value, parts)


def date_parts(value: str) -> Parts:
    """The parts of a ``Date`` header (``reference_time``), memoised: a date before 1970
    is no usable reference (MALFORMED)."""
    parts = _date_parts(value)
    if parts[0] == ABSOLUTE and parts[1] < 0.0:
        parts = _BAD
    if isinstance(value, str) and len(value) <= MAX_VALUE_LEN:
        if len(DATE_PARTS) >= _CACHE_SIZE:
            DATE_PARTS.clear()  # the two together: DATE_EPOCHS mirrors DATE_PARTS
            DATE_EPOCHS.clear()
        DATE_PARTS[value] = parts
        if parts[0] == ABSOLUTE:
            DATE_EPOCHS[value] = parts[1]
    return parts


def _auto_parts(value: str) -> Parts:
    n = parse_number(value)
    if n is not None:
        if n >= 1e12:
            return (ABSOLUTE, n / 1000.0)
        if n >= 1e9:
            return (ABSOLUTE, n)
        return (RELATIVE, n)
    parts = _date_parts(value)
    if parts is not _BAD:
        return parts
    t = _iso(value)
    if t is not None:
        return (ABSOLUTE, t)
    d = parse_duration(value)
    return _BAD if d is None else (RELATIVE, d)


def _format_parts(value: str, fmt: ResetFormat) -> Parts:
    if fmt is ResetFormat.AUTO:
        return _auto_parts(value)
    if fmt is ResetFormat.DATE:
        return _date_parts(value)
    if fmt is ResetFormat.ISO:
        t = _iso(value)
        return _BAD if t is None else (ABSOLUTE, t)
    if fmt is ResetFormat.DURATION:
        d = parse_duration(value)
        return _BAD if d is None else (RELATIVE, d)
    n = parse_number(value)
    if n is None:
        return _BAD
    if fmt is ResetFormat.SECONDS:
        return (RELATIVE, n)
    if fmt is ResetFormat.MILLISECONDS:
        return (RELATIVE, n / 1000.0)
    if fmt is ResetFormat.EPOCH:
        return (ABSOLUTE, n)
    return (ABSOLUTE, n / 1000.0)  # EPOCH_MS


def reset_parts(value: str, fmt: ResetFormat) -> Parts:
    """The parts of a reset header read in ``fmt`` (``parse_reset``), memoised."""
    return _keep(RESET_PARTS[fmt], value, _format_parts(value, fmt))


# --------------------------------------------------------------- RateLimit field

# RFC 9651 bare items (string, token, integer/decimal, byte sequence, boolean) and
# parameter keys.  The string alternation is disjoint ([^"\\] vs \\), so it is linear.
_SF_BARE = _Pattern(
    r'"(?:[^"\\\x00-\x1f\x7f]|\\["\\])*"'
    r"|[A-Za-z*][!#$%&'*+\-.^_`|~:/0-9A-Za-z]*"
    r"|(-?[0-9]{1,15}(?:\.[0-9]{1,3})?)"
    r"|:[A-Za-z0-9+/=]*:"
    r"|\?[01]",
    re.ASCII,
)
_SF_KEY = _Pattern(r"[a-z*][a-z0-9_.*-]*", re.ASCII)


def _split_members(field: str) -> list[str]:
    """Split a structured-field list on the commas that are not inside a string."""
    if '"' not in field:
        return field.split(",")
    members: list[str] = []
    start = 0
    in_string = escaped = False
    for i, char in enumerate(field):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == ",":
            members.append(field[start:i])
            start = i + 1
    members.append(field[start:])
    return members


def _member_reset(member: str) -> float | None:
    """``t`` of one list member whose ``r`` is 0, else ``None`` (also if malformed)."""
    s = member.strip(_OWS)
    m = _SF_BARE.match(s)
    if m is None:
        return None
    pos, end = m.end(), len(s)
    params: dict[str, str | None] = {}
    while pos < end:
        if s[pos] != ";":
            return None
        pos += 1
        while pos < end and s[pos] == " ":
            pos += 1
        key = _SF_KEY.match(s, pos)
        if key is None:
            return None
        pos = key.end()
        number: str | None = None
        if pos < end and s[pos] == "=":
            item = _SF_BARE.match(s, pos + 1)
            if item is None:
                return None
            number = item.group(1)  # None unless the item is an integer or decimal
            pos = item.end()
        params[key.group()] = number  # a repeated key: the last one wins (RFC 9651)
    remaining, reset = params.get("r"), params.get("t")
    if remaining is None or reset is None or float(remaining) != 0.0:
        return None
    return _bounded(float(reset))


def parse_ratelimit(value: str) -> float | None:
    """The wait an IETF ``RateLimit`` field implies (draft-ietf-httpapi-ratelimit-headers-10).

    The field is a structured-field list of policies, each an item with parameters
    ``r`` (remaining quota) and ``t`` (seconds until it resets)::

        "default";r=0;t=30, "burst";r=5;t=1    ->  30

    The wait is the largest ``t`` among the items with ``r=0`` (every exhausted
    policy must have reset before a request can succeed); ``None`` if there is none.
    Tolerant where RFC 9651 is strict: a malformed member is skipped rather than
    voiding the whole field.  ``r`` and ``t`` must be RFC 9651 numbers (at most 15
    integer digits); a negative ``t`` skips its member, a huge one is a long wait.
    """
    if not isinstance(value, str) or len(value) > _MAX_FIELD_LEN:
        return None
    return _ratelimit_text(value)


@functools.lru_cache(maxsize=128)
def _ratelimit_text(value: str) -> float | None:
    """``parse_ratelimit`` of a field, cached like ``_http_date_text``."""
    best: float | None = None
    for member in _split_members(value):
        reset = _member_reset(member)
        if reset is not None and (best is None or reset > best):
            best = reset
    return best


def reference_time(headers: Mapping[str, str], now: float) -> float:
    """The time a response speaks of: its ``Date`` header when valid, else ``now``.

    Absolute resets are measured against the server's own clock so that skew between
    client and server does not shorten or stretch the wait (SPEC §2.4).  ``headers``
    has lower-case keys; the Date is an HTTP-date (``parse_http_date``, an RFC 850
    two-digit year resolved against ``now``).  A Date text is parsed once
    (``DATE_PARTS``): a server sends the same Date for a whole second.
    """
    value = headers.get("date")
    if value is None:
        return now
    parts = DATE_PARTS.get(value)
    if parts is None:
        parts = date_parts(value)
    kind, t = parts
    if kind == ABSOLUTE:
        return t
    if kind == VARIES:
        u = parse_http_date(value, reference=now)
        return now if u is None else u
    return now
