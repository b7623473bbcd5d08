"""The IETF ``RateLimit`` structured field (draft-ietf-httpapi-ratelimit-headers):
the wait it implies.  Nothing here raises; a malformed field is ``None``.
"""

from __future__ import annotations

import functools
import re

from ._header_values import MAX_FIELD_LEN, OWS, Pattern, bounded

__all__ = ["parse_ratelimit"]

# --------------------------------------------------------------- RateLimit field

# RFC 9651 bare items (string, token, integer/decimal, byte sequence, boolean) and
# parameter keys.  The string alternation is disjoint ([^"\\] vs \\), so it is linear.
_SF_BARE = Pattern(
    r'"(?:[^"\\\x00-\x1f\x7f]|\\["\\])*"'
    r"|[A-Za-z*][!#$%&'*+\-.^_`|~:/0-9A-Za-z]*"
    r"|(-?[0-9]{1,15}(?:\.[0-9]{1,3})?)"
    r"|:[A-Za-z0-9+/=]*:"
    r"|\?[01]",
    re.ASCII,
)
_SF_KEY = Pattern(r"[a-z*][a-z0-9_.*-]*", re.ASCII)


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
    s = member.strip(OWS)
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
    return bounded(float(reset))


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
    if not isinstance(value, str) or len(value) > MAX_FIELD_LEN:
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
