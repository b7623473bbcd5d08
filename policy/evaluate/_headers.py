"""The rate-limit and retry header readers, in one place for the evaluator (SPEC §2.4).

The value parsers live by kind -- numbers and durations in ``_header_values``, dates in
``_dates``, the IETF ``RateLimit`` field in ``_ratelimit_field`` (whose docstrings say why
malformed means absent and enormous is not malformed); this module gathers them and reads
a response's header families.  Nothing here raises, reads a clock or does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..language._ast import ResetFormat
from ._dates import http_date, http_date_text, iso, parse_http_date, parse_iso
from ._header_values import (
    MAX_VALUE_LEN,
    OWS,
    bounded,
    parse_delay_seconds,
    parse_duration,
    parse_number,
)
from ._ratelimit_field import parse_ratelimit

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

# ------------------------------------------------------------------- reset / wait


def _until(t: float | None, reference: float) -> float | None:
    """The wait until absolute time ``t``: ``max(0, t - reference)``, bounded."""
    if t is None:
        return None
    return bounded(max(0.0, t - reference))


def _auto(value: str, reference: float) -> float | None:
    """SPEC §2.4 auto-detection; the formats are disjoint, so plain numbers go first."""
    number = parse_number(value)
    if number is not None:
        if number >= 1e12:
            return _until(number / 1000.0, reference)
        if number >= 1e9:
            return _until(number, reference)
        return bounded(number)
    t = http_date(value, reference)
    if t is None:
        t = iso(value)
    if t is not None:
        return _until(t, reference)
    return bounded(parse_duration(value))


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
        return bounded(parse_number(value))
    if fmt is ResetFormat.MILLISECONDS:
        number = parse_number(value)
        return bounded(number / 1000.0) if number is not None else None
    if fmt is ResetFormat.EPOCH:
        return _until(parse_number(value), reference)
    if fmt is ResetFormat.EPOCH_MS:
        number = parse_number(value)
        return _until(number / 1000.0, reference) if number is not None else None
    if fmt is ResetFormat.DATE:
        return _until(http_date(value, reference), reference)
    if fmt is ResetFormat.ISO:
        return _until(iso(value), reference)
    if fmt is ResetFormat.DURATION:
        return bounded(parse_duration(value))
    return None


def parse_retry_after(value: str, reference: float) -> float | None:
    """The wait in seconds a ``Retry-After`` value asks for (RFC 9110 §10.2.3).

    Either delay-seconds (a decimal is accepted: ``2.5``) or an HTTP-date, whose wait
    is ``max(0, date - reference)``.  ``None`` if malformed; an enormous value
    (``99999999999999999999999``, a date in year 9999) is a long wait, not ``None``.
    """
    number = parse_number(value)
    if number is not None:
        return bounded(number)
    return _until(http_date(value, reference), reference)


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
    parsed = http_date_text(value.strip(OWS))
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
    t = iso(value)
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
        t = iso(value)
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
