"""``cost=``: a function of the request giving its units per rate-limit family.

Every adapter that sees a request takes ``cost=fn(request) -> {"tokens": 900}``; the
attempt loop hands the result to ``decide`` and, with ``pace=on``, to the state (see
``policy.loop.Call``).  ``fn`` is called once per call, before the first attempt, with
the adapter's own request object (httpx/httpx2 ``Request``, requests ``PreparedRequest``,
aiohttp ``ClientRequest``); ``RetryingPool`` and ``BackgroundFetcher``, which have
none, give a ``CostRequest``.

Code that is not one request has no request object: ``retrying(..., cost=)`` takes a
mapping (every call costs it) or ``fn(*args, **kwargs)``, called with the decorated
function's arguments; the loop form ``attempts(..., cost=)`` takes a mapping (each loop
costs it).  ``PolicyRetry`` cannot hold a request, so it refuses ``cost=``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, TypeAlias

from ._check import callable_or_none

__all__ = [
    "ArgsCost",
    "CostFn",
    "CostRequest",
    "args_cost",
    "check_cost_fn",
    "cost_of",
    "fixed_cost",
]

CostFn: TypeAlias = Callable[[Any], "Mapping[str, float] | None"]
#: ``retrying``'s cost, made uniform: a function of the call's ``(args, kwargs)``.
ArgsCost: TypeAlias = Callable[[tuple[Any, ...], dict[str, Any]], "Mapping[str, float] | None"]


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


def fixed_cost(cost: object) -> Mapping[str, float] | None:
    """A constant ``cost=`` (the loop form's): ``None`` or a mapping of header-name words
    to finite numbers >= 0, checked now (a ``TypeError``/``ValueError`` naming it)."""
    if cost is None:
        return None
    if not isinstance(cost, Mapping):
        raise TypeError(f'cost must be a mapping such as {{"tokens": 900}} (got {_shown(cost)})')
    for key, units in cost.items():
        if not isinstance(key, str):
            raise TypeError(f"cost keys are header-name words such as 'tokens' (got {key!r})")
        if (
            isinstance(units, bool)
            or not isinstance(units, int | float)
            or not 0 <= units < math.inf
        ):
            raise ValueError(f"cost[{key!r}] must be a finite number >= 0 (got {_shown(units)})")
    return dict(cost)


def args_cost(cost: object) -> ArgsCost | None:
    """``retrying``'s ``cost=``: ``None``, a mapping (every call costs it) or a callable
    ``fn(*args, **kwargs)`` of the decorated function's arguments."""
    if cost is None or isinstance(cost, Mapping):
        fixed = fixed_cost(cost)
        return None if fixed is None else (lambda args, kwargs: fixed)
    if not callable(cost):
        raise TypeError(
            'cost must be a mapping such as {"tokens": 900} or a callable of the '
            f"function's arguments (got {_shown(cost)})"
        )
    fn = cost
    return lambda args, kwargs: fn(*args, **kwargs)


def _shown(value: object) -> str:
    return (
        repr(value)
        if value is None or type(value) in (int, float, bool)
        else f"a {type(value).__name__}"
    )
