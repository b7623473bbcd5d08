"""Tests for policy.evaluate._headers: the never-raising parsers of rate-limit header values."""

from __future__ import annotations

import calendar
import email.utils
import json
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import policy.evaluate._headers as H
from policy.evaluate._headers import (
    MAX_VALUE_LEN,
    parse_delay_seconds,
    parse_duration,
    parse_http_date,
    parse_iso,
    parse_number,
    parse_ratelimit,
    parse_reset,
    parse_retry_after,
    reference_time,
)
from policy.language._ast import ResetFormat

FIXTURES = Path(__file__).parent / "data" / "rate-limit-headers.json"
REF = 1795867200.0  # Sat, 28 Nov 2026 12:00:00 GMT, the fixture file's date_epoch
F = ResetFormat


def utc(*fields: int) -> float:
    """Epoch seconds of a UTC date and time, computed by the standard library."""
    return float(calendar.timegm((*fields, 0, 0, 0)))


@pytest.fixture(scope="module")
def fixtures() -> dict[str, Any]:
    """The vendored fixture file of real-world rate-limit headers (missing: the test fails)."""
    data: dict[str, Any] = json.loads(FIXTURES.read_text(encoding="utf-8"))
    return data


def lower(headers: dict[str, str]) -> dict[str, str]:
    """Headers with lower-case names, as the evaluator hands them over."""
    return {name.lower(): value for name, value in headers.items()}


# ---------------------------------------------------------------- fixture samples

# For every sample with a wait: the header that implies it and how to read it.
SAMPLE_READING: dict[str, tuple[str, str]] = {
    "RFC 9110 Retry-After, delay-seconds": ("retry-after", "retry-after"),
    "RFC 9110 Retry-After, IMF-fixdate": ("retry-after", "retry-after"),
    "RFC 9110 Retry-After, obsolete RFC 850 date": ("retry-after", "retry-after"),
    "RFC 9110 Retry-After, obsolete asctime date": ("retry-after", "retry-after"),
    "Retry-After with a decimal (seen from some gateways)": ("retry-after", "retry-after"),
    "IETF RateLimit fields, draft -10": ("ratelimit", "ratelimit"),
    "IETF RateLimit fields, draft -06 and older gateways": ("ratelimit-reset", "s"),
    "GitHub primary rate limit (epoch seconds)": ("x-ratelimit-reset", "epoch"),
    "GitHub secondary rate limit": ("retry-after", "retry-after"),
    "X/Twitter (epoch seconds)": ("x-rate-limit-reset", "epoch"),
    "Discord (fractional epoch and reset-after seconds)": ("x-ratelimit-reset", "epoch"),
    "Reddit (relative seconds under the same header name GitHub uses for epochs)": (
        "x-ratelimit-reset",
        "s",
    ),
    "OpenAI (Go-style durations)": ("x-ratelimit-reset-requests", "duration"),
    "Anthropic (RFC 3339)": ("anthropic-ratelimit-requests-reset", "iso"),
    "Shopify REST": ("retry-after", "retry-after"),
    "Azure OpenAI / Cosmos (milliseconds)": ("retry-after-ms", "ms"),
}


def read(value: str, how: str, reference: float) -> float | None:
    """Read one header value the way SAMPLE_READING names."""
    if how == "retry-after":
        return parse_retry_after(value, reference)
    if how == "ratelimit":
        return parse_ratelimit(value)
    return parse_reset(value, ResetFormat(how), reference)


def test_fixture_file_matches_the_reference_date(fixtures: dict[str, Any]) -> None:
    """The fixture's date_epoch is its Date header, as parsed here and by the stdlib."""
    assert fixtures["date_epoch"] == REF
    assert parse_http_date(fixtures["date"]) == REF
    assert email.utils.parsedate_to_datetime(fixtures["date"]).timestamp() == REF


def test_every_sample_with_a_wait_is_read(fixtures: dict[str, Any]) -> None:
    """Each sample's wait-bearing header, read in its format, gives the documented wait."""
    reference = float(fixtures["date_epoch"])
    with_wait = [s for s in fixtures["samples"] if s["wait"] is not None]
    assert {s["source"] for s in with_wait} == set(SAMPLE_READING)
    for sample in with_wait:
        name, how = SAMPLE_READING[sample["source"]]
        got = read(lower(sample["headers"])[name], how, reference)
        assert got == pytest.approx(sample["wait"], abs=1e-9), sample["source"]


def test_every_retry_after_in_the_samples_gives_the_wait(fixtures: dict[str, Any]) -> None:
    """Wherever a sample carries Retry-After, that header alone implies the sample's wait."""
    reference = float(fixtures["date_epoch"])
    seen = 0
    for sample in fixtures["samples"]:
        value = lower(sample["headers"]).get("retry-after")
        if value is not None:
            seen += 1
            assert parse_retry_after(value, reference) == pytest.approx(sample["wait"])
    assert seen >= 5


def test_auto_detects_every_sample_reset_format(fixtures: dict[str, Any]) -> None:
    """`auto` reads every sample reset whose format it can tell apart (all but ms) right."""
    reference = float(fixtures["date_epoch"])
    checked = set()
    for sample in fixtures["samples"]:
        name, how = SAMPLE_READING.get(sample["source"], ("", ""))
        if how in ("retry-after", "s", "epoch", "duration", "iso"):
            value = lower(sample["headers"])[name]
            got = parse_reset(value, F.AUTO, reference)
            assert got == pytest.approx(sample["wait"], abs=1e-9), sample["source"]
            checked.add(how)
    assert checked == {"retry-after", "s", "epoch", "duration", "iso"}


def test_samples_without_a_wait_yield_none(fixtures: dict[str, Any]) -> None:
    """A sample the fixture says implies no wait gives None from every parser."""
    reference = float(fixtures["date_epoch"])
    for sample in fixtures["samples"]:
        if sample["wait"] is None:
            for value in sample["headers"].values():
                assert parse_retry_after(value, reference) is None
                assert parse_reset(value, F.AUTO, reference) is None
                assert parse_ratelimit(value) is None


# What each hostile entry must give (SPEC §2.4: malformed is absent, the past waits 0; a
# well-formed but enormous value is a long wait, left to the policy's `max` and `over`).
HOSTILE_EXPECTED: dict[str, float | None] = {
    "ten years": 315360000.0,
    "negative": None,
    "not a number": None,
    "overflows to infinity": None,
    "far-future date": utc(9999, 12, 31, 23, 59, 59) - REF,
    "far-past date": 0.0,
    "huge epoch": float("9" * 26) / 1000 - REF,  # auto: >= 1e12 is epoch ms
    "empty": None,
    "garbage": None,
    "malformed structured field": None,
}


def test_hostile_values(fixtures: dict[str, Any]) -> None:
    """Every hostile entry gives its expected wait or None, never an exception."""
    reference = float(fixtures["date_epoch"])
    assert {h["note"] for h in fixtures["hostile"]} == set(HOSTILE_EXPECTED)
    for entry in fixtures["hostile"]:
        expected = HOSTILE_EXPECTED[entry["note"]]
        ((name, value),) = lower(entry["headers"]).items()
        if name == "retry-after":
            got = parse_retry_after(value, reference)
        elif name == "ratelimit":
            got = parse_ratelimit(value)
        else:
            got = parse_reset(value, F.AUTO, reference)
        assert got == expected, entry["note"]


def test_hostile_values_in_every_reset_format(fixtures: dict[str, Any]) -> None:
    """No hostile value gives a negative, infinite or NaN wait in any format."""
    for entry in fixtures["hostile"]:
        for value in entry["headers"].values():
            for fmt in ResetFormat:
                assert_wait_like(parse_reset(value, fmt, REF))


# ----------------------------------------------------------------------- numbers

NUMBERS_VALID = [
    ("5", 5.0),
    ("5.0", 5.0),
    (" 7 ", 7.0),
    ("\t7\t", 7.0),
    ("0", 0.0),
    ("0.25", 0.25),
    ("007", 7.0),
    ("1795867201.250", 1795867201.25),
    ("99999999999999999999999999", 1e26),
]
NUMBERS_INVALID = [
    "",
    " ",
    "-30",
    "-0",
    "+5",
    "NaN",
    "nan",
    "inf",
    "Infinity",
    "1e309",
    "1e3",
    "1E3",
    "0x10",
    "1_000",
    "5.",
    ".5",
    "1.2.3",
    "٣",  # Arabic-Indic digit three: float() accepts it, HTTP does not
    "５",  # fullwidth five
    "²",
    "5 s",
    "5\n",
    "\u00a05",  # no-break space is not OWS
    "soon",
]


@pytest.mark.parametrize(("text", "expected"), NUMBERS_VALID)
def test_parse_number_valid(text: str, expected: float) -> None:
    """Plain non-negative decimals parse to their value."""
    assert parse_number(text) == expected


@pytest.mark.parametrize("text", NUMBERS_INVALID)
def test_parse_number_invalid(text: str) -> None:
    """Signs, exponents, special values, non-ASCII digits and garbage are malformed."""
    assert parse_number(text) is None


def test_enormous_delay_seconds_are_long_waits_not_malformed() -> None:
    """Well-formed delay-seconds have no upper bound (the policy's max decides); only
    non-numbers are malformed."""
    assert parse_delay_seconds("1000000000") == 1e9
    assert parse_delay_seconds("1000000000.5") == 1000000000.5
    assert parse_delay_seconds("1000000001") == 1000000001.0
    assert parse_delay_seconds("99999999999999999999999") == 1e23
    assert parse_delay_seconds("9" * MAX_VALUE_LEN) == float("9" * MAX_VALUE_LEN)  # finite
    assert parse_delay_seconds("2.5") == 2.5
    for malformed in ("-1", "nan", "inf", "1e309", "1e3", "soon", "9" * (MAX_VALUE_LEN + 1)):
        assert parse_delay_seconds(malformed) is None, malformed


# --------------------------------------------------------------------- HTTP-date

HTTP_DATES_VALID = [
    ("Sat, 28 Nov 2026 12:00:30 GMT", utc(2026, 11, 28, 12, 0, 30)),
    ("Sun, 06 Nov 1994 08:49:37 GMT", utc(1994, 11, 6, 8, 49, 37)),
    ("  Sun, 06 Nov 1994 08:49:37 GMT\t", utc(1994, 11, 6, 8, 49, 37)),
    ("sun, 06 nov 1994 08:49:37 gmt", utc(1994, 11, 6, 8, 49, 37)),
    ("Sun, 6 Nov 1994 08:49:37 GMT", utc(1994, 11, 6, 8, 49, 37)),
    ("Sun, 06 Nov 1994 08:49:37 UTC", utc(1994, 11, 6, 8, 49, 37)),
    ("Thu, 01 Jan 1970 00:00:00 GMT", 0.0),
    ("Fri, 31 Dec 9999 23:59:59 GMT", utc(9999, 12, 31, 23, 59, 59)),
    ("Tue, 29 Feb 2028 00:00:00 GMT", utc(2028, 2, 29, 0, 0, 0)),
    ("Tue, 29 Feb 2000 00:00:00 GMT", utc(2000, 2, 29, 0, 0, 0)),
    ("Wed, 31 Dec 2025 23:59:60 GMT", utc(2026, 1, 1, 0, 0, 0)),  # leap second
    ("Mon, 28 Nov 2026 12:00:30 GMT", utc(2026, 11, 28, 12, 0, 30)),  # weekday not checked
    # obsolete RFC 850 (two-digit years resolved without a reference: POSIX rule)
    ("Sunday, 06-Nov-94 08:49:37 GMT", utc(1994, 11, 6, 8, 49, 37)),
    ("Saturday, 28-Nov-26 12:00:30 GMT", utc(2026, 11, 28, 12, 0, 30)),
    ("Saturday, 28-Nov-2026 12:00:30 GMT", utc(2026, 11, 28, 12, 0, 30)),
    ("Sat, 28 Nov 26 12:00:30 GMT", utc(2026, 11, 28, 12, 0, 30)),  # RFC 822 year
    # obsolete asctime
    ("Sun Nov  6 08:49:37 1994", utc(1994, 11, 6, 8, 49, 37)),
    ("Sun Nov 6 08:49:37 1994", utc(1994, 11, 6, 8, 49, 37)),
    ("Sat Nov 28 12:00:30 2026", utc(2026, 11, 28, 12, 0, 30)),
]
HTTP_DATES_INVALID = [
    "",
    "soon",
    "Sat, 32 Nov 2026 12:00:30 GMT",
    "Sat, 00 Nov 2026 12:00:30 GMT",
    "Sun, 29 Feb 2026 12:00:30 GMT",  # 2026 is not a leap year
    "Tue, 29 Feb 2100 12:00:30 GMT",  # nor is 2100
    "Sat, 31 Nov 2026 12:00:30 GMT",
    "Sat, 28 Nov 0000 12:00:30 GMT",
    "Sat, 28 Nov 2026 24:00:00 GMT",
    "Sat, 28 Nov 2026 12:60:00 GMT",
    "Sat, 28 Nov 2026 12:00:61 GMT",
    "Sat, 28 Foo 2026 12:00:30 GMT",
    "Xyz, 28 Nov 2026 12:00:30 GMT",
    "Sat, 28 Nov 2026 12:00:30",
    "Sat, 28 Nov 2026 12:00:30 +0000",
    "Sat, 28 Nov 2026 12:00:30 EST",
    "Sat, 28-Nov 2026 12:00:30 GMT",
    "Sat, 28 Nov 202 12:00:30 GMT",
    "Sat, 28 Nov 2026 12:0:30 GMT",
    "Sat,28 Nov 2026 12:00:30 GMT",
    "Sat, 28 Nov 2026 12:00:30 GMT GMT",
    "Saturday, 28-Nov-26 12:00:30",
    "Sat Nov 28 12:00:30 26",
    "Saturday Nov 28 12:00:30 2026",
    "Sat Nov 32 12:00:30 2026",
    "2026-11-28T12:00:30Z",
    "Wed, 31 Dec 1969 23:59:59 GMT",  # before the epoch
]


@pytest.mark.parametrize(("text", "expected"), HTTP_DATES_VALID)
def test_parse_http_date_valid(text: str, expected: float) -> None:
    """The three HTTP-date spellings parse to the UTC epoch the stdlib computes."""
    assert parse_http_date(text) == expected


@pytest.mark.parametrize("text", HTTP_DATES_INVALID)
def test_parse_http_date_invalid(text: str) -> None:
    """Impossible dates, wrong zones and other shapes are malformed."""
    assert parse_http_date(text) is None


@pytest.mark.parametrize(
    ("two_digits", "year"),
    [("26", 2026), ("76", 2076), ("77", 1977), ("94", 1994), ("00", 2000), ("99", 1999)],
)
def test_rfc850_year_resolved_against_the_reference(two_digits: str, year: int) -> None:
    """With a 2026 reference, a year more than 50 years ahead is the previous century's."""
    text = f"Saturday, 28-Nov-{two_digits} 12:00:30 GMT"
    assert parse_http_date(text, reference=REF) == utc(year, 11, 28, 12, 0, 30)


def test_rfc850_year_follows_the_reference_century() -> None:
    """Late in a century, a two-digit year less than 50 years ahead is in the next one."""
    reference = utc(2080, 6, 1, 0, 0, 0)
    assert parse_http_date("Sunday, 01-Jan-20 00:00:00 GMT", reference=reference) == utc(
        2120, 1, 1, 0, 0, 0
    )
    assert parse_http_date("Sunday, 01-Jan-40 00:00:00 GMT", reference=reference) == utc(
        2040, 1, 1, 0, 0, 0
    )


def test_retry_after_rfc850_uses_the_reference_for_its_century() -> None:
    """A Retry-After in RFC 850 form waits relative to a reference in any century."""
    reference = utc(2126, 11, 28, 12, 0, 0)
    assert parse_retry_after("Saturday, 28-Nov-26 12:00:30 GMT", reference) == 30.0


# ---------------------------------------------------------------------- RFC 3339

ISO_VALID = [
    ("2026-11-28T12:00:30Z", utc(2026, 11, 28, 12, 0, 30)),
    ("2026-11-28t12:00:30z", utc(2026, 11, 28, 12, 0, 30)),
    ("2026-11-28 12:00:30Z", utc(2026, 11, 28, 12, 0, 30)),
    ("2026-11-28T12:00:30", utc(2026, 11, 28, 12, 0, 30)),  # naive is UTC
    ("2026-11-28T12:00Z", utc(2026, 11, 28, 12, 0, 0)),
    ("2026-11-28T12:00:30.5Z", utc(2026, 11, 28, 12, 0, 30) + 0.5),
    ("2026-11-28T12:00:30,25Z", utc(2026, 11, 28, 12, 0, 30) + 0.25),
    ("2026-11-28T12:00:30.123456789Z", utc(2026, 11, 28, 12, 0, 30) + 0.123456789),
    ("2026-11-28T13:00:30+01:00", utc(2026, 11, 28, 12, 0, 30)),
    ("2026-11-28T06:30:30-0530", utc(2026, 11, 28, 12, 0, 30)),
    ("2026-11-28T14:00:30+02", utc(2026, 11, 28, 12, 0, 30)),
    ("2026-11-28T12:00:30-00:00", utc(2026, 11, 28, 12, 0, 30)),
    (" 2026-11-28T12:00:30Z ", utc(2026, 11, 28, 12, 0, 30)),
    ("2028-02-29T00:00:00Z", utc(2028, 2, 29, 0, 0, 0)),
    ("1970-01-01T00:00:00Z", 0.0),
]
ISO_INVALID = [
    "",
    "2026-11-28",
    "2026-11-28T",
    "2026-11-28T12Z",
    "2026-13-01T00:00:00Z",
    "2026-00-01T00:00:00Z",
    "2026-02-29T00:00:00Z",
    "2026-11-31T00:00:00Z",
    "0000-01-01T00:00:00Z",
    "2026-11-28T24:00:00Z",
    "2026-11-28T12:60:00Z",
    "2026-11-28T12:00:30+24:00",
    "2026-11-28T12:00:30+01:60",
    "2026-11-28T12:00:30.Z",
    "2026-11-28T12:00:30ZZ",
    "2026-11-28T12:00:30 Z",
    "26-11-28T12:00:30Z",
    "2026-1-28T12:00:30Z",
    "20261128T120030Z",
    "1969-12-31T23:59:59Z",  # before the epoch
    "Sat, 28 Nov 2026 12:00:30 GMT",
]


@pytest.mark.parametrize(("text", "expected"), ISO_VALID)
def test_parse_iso_valid(text: str, expected: float) -> None:
    """RFC 3339 date-times (with offsets, fractions, lower-case t/z) parse to UTC epochs."""
    assert parse_iso(text) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("text", ISO_INVALID)
def test_parse_iso_invalid(text: str) -> None:
    """Dates without times, impossible fields and other shapes are malformed."""
    assert parse_iso(text) is None


# --------------------------------------------------------------------- durations

DURATIONS_VALID = [
    ("6m0s", 360.0),
    ("1s", 1.0),
    ("0s", 0.0),
    ("72ms", 0.072),
    ("1s500ms", 1.5),
    ("1h2m3.5s", 3723.5),
    ("1d2h", 93600.0),
    ("1d22h8m1s", 166081.0),
    ("1.5h", 5400.0),
    ("0.5d", 43200.0),
    ("2m", 120.0),
    ("1m1ms", 60.001),
    (" 6m0s ", 360.0),
    ("20.5ms", 0.0205),
    ("400µs", 0.0004),  # Go prints the micro sign U+00B5
    ("400\u03bcs", 0.0004),  # ... and accepts the Greek mu U+03BC
    ("400us", 0.0004),
    ("1.5us", 1.5e-6),
    ("250ns", 2.5e-7),
    ("2ms300µs", 0.0023),
    ("1m2s3ms4us5ns", 62.003004005),
    ("1h0m0.5s", 3600.5),
]
DURATIONS_INVALID = [
    "",
    "1",
    "1.5",
    "s",
    "ms",
    "1h1h",
    "1s1m",
    "1ms1s",
    "1m1h",
    "-1s",
    "+1s",
    "1.s",
    ".5s",
    "1 s",
    "1h 2m",
    "1H",
    "1S",
    "us",
    "µs",
    "ns",
    "1ns1us",
    "1us1ms",
    "1µs1us",
    "1US",
    "1Ns",
    "1 µs",
    "1µ",
    "1u",
    "1n",
    "٣us",
    "1w",
    "1y",
    "1e3s",
    "infs",
    "6m0",
]


@pytest.mark.parametrize(("text", "expected"), DURATIONS_VALID)
def test_parse_duration_valid(text: str, expected: float) -> None:
    """Go-style durations with d/h/m/s/ms/us/µs/ns parse to seconds."""
    assert parse_duration(text) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("text", DURATIONS_INVALID)
def test_parse_duration_invalid(text: str) -> None:
    """Bare numbers, repeated or misordered units, signs and other units are malformed."""
    assert parse_duration(text) is None


# ------------------------------------------------------------------ reset formats

RESETS = [
    ("372", F.SECONDS, 372.0),
    ("2.5", F.SECONDS, 2.5),
    ("1500", F.MILLISECONDS, 1.5),
    ("0", F.MILLISECONDS, 0.0),
    ("1795867260", F.EPOCH, 60.0),
    ("1795867201.250", F.EPOCH, 1.25),
    ("1795867100", F.EPOCH, 0.0),  # in the past
    ("1795867230500", F.EPOCH_MS, 30.5),
    ("1795867000000", F.EPOCH_MS, 0.0),
    ("Sat, 28 Nov 2026 12:00:30 GMT", F.DATE, 30.0),
    ("Sat Nov 28 11:00:30 2026", F.DATE, 0.0),
    ("2026-11-28T12:00:30Z", F.ISO, 30.0),
    ("2026-11-28T12:00:30+01:00", F.ISO, 0.0),
    ("6m0s", F.DURATION, 360.0),
    ("1s", F.DURATION, 1.0),
    # auto
    ("Sat, 28 Nov 2026 12:00:30 GMT", F.AUTO, 30.0),
    ("Saturday, 28-Nov-26 12:00:30 GMT", F.AUTO, 30.0),
    ("2026-11-28T12:00:30.5Z", F.AUTO, 30.5),
    ("1h2m3.5s", F.AUTO, 3723.5),
    ("72ms", F.AUTO, 0.072),
    ("7", F.AUTO, 7.0),
    ("7.5", F.AUTO, 7.5),
    ("1795867260", F.AUTO, 60.0),
    ("1795867260.5", F.AUTO, 60.5),
    ("1795867260500", F.AUTO, 60.5),
]


@pytest.mark.parametrize(("text", "fmt", "expected"), RESETS)
def test_parse_reset(text: str, fmt: ResetFormat, expected: float) -> None:
    """Each reset format gives the wait SPEC §2.4 describes, 0 for a reset in the past."""
    assert parse_reset(text, fmt, REF) == pytest.approx(expected, abs=1e-6)


RESETS_INVALID = [
    ("6m0s", F.SECONDS),
    ("-5", F.SECONDS),
    ("1e3", F.MILLISECONDS),
    ("2026-11-28T12:00:30Z", F.EPOCH),
    ("Sat, 28 Nov 2026 12:00:30 GMT", F.ISO),
    ("2026-11-28T12:00:30Z", F.DATE),
    ("360", F.DURATION),
    ("in a minute", F.AUTO),
    ("1e9", F.SECONDS),
    ("nan", F.MILLISECONDS),
]


@pytest.mark.parametrize(("text", "fmt"), RESETS_INVALID)
def test_parse_reset_invalid(text: str, fmt: ResetFormat) -> None:
    """A value in another format than the one named, or not a number, is absent."""
    assert parse_reset(text, fmt, REF) is None


@pytest.mark.parametrize(
    ("text", "fmt", "wait"),
    [("1000000001", F.SECONDS, 1000000001.0), ("1000000001000", F.MILLISECONDS, 1000000001.0)],
)
def test_enormous_relative_resets_are_long_waits(text: str, fmt: ResetFormat, wait: float) -> None:
    """A well-formed relative reset of 31 years is that wait: max/over decide, not the parser."""
    assert parse_reset(text, fmt, REF) == wait


def test_auto_number_boundaries() -> None:
    """Below 1e9 a number is delta seconds, from 1e9 epoch seconds, from 1e12 epoch ms."""
    assert parse_reset("999999999", F.AUTO, REF) == 999999999.0
    assert parse_reset("999999999.9", F.AUTO, REF) == 999999999.9
    assert parse_reset("1000000000", F.AUTO, REF) == 0.0  # 2001: in the past
    assert parse_reset("1000000000", F.AUTO, 999999990.0) == 10.0
    assert parse_reset("999999999999", F.AUTO, REF) == 999999999999 - REF  # year 33658
    assert parse_reset("999999999999", F.AUTO, 999999999990.0) == 9.0
    assert parse_reset("1000000000000", F.AUTO, REF) == 0.0  # epoch ms in 2001
    assert parse_reset("1000000000000", F.AUTO, 999999990.0) == 10.0


def test_absolute_resets_centuries_away_are_long_waits() -> None:
    """An epoch reset, a date or an RFC 3339 time far in the future is a wait that long."""
    year_9999 = utc(9999, 12, 31, 23, 59, 59)
    far = REF + 1e9 + 1
    assert parse_reset(f"{far:.0f}", F.EPOCH, REF) == 1e9 + 1
    assert parse_reset(f"{far * 1000:.0f}", F.EPOCH_MS, REF) == 1e9 + 1
    assert parse_reset("9" * 30, F.EPOCH, REF) == float("9" * 30) - REF
    assert parse_reset("9" * 30, F.AUTO, REF) == float("9" * 30) / 1000 - REF
    assert parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", REF) == year_9999 - REF
    assert parse_reset("Fri, 31 Dec 9999 23:59:59 GMT", F.DATE, REF) == year_9999 - REF
    assert parse_reset("9999-12-31T23:59:59Z", F.ISO, REF) == year_9999 - REF
    assert parse_reset("9999-12-31T23:59:59Z", F.AUTO, REF) == year_9999 - REF
    assert parse_reset("999999999d", F.DURATION, REF) == 999999999 * 86400.0
    assert parse_ratelimit('"a";r=0;t=99999999999') == 99999999999.0


def test_retry_after() -> None:
    """Retry-After reads delay-seconds (decimals too) and the three HTTP-date forms."""
    assert parse_retry_after("120", REF) == 120.0
    assert parse_retry_after(" 2.5 ", REF) == 2.5
    assert parse_retry_after("Sat, 28 Nov 2026 12:00:30 GMT", REF) == 30.0
    assert parse_retry_after("Sat Nov 28 12:00:30 2026", REF) == 30.0
    assert parse_retry_after("Wed, 31 Dec 1969 23:59:59 GMT", REF) == 0.0  # past waits 0
    assert parse_retry_after("6m0s", REF) is None
    assert parse_retry_after("2026-11-28T12:00:30Z", REF) is None
    assert parse_retry_after("-1", REF) is None


def test_values_longer_than_the_limit_are_malformed() -> None:
    """A value padded past 256 characters is rejected before it is parsed."""
    padded = " " * 300 + "5"
    assert parse_number(padded) is None
    assert parse_retry_after(padded, REF) is None
    assert parse_reset(padded, F.AUTO, REF) is None
    assert parse_duration(" " * 300 + "5s") is None


def test_megabyte_values() -> None:
    """One-megabyte values of every shape are malformed, without raising."""
    for value in ("9" * 1_000_000, "1" * 999_999 + "s", "Sat, " * 200_000, '"' * 1_000_000):
        assert parse_number(value) is None
        assert parse_duration(value) is None
        assert parse_http_date(value) is None
        assert parse_iso(value) is None
        assert parse_ratelimit(value) is None
        for fmt in ResetFormat:
            assert parse_reset(value, fmt, REF) is None


# ------------------------------------------------------------------ RateLimit field

RATELIMITS = [
    ('"default";r=0;t=30', 30.0),
    ('"default";r=0;t=30, "burst";r=5;t=1', 30.0),
    ('"a";r=0;t=30, "b";r=0;t=60', 60.0),
    ('"a";r=0;t=60,"b";r=0;t=30', 60.0),
    ('"a";r=1;t=30, "b";r=0;t=5', 5.0),
    ('"a";r=0;t=0', 0.0),
    ('"a"; r=0; t=30', 30.0),
    ("default;r=0;t=30", 30.0),
    ('"a,b";r=0;t=30', 30.0),
    ('"a\\"b";r=0;t=30', 30.0),
    ('"a";r=0;t=2.5', 2.5),
    ('"a";t=30;r=0', 30.0),
    ('"a";r=0;t=30;pk=:cHJvamVjdDEyMw==:', 30.0),
    ('"a";r=0;t=7;t=30', 30.0),  # the last of a repeated key wins
    ('"a";r=;t=abc, "b";r=0;t=9', 9.0),  # a malformed member is skipped
    ('garbage!!, "b";r=0;t=9', 9.0),
    ('"a";r=0;t=-5, "b";r=0;t=9', 9.0),
]
RATELIMITS_NONE = [
    "",
    " ",
    '"default";r=5;t=30',
    '"default";r=0',
    '"default";t=30',
    '"default";r=;t=abc',
    '"default";r=0;t=abc',
    '"default";r=0;t="30"',
    '"default";r=?0;t=30',
    '"default";r;t=30',
    '"default";r=0;t=30 garbage',
    '"default";R=0;T=30',
    '"unterminated;r=0;t=30',
    '"a";r=0;t=-30',
    "limit=100, remaining=0, reset=30",
]


@pytest.mark.parametrize(("text", "expected"), RATELIMITS)
def test_parse_ratelimit(text: str, expected: float) -> None:
    """The largest t among the r=0 items, skipping malformed items."""
    assert parse_ratelimit(text) == expected


@pytest.mark.parametrize("text", RATELIMITS_NONE)
def test_parse_ratelimit_none(text: str) -> None:
    """A field without a well-formed exhausted item implies no wait."""
    assert parse_ratelimit(text) is None


# ----------------------------------------------------------------- reference time


def test_reference_time() -> None:
    """The Date header is the reference when valid, else `now`."""
    now = 1.0e9
    assert reference_time({"date": "Sat, 28 Nov 2026 12:00:00 GMT"}, now) == REF
    assert reference_time({}, now) == now
    assert reference_time({"date": "yesterday"}, now) == now
    assert reference_time({"date": ""}, now) == now
    assert reference_time({"date": "Wed, 31 Dec 1969 23:59:59 GMT"}, now) == now
    assert reference_time({"Date": "Sat, 28 Nov 2026 12:00:00 GMT"}, now) == now


def test_reference_time_rfc850_century_from_now() -> None:
    """An RFC 850 Date header's two-digit year is resolved against `now`."""
    now = utc(2126, 1, 1, 0, 0, 0)
    date = "Saturday, 28-Nov-26 12:00:00 GMT"
    assert reference_time({"date": date}, now) == utc(2126, 11, 28, 12, 0, 0)
    assert reference_time({"date": date}, REF) == REF


# -------------------------------------------------------------------- properties

PARSERS: list[Callable[[str], float | None]] = [
    parse_number,
    parse_delay_seconds,
    parse_http_date,
    parse_iso,
    parse_duration,
    parse_ratelimit,
    lambda v: parse_retry_after(v, REF),
    *(lambda v, fmt=fmt: parse_reset(v, fmt, REF) for fmt in ResetFormat),
    lambda v: reference_time({"date": v}, REF),
]

VALID_SAMPLES = [
    "120",
    "2.5",
    "1795867201.250",
    "1795867230500",
    "Sat, 28 Nov 2026 12:00:30 GMT",
    "Saturday, 28-Nov-26 12:00:30 GMT",
    "Sat Nov 28 12:00:30 2026",
    "2026-11-28T12:00:30.5+01:00",
    "1d22h8m1.5s500ms",
    '"default";r=0;t=30, "burst";r=5;t=1',
]


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A valid sample with one character inserted, deleted or replaced."""
    text = draw(st.sampled_from(VALID_SAMPLES))
    i = draw(st.integers(0, len(text)))
    char = draw(st.characters())
    how = draw(st.sampled_from(["insert", "delete", "replace"]))
    if how == "insert":
        return text[:i] + char + text[i:]
    if how == "delete":
        return text[:i] + text[i + 1 :]
    return text[:i] + char + text[i + 1 :]


HOSTILE_TEXT = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(codec="ascii")),
    st.text(alphabet="0123456789.:-+ ,;=\"'TZdhms", max_size=64),
    st.integers(min_value=0, max_value=10**400).map(str),
    st.builds(lambda s, n: (s * n)[:10_000], st.text(min_size=1, max_size=8), st.just(10_000)),
    mutated(),
)


def assert_wait_like(result: float | None) -> None:
    """None, or a finite non-negative float."""
    assert result is None or (type(result) is float and math.isfinite(result) and result >= 0)


@given(HOSTILE_TEXT)
@example("1e309")
@example("nan")
@example("-0.0")
@example("\x00")
@example('"' + "\\" * 300)
def test_parsers_never_raise(text: str) -> None:
    """Every parser returns None or a finite non-negative float for arbitrary text."""
    for parse in PARSERS:
        assert_wait_like(parse(text))


def _wait_from_parts(parts: tuple[int, float], exact: float | None, reference: float) -> Any:
    kind, x = parts
    if kind == H.RELATIVE:
        return x
    if kind == H.ABSOLUTE:
        return max(0.0, x - reference)
    if kind == H.VARIES:
        return exact  # read with the reference each time, by design
    return None


@given(HOSTILE_TEXT, st.sampled_from(list(ResetFormat)), st.floats(0, 4e11))
@example("Sat, 28 Nov 2026 12:00:30 GMT", ResetFormat.AUTO, REF)
@example("Saturday, 28-Nov-26 12:00:30 GMT", ResetFormat.DATE, REF)
@example("1795867260", ResetFormat.EPOCH_MS, REF)
def test_memoised_parts_give_what_the_parsers_give(
    text: str, fmt: ResetFormat, reference: float
) -> None:
    """The parts the evaluator reads from its caches (cold and warm) make the same waits as
    parse_reset, parse_retry_after and reference_time."""
    for _ in range(2):
        exact = H.parse_reset(text, fmt, reference)
        assert _wait_from_parts(H.reset_parts(text, fmt), exact, reference) == exact
        exact = H.parse_retry_after(text, reference)
        assert _wait_from_parts(H.retry_after_parts(text), exact, reference) == exact
        assert H.number(text) == parse_number(text)
        kind, t = H.date_parts(text)
        expected = parse_http_date(text, reference=reference)
        if kind == H.ABSOLUTE:
            assert t == expected == H.DATE_EPOCHS[text]
        elif kind == H.MALFORMED:
            assert expected is None
    date = parse_http_date(text, reference=reference)
    assert reference_time({"date": text}, reference) == (reference if date is None else date)


def test_parts_caches_stay_bounded() -> None:
    """A server sending a new value every time fills no cache past its size."""
    for n in range(3 * H._CACHE_SIZE):
        value = str(1_795_867_200 + n)
        H.retry_after_parts(value)
        H.reset_parts(value, ResetFormat.AUTO)
        H.number(value)
        H.date_parts(f"Sat, 28 Nov 2026 12:{n // 60 % 60:02}:{n % 60:02} GMT")
    caches = [H.RETRY_AFTER_PARTS, H.NUMBERS, H.DATE_PARTS, H.DATE_EPOCHS]
    caches += H.RESET_PARTS.values()
    assert all(len(c) <= H._CACHE_SIZE for c in caches)
    assert H.reset_parts("x" * (H.MAX_VALUE_LEN + 1), ResetFormat.AUTO) == (H.MALFORMED, 0.0)
    assert "x" * (H.MAX_VALUE_LEN + 1) not in H.RESET_PARTS[ResetFormat.AUTO]


@given(HOSTILE_TEXT, st.sampled_from(list(ResetFormat)), st.floats(0, 4e11))
def test_resets_are_bounded_waits(text: str, fmt: ResetFormat, reference: float) -> None:
    """A reset's wait, whatever the value and reference, is None or a finite wait >= 0."""
    assert_wait_like(parse_reset(text, fmt, reference))
    assert_wait_like(parse_retry_after(text, reference))


EPOCHS = st.integers(0, calendar.timegm((9999, 12, 31, 23, 59, 59, 0, 0, 0)))


@given(EPOCHS)
def test_imf_fixdate_round_trip(epoch: int) -> None:
    """An epoch formatted as IMF-fixdate by the stdlib parses back to itself."""
    assert parse_http_date(email.utils.formatdate(epoch, usegmt=True)) == epoch


@given(EPOCHS)
def test_asctime_round_trip(epoch: int) -> None:
    """An epoch formatted by time.asctime parses back to itself."""
    assert parse_http_date(time.asctime(time.gmtime(epoch))) == epoch


LONG_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


@given(EPOCHS, EPOCHS)
def test_rfc850_round_trip(epoch: int, reference: int) -> None:
    """An RFC 850 date within 49 years before or 50 after the reference parses back."""
    parts = time.gmtime(epoch)
    ref_year = time.gmtime(reference).tm_year
    if not (ref_year - 49 <= parts.tm_year <= ref_year + 50):
        return
    text = (
        f"{LONG_DAYS[parts.tm_wday]}, {parts.tm_mday:02}-{MONTHS[parts.tm_mon - 1]}-"
        f"{parts.tm_year % 100:02} {parts.tm_hour:02}:{parts.tm_min:02}:{parts.tm_sec:02} GMT"
    )
    assert parse_http_date(text, reference=reference) == epoch


@given(
    st.integers(0, 2**32 * 10**6),
    st.integers(-(23 * 60 + 59), 23 * 60 + 59),
    st.sampled_from(["T", "t", " "]),
)
def test_rfc3339_round_trip(microseconds: int, offset_minutes: int, sep: str) -> None:
    """An epoch formatted by datetime.isoformat, in any offset, parses back within 1e-6."""
    zone = timezone(timedelta(minutes=offset_minutes))
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=microseconds)
    text = moment.astimezone(zone).isoformat(sep=sep)
    parsed = parse_iso(text)
    assert parsed is not None
    assert math.isclose(parsed, microseconds / 10**6, rel_tol=0, abs_tol=1e-6)


@given(st.integers(0, 10**12), st.sets(st.sampled_from("dhms")), st.booleans())
def test_duration_round_trip(millis: int, omit: set[str], zero_fill: bool) -> None:
    """Milliseconds written as d/h/m/s/ms components parse back within 1e-6 s."""
    parts = {
        "d": millis // 86_400_000,
        "h": millis // 3_600_000 % 24,
        "m": millis // 60_000 % 60,
        "s": millis // 1000 % 60,
        "ms": millis % 1000,
    }
    # Fold omitted units into the next smaller one, as e.g. "90m" instead of "1h30m".
    factors = {"d": 24, "h": 60, "m": 60, "s": 1000}
    text, carry = "", 0
    for unit in ("d", "h", "m", "s", "ms"):
        amount = parts[unit] + carry
        if unit != "ms" and unit in omit:
            carry = amount * factors[unit]
            continue
        carry = 0
        if amount or (zero_fill and unit != "ms"):
            text += f"{amount}{unit}"
    text = text or "0s"
    parsed = parse_duration(text)
    assert parsed is not None
    assert math.isclose(parsed, millis / 1000, rel_tol=0, abs_tol=1e-6), text


@given(st.integers(0, 10**15), st.sampled_from(["us", "µs", "\u03bcs"]))
def test_go_duration_round_trip(nanos: int, micro: str) -> None:
    """Nanoseconds written as Go's time.Duration prints them (h, m, s, ms, µs, ns) read
    back within 1e-9 relative, in format=duration and in auto."""
    parts = [
        (nanos // 3_600_000_000_000, "h"),
        (nanos // 60_000_000_000 % 60, "m"),
        (nanos // 1_000_000_000 % 60, "s"),
        (nanos // 1_000_000 % 1000, "ms"),
        (nanos // 1000 % 1000, micro),
        (nanos % 1000, "ns"),
    ]
    text = "".join(f"{n}{unit}" for n, unit in parts if n) or "0s"
    for got in (parse_duration(text), parse_reset(text, F.DURATION, REF)):
        assert got is not None
        assert math.isclose(got, nanos / 1e9, rel_tol=1e-12, abs_tol=1e-12), text
    if not text.isdigit():
        assert parse_reset(text, F.AUTO, REF) == parse_duration(text)


def test_openai_sample_with_sub_millisecond_resets(fixtures: dict[str, Any]) -> None:
    """The fixture's OpenAI sample with its resets as Go prints short durations
    (``400µs``, ``250ns``): the token family's reset reads in duration and auto."""
    (sample,) = [s for s in fixtures["samples"] if s["source"] == "OpenAI (Go-style durations)"]
    headers = lower(sample["headers"])
    assert parse_reset(headers["x-ratelimit-reset-tokens"], F.DURATION, REF) == 360.0
    for text, seconds in (("400µs", 4e-4), ("1.5us", 1.5e-6), ("250ns", 2.5e-7)):
        headers["x-ratelimit-reset-tokens"] = text
        for fmt in (F.DURATION, F.AUTO):
            got = parse_reset(headers["x-ratelimit-reset-tokens"], fmt, REF)
            assert got == pytest.approx(seconds, rel=1e-12), (text, fmt)


@given(st.floats(0, 1e9, allow_nan=False).map(lambda x: round(x, 3)))
def test_seconds_round_trip(seconds: float) -> None:
    """A delta in seconds written with up to 3 decimals reads back in s, auto and ms."""
    text = f"{seconds:.3f}"
    assert parse_reset(text, F.SECONDS, REF) == pytest.approx(seconds, abs=1e-6)
    assert parse_delay_seconds(text) == pytest.approx(seconds, abs=1e-6)
    millis = f"{round(seconds * 1000)}"
    assert parse_reset(millis, F.MILLISECONDS, REF) == pytest.approx(seconds, abs=1e-6)


@given(st.integers(0, 10**9), st.integers(10**9, 4 * 10**9))
def test_epoch_waits(delta: int, reference: int) -> None:
    """An epoch `delta` seconds ahead waits `delta`, one `delta` behind waits 0."""
    assert parse_reset(str(reference + delta), F.EPOCH, reference) == delta
    assert parse_reset(str(reference + delta), F.AUTO, reference) == delta
    assert parse_reset(str((reference + delta) * 1000), F.EPOCH_MS, reference) == delta
    assert parse_reset(str((reference + delta) * 1000), F.AUTO, reference) == delta
    behind = reference - delta
    if behind >= 0:
        assert parse_reset(str(behind), F.EPOCH, reference) == 0.0


ITEMS = st.lists(
    st.tuples(
        st.text(alphabet='abcxyz ,;=\\"', max_size=6),
        st.integers(0, 3),
        st.integers(0, 10**6),
    ),
    max_size=6,
)


@given(ITEMS)
def test_ratelimit_largest_exhausted_reset(items: list[tuple[str, int, int]]) -> None:
    """The RateLimit wait is the largest t among items with r=0, whatever the names."""
    members = []
    for name, remaining, reset in items:
        quoted = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        members.append(f"{quoted};r={remaining};t={reset}")
    expected = max((float(t) for _, r, t in items if r == 0), default=None)
    assert parse_ratelimit(", ".join(members)) == expected
