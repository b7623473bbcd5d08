"""Request costs (SPEC §2.4 step 3): how many units of a header family one request spends.

A cost is a mapping from a word to units, such as ``{"tokens": 900}``.  A key applies to
every family whose header names contain it as a dash-separated word: ``tokens`` covers
``x-ratelimit-remaining-tokens``, ``anthropic-ratelimit-tokens-remaining`` and
``anthropic-ratelimit-input-tokens-remaining``.  A family no key names costs 1, as do
``headers()``'s default families and the IETF ``RateLimit`` field.  When several keys
name one family, the largest cost applies (each limit must admit the request).

``Quota`` is what ``Policy.quotas`` reports of one family, so that a pacer can count
costs, not requests, against it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import NamedTuple

__all__ = ["Cost", "Quota", "check_cost", "family_cost", "words_of"]

Cost = Mapping[str, float]
"""Units per family word: ``{"tokens": 900}``."""


def words_of(names: Iterable[str | None]) -> frozenset[str]:
    """The dash-separated words the header names of one family share (lower case; ``None``
    names skipped): ``x``, ``ratelimit``, ``tokens`` for ``x-ratelimit-limit-tokens``,
    ``x-ratelimit-remaining-tokens`` and ``x-ratelimit-reset-tokens`` -- the words that
    tell ``limit``, ``remaining`` and ``reset`` apart name no family.  Empty if none."""
    sets = [frozenset(w for w in name.lower().split("-") if w) for name in names if name]
    return frozenset.intersection(*sets) if sets else frozenset()


def check_cost(cost: object) -> Cost:
    """``cost`` itself if it is a mapping of words to finite numbers ≥ 0, else a clear error."""
    if not isinstance(cost, Mapping):
        raise TypeError(f'cost must be a mapping such as {{"tokens": 900}} (got {cost!r})')
    for key, units in cost.items():
        if not isinstance(key, str):
            raise TypeError(f"cost keys are header-name words such as 'tokens' (got {key!r})")
        if (
            isinstance(units, bool)
            or not isinstance(units, int | float)
            or not (0 <= units < math.inf)
        ):
            raise ValueError(f"cost[{key!r}] must be a finite number >= 0 (got {units!r})")
    return cost


def family_cost(words: frozenset[str], cost: Cost | None) -> float | None:
    """The units a request of ``cost`` spends in the family of ``words``; ``None`` when no
    key names the family (it then counts 1, read as before costs existed)."""
    if not cost or not words:
        return None
    check_cost(cost)
    found: float | None = None
    for key, units in cost.items():
        if key.lower() in words and (found is None or units > found):
            found = float(units)
    return found


class Quota(NamedTuple):
    """One header family's quota as a response reports it (``Policy.quotas``).

    ``family`` is the family's ``remaining`` header name (its key); ``remaining`` the
    units left (as sent: ``30`` tokens, ``0.5``); ``until`` the wall-clock time the
    quota resets; ``words`` the dash-separated words of the family's header names
    (empty for ``headers()``'s default families, which every request spends 1 of).
    """

    family: str
    remaining: float
    until: float
    words: frozenset[str]

    def cost(self, cost: Cost | None) -> float:
        """The units a request of ``cost`` spends of this quota (1 unless a key names it)."""
        units = family_cost(self.words, cost)
        return 1.0 if units is None else units
