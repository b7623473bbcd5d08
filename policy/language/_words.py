"""Durations, status sets and settings in words, for messages, lint findings and the CLI.

``seconds_text(90.0)`` is ``1.5m``; ``statuses_text([500, 501, 504])`` is ``500-501, 504``;
``budget_text`` and ``pace_text`` say what ``budget=`` and ``pace=on`` mean in one line.
Every floor above the language may use them (lint, explain, simulate, the demo).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from fractions import Fraction

from ._ast import BUDGET_FLOOR, BUDGET_WINDOW_S
from ._policy import Policy
from ._render import duration, percent

__all__ = ["budget_text", "pace_text", "seconds_text", "statuses_text"]


def statuses_text(statuses: Iterable[int]) -> str:
    """``[500, 501, 502, 504]`` → ``'500-502, 504'``."""
    runs: list[list[int]] = []
    for s in sorted(statuses):
        if runs and runs[-1][1] == s - 1:
            runs[-1][1] = s
        else:
            runs.append([s, s])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def budget_text(pct: Fraction) -> str:
    """What ``budget=pct`` means in requests, in one line (``policy check``, ``explain``)."""
    per100 = percent(pct)[:-1]
    per1000 = BUDGET_FLOOR + pct * 10
    shown = percent(per1000)[:-1]
    return (
        f"budget={percent(pct)}: at most {BUDGET_FLOOR} + {per100} retries per 100 requests "
        f"per origin in any {BUDGET_WINDOW_S:g}s ({shown} per 1000); a retry past it gives up"
    )


def pace_text(p: Policy) -> str:
    """What ``pace=on`` reads in a policy with no ``headers`` strategy."""
    return (
        "pace=on: no rule uses headers(), so pacing reads its defaults (Retry-After on 429 "
        "and 503, RateLimit, RateLimit-Remaining/-Reset, X-RateLimit-Remaining/-Reset) and "
        f"holds an origin at most {duration(15 * 60_000)}; add 429:headers(...) to choose "
        "the family and max"
    )


def seconds_text(s: float) -> str:
    """Seconds in the policy's notation (``90.0`` → ``1.5m``), to the millisecond below a
    minute, to a tenth of a minute below an hour and to a hundredth of an hour above
    (``~`` marks a rounded value: ``4522.37`` → ``~75.4m``)."""
    if math.isinf(s):
        return "forever"
    ms = round(s * 1000)
    step = 36_000 if ms >= 3_600_000 else 6000 if ms >= 60_000 else 1
    rounded = round(ms / step) * step
    return ("~" if rounded != ms else "") + duration(rounded)
