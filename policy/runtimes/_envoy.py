"""Envoy: a route's ``retry_policy`` (and its ``timeout``) and a cluster's ``retry_budget``.

What Envoy fixes, and the conversion respects:

* ``retry_on`` names conditions, not statuses: ``5xx`` retries every 5xx *and* a request
  that got no answer (connect failure, reset, read timeout); ``reset`` covers resets and
  read timeouts; ``connect-failure`` connect failures; other statuses go in
  ``retriable_status_codes`` under ``retriable-status-codes``.
* ``num_retries`` counts retries (default 1).
* ``retry_back_off`` is always fully jittered with a factor of 2: the n-th retry waits
  ``random(0, (2^n − 1) · base_interval)``, capped at ``max_interval`` (default 10 ×
  base; base 25ms when not set).  Read back, it is ``x2`` with ``jitter`` (full).
* ``rate_limited_retry_back_off`` reads ``reset_headers`` in ``SECONDS`` or
  ``UNIX_TIMESTAMP``, discards a wait longer than ``max_interval`` (default 300s) and backs
  off instead -- the language's ``over=skip`` -- and waits ``random(wait, 1.5 · wait)``.
* ``retry_budget`` (``budget_percent``, ``min_retry_concurrency``) lives in the cluster's
  ``circuit_breakers.thresholds`` and caps *concurrent* retries as a share of active
  requests.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import attrs

from policy import Backoff, Headers, Jitter, Over, ResetFormat

from ._plan import (
    Conversion,
    Plan,
    backoff_text,
    clamp_timeout,
    fmt_ms,
    plan_of,
    policy_of,
)
from ._read import ConfigError, duration_ms, find_all, need, proto_duration

__all__ = ["from_envoy", "parse_retry_on", "retry_on_words", "to_envoy"]

CLASS_5XX = frozenset(range(500, 600))
DEFAULT_BASE_MS = 25
DEFAULT_RATE_LIMITED_MAX_MS = 300_000
MIN_RETRY_CONCURRENCY = 3


def retry_on_words(
    plan: Plan, widened: list[str], numbers: bool = False
) -> tuple[list[str], list[int], Plan]:
    """The ``retry_on`` conditions for ``plan``, the ``retriable_status_codes``, and the plan
    as the runtime will retry it (``numbers``: Istio's bare status codes in ``retryOn``)."""
    words: list[str] = []
    codes = sorted(plan.statuses)
    connect, reset, timeout = plan.connect, plan.reset, plan.timeout
    if plan.statuses >= CLASS_5XX:
        words.append("5xx")
        codes = [c for c in codes if c not in CLASS_5XX]
        extra = [
            w for w, on in (("connect", connect), ("reset", reset), ("timeout", timeout)) if not on
        ]
        if extra:
            widened.append(f"5xx also retries {', '.join(extra)} (a request that got no answer)")
        connect = reset = timeout = True
    if connect and "5xx" not in words:
        words.append("connect-failure")
    if (reset or timeout) and "5xx" not in words:
        words.append("reset")
        if reset != timeout:
            widened.append(
                f"reset also retries {'timeout' if reset else 'reset'} "
                "(resets, disconnects and read timeouts are one condition)"
            )
        reset = timeout = True
    if codes:
        if numbers:
            words.extend(str(c) for c in codes)
        else:
            words.append("retriable-status-codes")
    kept = attrs.evolve(plan, connect=connect, reset=reset, timeout=timeout)
    return words, codes, kept


def parse_retry_on(text: str, codes: list[Any], lost: list[str], numbers: bool = False) -> Plan:
    """The outcomes a ``retry_on`` string (plus ``retriable_status_codes``) retries."""
    statuses: set[int] = set()
    connect = reset = timeout = False
    listed = False
    for word in (w.strip() for w in text.split(",")):
        if not word:
            continue
        if word == "5xx":
            statuses |= CLASS_5XX
            connect = reset = timeout = True
        elif word == "gateway-error":
            statuses |= {502, 503, 504}
        elif word == "reset":
            reset = timeout = True
        elif word in ("refused-stream", "reset-before-request"):
            reset = True
        elif word in ("connect-failure", "http3-post-connect-failure"):
            connect = True
        elif word == "retriable-4xx":
            statuses.add(409)
        elif word == "retriable-status-codes":
            listed = True
        elif numbers and word.isdigit():
            statuses.add(_status(int(word), "retryOn"))
        else:
            lost.append(f"retry_on {word} → not retried: the language has no such outcome")
    if listed:
        for c in codes:
            if isinstance(c, bool) or not isinstance(c, int):
                raise ConfigError(f"retriable_status_codes must be numbers (got {c!r})")
            statuses.add(_status(c, "retriable_status_codes"))
    elif codes:
        lost.append("retriable_status_codes without retriable-status-codes in retry_on → unused")
    below = sorted(s for s in statuses if s < 400)
    if below:
        lost.append(f"statuses {below} → not retried (a runtime plan retries 400-599)")
    return Plan(
        statuses=frozenset(s for s in statuses if s >= 400),
        connect=connect,
        reset=reset,
        timeout=timeout,
    )


def _status(code: int, where: str) -> int:
    if not 100 <= code <= 599:
        raise ConfigError(f"{where}: {code} is not an HTTP status (100-599)")
    return code


def envoy_backoff(base_ms: int, max_ms: int) -> Backoff:
    """Envoy's jittered back-off read as the language's nearest: ``x2`` with ``jitter``."""
    if base_ms >= max_ms:
        return Backoff(min_ms=base_ms, max_ms=base_ms, factor=1, jitter=Jitter.FULL)
    return Backoff(min_ms=base_ms, max_ms=max_ms, factor=2, jitter=Jitter.FULL)


def to_envoy(p: Any) -> Conversion:
    """A route's ``retry_policy`` (with its ``timeout``) and a cluster's ``retry_budget``."""
    plan, lost = plan_of(p)
    widened: list[str] = []
    route: dict[str, Any] = {}
    out: dict[str, Any] = {"route": route}
    kept = Plan(timeout_ms=plan.timeout_ms, deadline_ms=plan.deadline_ms)
    if plan.deadline_ms is not None:
        route["timeout"] = proto_duration(plan.deadline_ms)
    rp: dict[str, Any] = {"num_retries": 0}
    if plan.retries_anything:
        words, codes, kept_on = retry_on_words(plan, widened)
        rp["retry_on"] = ",".join(words)
        rp["num_retries"] = plan.retries
        if codes:
            rp["retriable_status_codes"] = codes
        b = plan.backoff
        if b is None:
            back = envoy_backoff(DEFAULT_BASE_MS, 10 * DEFAULT_BASE_MS)
            lost.append("no back-off → Envoy's default, 25ms base, 250ms max, jittered")
        else:
            base = max(b.min_ms, 1)
            top = max(b.max_ms, base)
            if b.min_ms == 0:
                lost.append("a 0s minimum delay → base_interval 1ms: Envoy requires more than 0")
            rp["retry_back_off"] = {
                "base_interval": proto_duration(base),
                "max_interval": proto_duration(top),
            }
            back = envoy_backoff(base, top)
            lost.append(
                f"{backoff_text(b, plan.retries)} → Envoy's fully jittered back-off, "
                f"random(0, (2^n − 1) × {fmt_ms(base)}) capped at {fmt_ms(top)}"
            )
        head = None
        if plan.headers is not None:
            head, rp["rate_limited_retry_back_off"] = _rate_limited(plan.headers, lost)
        kept = attrs.evolve(
            kept_on,
            backoff=back,
            headers=head,
            timeout_ms=plan.timeout_ms,
            deadline_ms=plan.deadline_ms,
            budget=None,
        )
    if plan.timeout_ms is not None:
        rp["per_try_timeout"] = proto_duration(plan.timeout_ms)
    route["retry_policy"] = rp
    if plan.budget is not None:
        percent = float(plan.budget)
        out["cluster"] = {
            "circuit_breakers": {
                "thresholds": [
                    {
                        "priority": "DEFAULT",
                        "retry_budget": {
                            "budget_percent": {"value": percent},
                            "min_retry_concurrency": MIN_RETRY_CONCURRENCY,
                        },
                    }
                ]
            }
        }
        lost.append(
            f"budget={percent:g}% → the cluster's retry_budget {percent:g}%: a share of active "
            "requests that may be retries at once, not of requests over time"
        )
        kept = attrs.evolve(kept, budget=plan.budget)
    return Conversion("envoy", out, policy_of(kept), tuple(lost), tuple(widened))


def _rate_limited(h: Headers, lost: list[str]) -> tuple[Headers, dict[str, Any]]:
    """``rate_limited_retry_back_off`` for a ``headers`` strategy, and what Envoy keeps of it."""
    resets: list[dict[str, str]] = [{"name": "retry-after", "format": "SECONDS"}]
    name = h.reset_header
    fmt = ResetFormat.SECONDS
    if name is not None and name != "retry-after":
        if h.format is ResetFormat.EPOCH:
            fmt = ResetFormat.EPOCH
        elif h.format is not ResetFormat.SECONDS:
            lost.append(
                f"format={h.format.value} of {name} → SECONDS: Envoy reads seconds or a Unix time"
            )
        resets.append(
            {"name": name, "format": "UNIX_TIMESTAMP" if fmt is ResetFormat.EPOCH else "SECONDS"}
        )
    elif name is None:
        lost.append("headers() → Retry-After only: Envoy reads the reset headers it is given")
        name = "retry-after"
    if h.limit_header or h.remaining_header:
        lost.append("the limit and remaining headers → not read: Envoy reads reset headers only")
    if h.over is not Over.SKIP:
        lost.append(
            f"headers(max={fmt_ms(h.max_ms)}) → rate_limited_retry_back_off max_interval "
            f"{proto_duration(h.max_ms)}: a longer reset backs off instead of giving up (over=skip)"
        )
    lost.append(
        "the header wait → Envoy's random(wait, 1.5 × wait)"
        + (f" (jitter={fmt_ms(h.jitter_ms)} not kept)" if h.jitter_ms else "")
    )
    kept = Headers(reset_header=name, format=fmt, max_ms=h.max_ms, over=Over.SKIP)
    return kept, {"reset_headers": resets, "max_interval": proto_duration(h.max_ms)}


def from_envoy(data: Any) -> Conversion:
    """The policy an Envoy ``retry_policy`` (found anywhere in ``data``) stands for."""
    lost: list[str] = []
    found = list(find_all(data, "retry_policy"))
    if isinstance(data, dict) and "retry_on" in data:
        found = [((), data)]
    if not found:
        raise ConfigError("no retry_policy in this Envoy config")
    if len(found) > 1:
        lost.append(f"{len(found)} retry_policy blocks → the first one is read")
    at, rp = found[0]
    if not isinstance(rp, dict):
        raise ConfigError("retry_policy must be an object")
    plan = parse_retry_on(
        str(rp.get("retry_on", "")), list(rp.get("retriable_status_codes", [])), lost
    )
    retries = rp.get("num_retries", 1)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ConfigError(f"retry_policy.num_retries must be a count (got {retries!r})")
    back = rp.get("retry_back_off")
    if back is None:
        backoff = envoy_backoff(DEFAULT_BASE_MS, 10 * DEFAULT_BASE_MS)
    else:
        base = duration_ms(
            need(back, "base_interval", (str, int, float), "retry_back_off"),
            "retry_back_off.base_interval",
        )
        top = (
            duration_ms(back["max_interval"], "retry_back_off.max_interval")
            if "max_interval" in back
            else 10 * base
        )
        if top < base:
            raise ConfigError("retry_back_off.max_interval must be ≥ base_interval")
        backoff = envoy_backoff(base, top)
    lost.append("Envoy's random(0, (2^n − 1) × base) back-off → x2 with jitter (full)")
    headers = None
    rl = rp.get("rate_limited_retry_back_off")
    if rl is not None:
        resets = need(rl, "reset_headers", list, "rate_limited_retry_back_off")
        names = [
            r
            for r in resets
            if isinstance(r, dict) and str(r.get("name", "")).lower() != "retry-after"
        ]
        if len(names) > 1:
            lost.append(f"{len(names)} reset headers besides retry-after → the first one")
        name, fmt = "retry-after", ResetFormat.SECONDS
        if names:
            name = str(names[0].get("name", "")).lower()
            if names[0].get("format") == "UNIX_TIMESTAMP":
                fmt = ResetFormat.EPOCH
        top = (
            duration_ms(rl["max_interval"], "rate_limited_retry_back_off.max_interval")
            if "max_interval" in rl
            else DEFAULT_RATE_LIMITED_MAX_MS
        )
        headers = Headers(reset_header=name, format=fmt, max_ms=top, over=Over.SKIP)
        lost.append("Envoy's random(wait, 1.5 × wait) → the server's wait, unjittered")
    route_timeout = None
    parent = _parent(data, at)
    if isinstance(parent, dict) and "timeout" in parent:
        route_timeout = duration_ms(parent["timeout"], "route timeout") or None
    budget = None
    for _, rb in find_all(data, "retry_budget"):
        value = rb.get("budget_percent", {}).get("value", 20.0) if isinstance(rb, dict) else 20.0
        budget = Fraction(str(float(value)))
        lost.append(
            f"retry_budget {float(value):g}% (concurrent retries) → budget={float(value):g}%"
        )
        break
    plan = attrs.evolve(
        plan,
        retries=retries,
        backoff=backoff,
        headers=headers,
        timeout_ms=clamp_timeout(duration_ms(rp["per_try_timeout"], "per_try_timeout"), lost)
        if "per_try_timeout" in rp
        else None,
        deadline_ms=route_timeout,
        budget=budget,
    )
    if plan.headers is not None and not plan.retries_anything:
        plan = attrs.evolve(plan, headers=None)
    result = policy_of(plan)
    return Conversion("policy", str(result), result, tuple(lost), ())


def _parent(data: Any, path: tuple[Any, ...]) -> Any:
    here = data
    for part in path[:-1]:
        here = here[part]
    return here
