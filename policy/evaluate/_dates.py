"""Absolute times in header values: HTTP-dates (RFC 9110, three historical spellings) and
RFC 3339 / ISO 8601 timestamps, read without ``email.utils`` or ``time.strptime``
(locale-dependent, with two-digit-year rules of their own, costly per decision).

Nothing here raises; a value that cannot be read is ``None``.  See ``_headers``.
"""

from __future__ import annotations

import functools
import re

from ._header_values import MAX_VALUE_LEN, OWS, Pattern

__all__ = ["http_date", "http_date_text", "iso", "parse_http_date", "parse_iso"]


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
_RFC1123_850 = Pattern(
    r"([a-z]{3,9}), ([0-9]{1,2})([ -])([a-z]{3})\3([0-9]{4}|[0-9]{2})"
    r" ([0-9]{2}):([0-9]{2}):([0-9]{2}) (?:gmt|utc)",
    re.ASCII | re.IGNORECASE,
)
# asctime "Sun Nov  6 08:49:37 1994".
_ASCTIME = Pattern(
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
def http_date_text(s: str) -> float | _Fields | None:
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


def http_date(value: str, reference: float | None) -> float | None:
    """Epoch seconds of an HTTP-date, possibly negative (before 1970)."""
    if not isinstance(value, str) or len(value) > MAX_VALUE_LEN:
        return None
    parsed = http_date_text(value.strip(OWS))
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
    t = http_date(value, reference)
    return t if t is not None and t >= 0.0 else None


# ---------------------------------------------------------------------- RFC 3339

_ISO = Pattern(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2})"
    r"(?::([0-9]{2})(?:[.,]([0-9]+))?)?"
    r"([Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)?",
    re.ASCII,
)


def iso(value: str) -> float | None:
    """Epoch seconds of an RFC 3339 / ISO 8601 date-time, possibly negative."""
    if not isinstance(value, str) or len(value) > MAX_VALUE_LEN:
        return None
    return _iso_text(value.strip(OWS))


@functools.lru_cache(maxsize=512)
def _iso_text(s: str) -> float | None:
    """``_iso`` of a stripped text, cached like ``http_date_text``."""
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
    t = iso(value)
    return t if t is not None and t >= 0.0 else None
