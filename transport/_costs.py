"""``cost=``: a function of the request giving its units per rate-limit family.

Every adapter that sees a request takes ``cost=fn(request) -> {"tokens": 900}``; the
attempt loop hands the result to ``decide`` and, with ``pace=on``, to the state (see
``policy.loop.Call``).  ``fn`` is called once per call, before the first attempt, with
the adapter's own request object (httpx/httpx2 ``Request``, requests ``PreparedRequest``,
aiohttp ``ClientRequest``); ``RetryingPool``, which has none, gives a ``CostRequest``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, TypeAlias

from ._check import callable_or_none

__all__ = ["CostFn", "CostRequest", "check_cost_fn", "cost_of"]

CostFn: TypeAlias = Callable[[Any], "Mapping[str, float] | None"]


class CostRequest(NamedTuple):
    """What ``RetryingPool`` hands a ``cost=`` function: the request as it will be sent."""

    method: str
    url: str
    headers: Mapping[str, Any]
    content: bytes | None


def check_cost_fn(cost: CostFn | None) -> CostFn | None:
    """``cost`` when it is a callable or ``None``, else a ``TypeError`` naming it."""
    return callable_or_none("cost", cost)


def cost_of(fn: CostFn | None, request: Any) -> Mapping[str, float] | None:
    """``fn(request)`` (``None`` without a function); the loop checks the mapping."""
    return None if fn is None else fn(request)
