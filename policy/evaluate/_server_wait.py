"""The ``headers`` strategy: how long the server says to wait (SPEC §2.4).

Reading a server's wait is the one part of deciding that parses text, so it has its own
module: the headers in the SPEC's order (``Retry-After``, then the named family's limit,
remaining and reset, or ``RateLimit`` and the standard resets), ``max``/``over`` applied
to what was found, absolute times measured against the response's ``Date``.  Header
texts are read through the memoised parts of ``_headers``, so a text seen before costs a
dict lookup.  ``decide``'s headers fast path reads the common shapes inline and comes
here for everything else; both give the same answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from ..language._ast import Over, Rule
from ..language._cost import Cost, family_cost
from ..language._outcomes import GiveUp
from ._headers import (
    ABSOLUTE,
    DATE_PARTS,
    MALFORMED,
    NUMBERS,
    RELATIVE,
    RETRY_AFTER_PARTS,
    VARIES,
    number,
    parse_ratelimit,
    parse_reset,
    parse_retry_after,
    reference_time,
    reset_parts,
    retry_after_parts,
)
from ._reasons import duration_text, wait_text
from ._steps import HeaderStep

_SKIP: Final = object()
_MISS: Final = object()


def _over(
    hs: HeaderStep, wait: float, source: str, label: object, rule: Rule, text: str
) -> tuple[float, str] | GiveUp | object:
    """Apply ``max``/``over`` to a server's wait; ``_SKIP`` means treat it as absent."""
    if wait <= hs.max_s:
        return (wait, source)
    if hs.over is Over.CLAMP:
        return (hs.max_s, source)
    if hs.over is Over.SKIP:
        return _SKIP
    return GiveUp(
        f"{label}: the server asks to wait {wait_text(wait)} ({source}), "
        f"longer than the {duration_text(hs.max_s)} max of {text}",
        rule,
    )


def header_wait(
    hs: HeaderStep,
    headers: Mapping[str, str],
    now: float,
    label: object,
    rule: Rule,
    text: str,
    cost: Cost | None = None,
) -> tuple[float, str] | GiveUp | None:
    """Where the server says to wait, in the SPEC's order; ``None``: nothing usable.

    ``cost``: the request's units per family word (§2.4 step 3).  A family a key names
    is limited when its ``remaining`` is below the cost, and can never admit a request
    whose cost is above its ``limit``; a family no key names reads as before (limited
    at ``remaining: 0``).

    Header texts are read through the memoised parts of ``_headers`` (a dict lookup per
    header once a text has been seen); the reference time (the response's ``Date``) is
    read only when an absolute time needs it.
    """
    if not headers:
        return None
    get = headers.get
    reference: float | None = None
    v = get("retry-after")
    if v is not None:
        parts = RETRY_AFTER_PARTS.get(v)
        if parts is None:
            parts = retry_after_parts(v)
        kind, w = parts
        if kind != RELATIVE:
            if kind == ABSOLUTE:
                reference = reference_time(headers, now)
                w -= reference
                if w < 0.0:
                    w = 0.0
            elif kind == VARIES:
                reference = reference_time(headers, now)
                w = parse_retry_after(v, reference)  # type: ignore[assignment]
            else:
                w = None  # type: ignore[assignment]
        if w is not None:
            if w <= hs.max_s:
                return (w, "retry-after")
            found = _over(hs, w, "retry-after", label, rule, text)
            if found is not _SKIP:
                return found  # type: ignore[return-value]
    if hs.named:
        units = family_cost(hs.words, cost) if cost else None
        name = hs.limit_header
        if name is not None:
            v = get(name)
            if v is not None:
                n = NUMBERS.get(v, _MISS)
                if n is _MISS:
                    n = number(v)
                if n == 0:
                    return GiveUp(
                        f"{label}: {name} is 0, so the request cannot succeed now ({text})",
                        rule,
                    )
                if units is not None and n is not None and n < units:  # type: ignore[operator]
                    return GiveUp(
                        f"{label}: this request costs {units:g}, more than the {name} of "
                        f"{n:g}, so it can never succeed ({text})",
                        rule,
                    )
        name = hs.remaining_header
        if name is not None:
            v = get(name)
            if v is not None:
                n = NUMBERS.get(v, _MISS)
                if n is _MISS:
                    n = number(v)
                if n is not None and (
                    n > 0 if units is None else n >= units  # type: ignore[operator]
                ):
                    return None
    else:
        v = get("ratelimit")
        if v is not None:
            t = parse_ratelimit(v)
            if t is not None:
                found = _over(hs, t, "ratelimit", label, rule, text)
                if found is not _SKIP:
                    return found  # type: ignore[return-value]
    cache = hs.reset_parts
    for name in hs.sources:
        v = get(name)
        if v is None:
            continue
        parts = cache.get(v)
        if parts is None:
            parts = reset_parts(v, hs.format)
        kind, w = parts
        if kind == MALFORMED:
            continue
        if kind != RELATIVE:
            if reference is None:
                # The response's Date, read from the parts cache when it is there.
                d = get("date")
                if d is None:
                    reference = now
                else:
                    dp = DATE_PARTS.get(d)
                    reference = dp[1] if dp is not None and dp[0] == ABSOLUTE else None
                    if reference is None:
                        reference = reference_time(headers, now)
            if kind == ABSOLUTE:
                w -= reference
                if w < 0.0:
                    w = 0.0
            else:
                w = parse_reset(v, hs.format, reference)  # type: ignore[assignment]
                if w is None:
                    continue
        if w <= hs.max_s:
            return (w, name)
        found = _over(hs, w, name, label, rule, text)
        if found is not _SKIP:
            return found  # type: ignore[return-value]
    return None
