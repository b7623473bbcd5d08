"""The keywords ``retrying`` and the loop form ``attempts`` share, checked at once.

A hook that is not callable is a ``TypeError`` at decoration, not at the first call; a
policy with no ``error`` rule cannot retry what ``on=`` lists (a ``ValueError``).
"""

from __future__ import annotations

import policy
from policy.loop import Call

from ._check import callable_or_none, exception_types, required_callable

__all__ = ["check_keywords", "give_up"]


def check_keywords(
    p: policy.Policy,
    *,
    on: object,
    classify: object,
    result: object,
    method: object,
    sleep: object,
    clock: object,
    rand: object,
    on_retry: object,
    on_giveup: object,
) -> tuple[type[BaseException], ...]:
    """``retrying``'s and ``attempts``' keywords checked at once (a ``TypeError`` or
    ``ValueError`` now, not at the first call); the ``on=`` classes as a tuple."""
    on_types = exception_types("on", on)
    if on_types and not _has_error_rule(p):
        names = ", ".join(t.__name__ for t in on_types)
        raise ValueError(
            f"on=({names}) can never be retried: the policy {str(p)!r} has no 'error' rule "
            "(the exceptions listed in on= are the 'error' outcome); add one, e.g. "
            "'error:backoff(3,100ms..1s,jitter)'"
        )
    callable_or_none("classify", classify)
    callable_or_none("result", result)
    callable_or_none("sleep", sleep)
    required_callable("clock", clock)
    callable_or_none("rand", rand)
    callable_or_none("on_retry", on_retry)
    callable_or_none("on_giveup", on_giveup)
    if not isinstance(method, str):
        raise TypeError(f"method must be a str such as 'GET' (got {type(method).__name__})")
    return on_types


def _has_error_rule(p: policy.Policy) -> bool:
    return any(isinstance(m, policy.OnError) for r in p.rules for m in r.matchers)


def give_up(exc: BaseException, call: Call, reason: str) -> None:
    exc.add_note(f"retry policy: {reason}")
    exc.retry_attempts = tuple(call.attempts)  # type: ignore[attr-defined]
