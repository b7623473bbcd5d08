"""Istio: a VirtualService's ``http[].retries`` (and the route's ``timeout``).

Istio hands the route to Envoy, so ``retryOn`` takes Envoy's conditions (``5xx``,
``reset``, ``connect-failure``, ``retriable-status-codes``...) and, unlike Envoy, bare
status codes (``"503,reset"``).  What Istio fixes, and the conversion respects:

* ``attempts`` counts retries, not requests (Istio's default is 2).
* The interval between retries is Envoy's jittered exponential back-off from
  ``backoff`` (a minimum; 25ms when not set), capped at 10 × that: the language's
  ``backoff(N, B..10B, x2, jitter)``.
* An omitted ``retryOn`` means Istio's defaults, ``connect-failure,refused-stream,
  unavailable,cancelled``: for HTTP, connect failures and refused streams.
* Istio reads no rate-limit headers and has no retry budget in a VirtualService.
"""

from __future__ import annotations

from typing import Any

import attrs

from ._envoy import DEFAULT_BASE_MS, envoy_backoff, parse_retry_on, retry_on_words
from ._plan import Conversion, Plan, backoff_text, clamp_timeout, fmt_ms, plan_of, policy_of
from ._read import ConfigError, duration_ms, find_all, go_duration

__all__ = ["ISTIO_DEFAULT_RETRY_ON", "from_istio", "to_istio"]

ISTIO_DEFAULT_RETRY_ON = "connect-failure,refused-stream,unavailable,cancelled"
ISTIO_DEFAULT_ATTEMPTS = 2


def to_istio(p: Any, name: str = "retry-policy", host: str = "service") -> Conversion:
    """A VirtualService whose one HTTP route retries as ``p`` does, as far as Istio can."""
    plan, lost = plan_of(p)
    widened: list[str] = []
    route: dict[str, Any] = {"route": [{"destination": {"host": host}}]}
    kept = Plan(timeout_ms=plan.timeout_ms, deadline_ms=plan.deadline_ms)
    retries: dict[str, Any] = {"attempts": 0}
    if plan.retries_anything:
        words, _codes, kept_on = retry_on_words(plan, widened, numbers=True)
        retries = {"attempts": plan.retries, "retryOn": ",".join(words)}
        b = plan.backoff
        base = DEFAULT_BASE_MS if b is None else max(b.min_ms, 1)
        if b is not None:
            retries["backoff"] = go_duration(base)
            lost.append(
                f"{backoff_text(b, plan.retries)} → Istio's jittered back-off from "
                f"{fmt_ms(base)}, random(0, (2^n − 1) × {fmt_ms(base)}) capped at "
                f"{fmt_ms(10 * base)}"
            )
        else:
            lost.append("no back-off → Istio's own interval (25ms+, jittered)")
        if plan.headers is not None:
            lost.append("headers(...) → the back-off: Istio reads no rate-limit headers")
        kept = attrs.evolve(
            kept_on,
            backoff=envoy_backoff(base, 10 * base),
            headers=None,
            budget=None,
        )
    if plan.timeout_ms is not None:
        retries["perTryTimeout"] = go_duration(plan.timeout_ms)
    route["retries"] = retries
    if plan.deadline_ms is not None:
        route["timeout"] = go_duration(plan.deadline_ms)
    if plan.budget is not None:
        lost.append(
            f"budget={float(plan.budget):g}% → nothing: a VirtualService has no retry budget"
        )
    service = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": name},
        "spec": {"hosts": [host], "http": [route]},
    }
    return Conversion("istio", service, policy_of(kept), tuple(lost), tuple(widened))


def from_istio(data: Any) -> Conversion:
    """The policy the first HTTP route of a VirtualService (or a bare ``retries``) stands for."""
    lost: list[str] = []
    widened: list[str] = []
    if isinstance(data, dict) and ("attempts" in data or "retryOn" in data):
        route: Any = {"retries": data}
    else:
        routes = [r for _, rs in find_all(data, "http") if isinstance(rs, list) for r in rs]
        routes = [r for r in routes if isinstance(r, dict)]
        if not routes:
            raise ConfigError("no http routes in this VirtualService")
        with_retries = [r for r in routes if "retries" in r]
        if len(with_retries) > 1:
            lost.append(f"{len(with_retries)} routes set retries → the first one is read")
        route = with_retries[0] if with_retries else routes[0]
    retries = route.get("retries")
    if retries is None:
        retries = {}
        widened.append(
            f"no retries → Istio's default: {ISTIO_DEFAULT_ATTEMPTS} retries on "
            "connect-failure,refused-stream"
        )
    if not isinstance(retries, dict):
        raise ConfigError("retries must be an object")
    attempts = retries.get("attempts", ISTIO_DEFAULT_ATTEMPTS)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 0:
        raise ConfigError(f"retries.attempts must be a count (got {attempts!r})")
    if "retryOn" in retries:
        text = retries["retryOn"]
        if not isinstance(text, str):
            raise ConfigError(f"retries.retryOn must be a string (got {text!r})")
    else:
        text = ISTIO_DEFAULT_RETRY_ON
        if route.get("retries") is not None:
            widened.append(
                f"no retryOn → Istio's defaults ({ISTIO_DEFAULT_RETRY_ON}): "
                "connect failures and refused streams"
            )
    quiet: list[str] = []
    plan = parse_retry_on(text, [], quiet, numbers=True)
    lost.extend(x for x in quiet if "unavailable" not in x and "cancelled" not in x)
    base = DEFAULT_BASE_MS
    if "backoff" in retries:
        base = max(duration_ms(retries["backoff"], "retries.backoff"), 1)
    lost.append("Istio's jittered back-off → x2 with jitter (full)")
    timeout = None
    if "perTryTimeout" in retries:
        timeout = clamp_timeout(
            duration_ms(retries["perTryTimeout"], "retries.perTryTimeout"), lost
        )
    deadline = None
    if "timeout" in route:
        deadline = duration_ms(route["timeout"], "timeout") or None
    plan = attrs.evolve(
        plan,
        retries=attempts,
        backoff=envoy_backoff(base, 10 * base),
        timeout_ms=timeout,
        deadline_ms=deadline,
    )
    result = policy_of(plan)
    return Conversion("policy", str(result), result, tuple(lost), tuple(widened))
