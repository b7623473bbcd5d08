"""Gateway API: an HTTPRoute rule's ``retry{codes, attempts, backoff}`` and ``timeouts``.

What Gateway API fixes, and the conversion respects:

* ``codes`` are HTTP statuses, 400-599 only; ``attempts`` counts retries.
* ``backoff`` is a *minimum*: an implementation may grow it, cap it and jitter it as it
  likes.  Read back, it is a fixed delay of that minimum (``backoff(N, 1s)``).
* Implementations also retry connection errors (the specification lets them): a
  conversion says so as a widening, and reading one assumes ``connect`` and ``reset``.
* ``timeouts.request`` bounds the whole call, retries included (the language's
  ``deadline=``); ``timeouts.backendRequest`` bounds each attempt (``timeout=``).
* Durations are Gateway API's: whole numbers with ``h``, ``m``, ``s``, ``ms``.
"""

from __future__ import annotations

from typing import Any

import attrs

from policy import Backoff

from ._plan import Conversion, Plan, backoff_text, clamp_timeout, fmt_ms, plan_of, policy_of
from ._read import ConfigError, duration_ms, find_all, go_duration

__all__ = ["from_gateway", "to_gateway"]


def to_gateway(p: Any, name: str = "retry-policy", service: str = "service") -> Conversion:
    """An HTTPRoute whose one rule retries as ``p`` does, as far as Gateway API can say it."""
    plan, lost = plan_of(p)
    widened: list[str] = []
    rule: dict[str, Any] = {"backendRefs": [{"name": service, "port": 80}]}
    kept = Plan(timeout_ms=plan.timeout_ms, deadline_ms=plan.deadline_ms)
    if plan.retries_anything:
        retry: dict[str, Any] = {"attempts": plan.retries}
        if plan.statuses:
            retry["codes"] = sorted(plan.statuses)
        if plan.timeout:
            lost.append(
                "timeout (a slow attempt) → left to the implementation: Gateway API names codes"
            )
        missing = [w for w, on in (("connect", plan.connect), ("reset", plan.reset)) if not on]
        if missing:
            widened.append(f"implementations also retry connection errors: {' and '.join(missing)}")
        b = plan.backoff or Backoff(min_ms=0, max_ms=0)
        retry["backoff"] = go_duration(b.min_ms)
        if not b.fixed or b.jitter.value != "none":
            lost.append(
                f"{backoff_text(b, plan.retries)} → backoff {go_duration(b.min_ms)}, a minimum: "
                "the implementation chooses growth, cap and jitter"
            )
        if plan.headers is not None:
            lost.append("headers(...) → the back-off: Gateway API reads no rate-limit headers")
        rule["retry"] = retry
        kept = attrs.evolve(
            kept,
            retries=plan.retries,
            statuses=plan.statuses,
            connect=True,
            reset=True,
            backoff=Backoff(min_ms=b.min_ms, max_ms=b.min_ms),
        )
    timeouts: dict[str, str] = {}
    if plan.deadline_ms is not None:
        timeouts["request"] = go_duration(plan.deadline_ms)
    if plan.timeout_ms is not None:
        timeouts["backendRequest"] = go_duration(plan.timeout_ms)
        if plan.deadline_ms is not None and plan.timeout_ms > plan.deadline_ms:
            lost.append(
                f"timeout={fmt_ms(plan.timeout_ms)} → {fmt_ms(plan.deadline_ms)}: "
                "backendRequest may not exceed request"
            )
            timeouts["backendRequest"] = timeouts["request"]
            kept = attrs.evolve(kept, timeout_ms=clamp_timeout(plan.deadline_ms, []))
    if timeouts:
        rule["timeouts"] = timeouts
    if plan.budget is not None:
        lost.append(f"budget={float(plan.budget):g}% → nothing: Gateway API has no retry budget")
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name},
        "spec": {"rules": [rule]},
    }
    return Conversion("gateway", route, policy_of(kept), tuple(lost), tuple(widened))


def from_gateway(data: Any) -> Conversion:
    """The policy the first retrying rule of an HTTPRoute (or a bare ``retry``) stands for."""
    lost: list[str] = []
    widened: list[str] = []
    if isinstance(data, dict) and ("codes" in data or "attempts" in data) and "rules" not in data:
        rule: Any = {"retry": data}
    else:
        rules = [r for _, rs in find_all(data, "rules") if isinstance(rs, list) for r in rs]
        rules = [r for r in rules if isinstance(r, dict)]
        if not rules:
            raise ConfigError("no rules in this HTTPRoute")
        retrying = [r for r in rules if "retry" in r]
        if len(retrying) > 1:
            lost.append(f"{len(retrying)} rules retry → the first one is read")
        rule = retrying[0] if retrying else rules[0]
    plan = Plan()
    retry = rule.get("retry")
    if retry is not None:
        if not isinstance(retry, dict):
            raise ConfigError("retry must be an object")
        codes = retry.get("codes", [])
        if not isinstance(codes, list) or not all(
            isinstance(c, int) and not isinstance(c, bool) and 400 <= c <= 599 for c in codes
        ):
            raise ConfigError(f"retry.codes must be a list of statuses 400-599 (got {codes!r})")
        if "attempts" in retry:
            attempts = retry["attempts"]
            if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
                raise ConfigError(f"retry.attempts must be at least 1 (got {attempts!r})")
        else:
            attempts = 1
            lost.append("no attempts → 1 retry: the implementation decides")
        if "backoff" in retry:
            back = duration_ms(retry["backoff"], "retry.backoff")
        else:
            back = 0
            lost.append("no backoff → no wait: the implementation decides")
        lost.append("backoff, a minimum → a fixed delay of that minimum")
        widened.append("implementations also retry connection errors: connect and reset")
        plan = Plan(
            retries=attempts,
            statuses=frozenset(codes),
            connect=True,
            reset=True,
            backoff=Backoff(min_ms=back, max_ms=back),
        )
    timeouts = rule.get("timeouts") or {}
    if not isinstance(timeouts, dict):
        raise ConfigError("timeouts must be an object")
    if "request" in timeouts:
        plan = attrs.evolve(
            plan, deadline_ms=duration_ms(timeouts["request"], "timeouts.request") or None
        )
    if "backendRequest" in timeouts:
        ms = duration_ms(timeouts["backendRequest"], "timeouts.backendRequest")
        plan = attrs.evolve(plan, timeout_ms=clamp_timeout(ms, lost))
    result = policy_of(plan)
    return Conversion("policy", str(result), result, tuple(lost), tuple(widened))
