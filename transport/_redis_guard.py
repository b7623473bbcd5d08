"""``RedisState``'s circuit breaker and adaptive bucket (``breaker=``, ``pace=adaptive``).

For now they are kept in the process's own ``LocalState`` (the one ``RedisState`` falls
back on): pacing holds, quotas and budgets are shared through Redis as before, and then
the origin's breaker and bucket of this process decide.  The hash fields reserved for
sharing them (``cb:*``, ``ab:*``, see ``_redis_lua``) are not written yet.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policy.loop._breaker import BreakerConfig
from policy.loop._state import Verdict

__all__ = ["guard_before"]


def guard_before(
    state: Any,
    origin: str,
    now: float,
    pace: bool,
    first: bool,
    cost: Mapping[str, float] | None,
    breaker: BreakerConfig | None,
    adaptive: bool,
) -> Verdict:
    """The shared verdict (holds, quotas, the budget's count); when it lets the request
    go, this process's breaker and bucket."""
    verdict: Verdict = state.before(origin, now, pace=pace, first=first, cost=cost)
    if verdict is not None:
        return verdict
    local: Verdict = state._local.before(
        origin, now, pace=False, first=False, breaker=breaker, adaptive=adaptive
    )
    return local
