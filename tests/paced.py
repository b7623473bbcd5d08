"""Test helpers for the fleet state: a policy with pacing and a budget switched on.

``pace=on`` and ``budget=`` are not spelled in the policy language on every branch yet;
until they are, tests drive ``Call``'s pacing and budget hooks through this small
subclass (a hold from ``X-RateLimit-Remaining: 0`` until 20 ms past ``X-RateLimit-Reset``,
an epoch time, or from ``Retry-After`` seconds; a fixed budget ratio).  It is importable
from a subprocess (the cross-process tests put ``tests/`` on ``sys.path``).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import policy

__all__ = ["paced"]


class _Paced(policy.Policy):
    _budget_ratio: Fraction | None = None

    @property
    def pace(self) -> bool:
        return True

    @property
    def budget(self) -> Fraction | None:
        return self._budget_ratio

    def hold(self, response: Any, now: float) -> float | None:
        headers = response.headers
        try:
            if headers.get("x-ratelimit-remaining") == "0" and "x-ratelimit-reset" in headers:
                return float(headers["x-ratelimit-reset"]) + 0.02  # an epoch time (+20 ms)
            value = headers.get("retry-after")
            return None if value is None else now + float(value)
        except ValueError:
            return None


def paced(text: str, budget: Fraction | None = None) -> policy.Policy:
    """``text`` parsed, with pacing on (holds from ``Retry-After``) and ``budget``."""

    class P(_Paced):
        _budget_ratio = budget

    return P(items=policy.parse(text).items)
