"""The compiled form of a strategy: plain tuples the deciding code unpacks in one go.

Every strategy of every rule (presets expanded, in order) is a *position* with its own
counter, and compiles to a *step*: a tuple whose first item says its kind, with its
numbers already in seconds and its jitter as a small integer, so deciding never reads an
attrs attribute or compares an enum.  The general loop, the generated straight path and
the schedule all read this one format, and each module below it depends on nothing else
of the evaluator.  ``window`` is here for the same reason: ``decide``'s jitter arithmetic
and the schedule's envelopes must be the same floats.
"""

from __future__ import annotations

import math
from typing import Final

import attrs

from ..language._ast import Backoff, Headers, Jitter, Over, ResetFormat, Strategy
from ..language._cost import words_of
from ._headers import RESET_PARTS
from ._reasons import WHY_BACKOFF
from ._tables import Step

# A step is a plain tuple so the hot path unpacks it in one operation:
#   backoff: (BACKOFF, position, limit, min_s, max_s, factor, n_cap, jitter, why, strategy)
#   headers: (HEADERS, position, limit, HeaderStep, strategy)
#   never:   (NEVER, position, 0, None, strategy)

BACKOFF: Final = 0
HEADERS: Final = 1
NEVER: Final = 2

J_NONE: Final = 0
J_FULL: Final = 1
J_EQUAL: Final = 2
J_DECORRELATED: Final = 3
J_SCALE: Final = 4

_JITTER_CODE = {
    Jitter.NONE: J_NONE,
    Jitter.FULL: J_FULL,
    Jitter.EQUAL: J_EQUAL,
    Jitter.DECORRELATED: J_DECORRELATED,
    Jitter.SCALE: J_SCALE,
}

#: ``n_cap`` for a sequence that never reaches its cap (factor 1, or min 0).
NEVER_CAPS: Final = 1 << 62

#: Larger than any matcher's size (``all`` is 1000).
MAX_SIZE: Final = 10_000


def first_cap(low: float, high: float, factor: float) -> int:
    """The first ``n`` with ``low · factorⁿ ≥ high`` (``NEVER_CAPS`` if there is none).

    From that ``n`` on the backoff base is ``high``, so the evaluator never raises a float
    to a power that could overflow: ``n = 10 000`` costs what ``n = 1`` costs.
    """
    if low >= high:
        return 0
    if low <= 0.0 or factor <= 1.0:
        return NEVER_CAPS
    n = max(0, math.ceil(math.log(high / low) / math.log(factor)))
    # Settle float rounding in either direction, in the arithmetic decide() uses.
    while n > 0 and low * factor ** (n - 1) >= high:
        n -= 1
    while low * factor**n < high:
        n += 1
    return n


@attrs.frozen
class HeaderStep:
    """A ``headers`` strategy with its numbers in seconds."""

    limit_header: str | None
    remaining_header: str | None
    reset_header: str | None
    format: ResetFormat
    max_s: float
    over: Over
    jitter_s: float
    named: bool
    #: The reset headers to read, in order (``headers()``: the two standard ones).
    sources: tuple[str, ...]
    #: The memoised parts of reset texts in ``format`` (shared by every step of the format).
    reset_parts: dict[str, tuple[int, float]] = attrs.field(eq=False, repr=False)
    #: The dash-separated words of the family's header names, which cost keys name
    #: (empty for ``headers()``: its defaults count 1).
    words: frozenset[str] = frozenset()


def compile_strategy(strategy: Strategy, position: int, text: str) -> Step:
    """The step of ``strategy`` at ``position`` in the rule whose canonical text is ``text``."""
    if type(strategy) is Backoff:
        low = strategy.min_ms / 1000
        high = strategy.max_ms / 1000
        # With min 0 every base is 0: a factor of 1 says so without raising 0·factorⁿ.
        factor = float(strategy.factor) if low > 0 else 1.0
        return (
            BACKOFF,
            position,
            strategy.limit,
            low,
            high,
            factor,
            first_cap(low, high, factor),
            _JITTER_CODE[strategy.jitter],
            (WHY_BACKOFF, text, position, strategy.limit),
            strategy,
        )
    if type(strategy) is Headers:
        hs = HeaderStep(
            limit_header=strategy.limit_header,
            remaining_header=strategy.remaining_header,
            reset_header=strategy.reset_header,
            format=strategy.format,
            max_s=strategy.max_ms / 1000,
            over=strategy.over,
            jitter_s=strategy.jitter_ms / 1000,
            named=strategy.named,
            sources=(
                ("ratelimit-reset", "x-ratelimit-reset")
                if not strategy.named
                else ()
                if strategy.reset_header is None
                else (strategy.reset_header,)
            ),
            reset_parts=RESET_PARTS[strategy.format],
            words=words_of(
                (strategy.limit_header, strategy.remaining_header, strategy.reset_header)
                if strategy.named
                else ()
            ),
        )
        return (HEADERS, position, strategy.limit, hs, strategy)
    return (NEVER, position, 0, None, strategy)


def window(base: float, low: float, high: float, jitter: int) -> tuple[float, float]:
    """The ``(lo, hi)`` window a ``full`` or ``equal`` draw of a backoff takes (SPEC §2.3).

    ``hi = min(max, 2·base)``: the window is at least [min, 2·min] at the first retry, so
    clients that failed together spread from their first retry on.  ``full`` draws
    ``min + r·(hi − min)`` over [min, hi]; ``equal`` draws ``lo + r·(hi − lo)`` over the
    upper half, ``lo = max(min, hi/2)``.  The arithmetic of ``decide``, step for step.
    """
    hi = 2 * base
    if hi > high:
        hi = high
    if jitter == J_FULL:
        return low, hi
    lo = hi / 2
    if lo < low:
        lo = low
    return lo, hi
