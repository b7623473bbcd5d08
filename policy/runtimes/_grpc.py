"""gRPC: a service config's ``methodConfig[].retryPolicy`` (gRFC A6) and ``retryThrottling``.

What A6 fixes, and the conversion respects:

* ``maxAttempts`` counts requests, must be at least 2, and a channel clamps it above 5:
  a policy's retries become ``min(retries + 1, 5)``.
* The n-th retry waits ``random(0, min(initialBackoff · backoffMultiplier^(n−1),
  maxBackoff))``: always jittered, and from zero, so a retry may come sooner than the
  policy's ``min``.  Read back, it is the language's nearest, ``jitter`` (full).
* Status codes are gRPC's, not HTTP's: by gRPC's HTTP-to-gRPC mapping 429, 502, 503 and
  504 are ``UNAVAILABLE`` and every other status ``UNKNOWN``; a connection that fails or
  breaks is ``UNAVAILABLE`` too.
* The method config's ``timeout`` is the call's deadline, over every attempt; A6 has no
  per-attempt timeout, and it reads no rate-limit headers (only its own pushback).
* ``retryThrottling{maxTokens, tokenRatio}``: each failure costs a token, each success
  earns ``tokenRatio``; retries stop below half of ``maxTokens``.  ``budget=20%`` becomes
  ``tokenRatio`` 0.2, the share of retries it lets through in the long run.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import attrs

from policy import Backoff, Jitter

from ._plan import Conversion, Plan, backoff_text, fmt_ms, plan_of, policy_of, selector_text
from ._read import ConfigError, duration_ms, need, proto_duration

__all__ = ["UNAVAILABLE_STATUSES", "from_grpc", "to_grpc"]

#: The HTTP statuses gRPC maps to ``UNAVAILABLE``; every other one is ``UNKNOWN``.
UNAVAILABLE_STATUSES = frozenset({429, 502, 503, 504})
_UNKNOWN_STATUSES = frozenset(range(400, 600)) - UNAVAILABLE_STATUSES
MAX_ATTEMPTS = 5
MAX_TOKENS = 10


def to_grpc(p: Any) -> Conversion:
    """A service config that retries as ``p`` does, as far as A6 can say it."""
    plan, lost = plan_of(p)
    widened: list[str] = []
    config: dict[str, Any] = {}
    method: dict[str, Any] = {"name": [{}]}
    kept = Plan(deadline_ms=plan.deadline_ms)
    if plan.timeout_ms is not None:
        lost.append(
            f"timeout={fmt_ms(plan.timeout_ms)} → nothing: A6 has no per-attempt timeout "
            "(the method's timeout is a deadline over every attempt)"
        )
    if plan.timeout:
        lost.append("timeout (a slow attempt) → not retried: DEADLINE_EXCEEDED ends the call")
    if plan.headers is not None:
        lost.append(
            "headers(...) → the back-off: gRPC reads no rate-limit headers "
            "(only its own grpc-retry-pushback-ms)"
        )
    if plan.retries_anything and not (plan.statuses or plan.connect or plan.reset):
        plan = attrs.evolve(plan, retries=0)
    if plan.retries_anything:
        codes: list[str] = []
        statuses: set[int] = set()
        if plan.statuses & UNAVAILABLE_STATUSES or plan.connect or plan.reset:
            codes.append("UNAVAILABLE")
            statuses |= UNAVAILABLE_STATUSES
            extra = UNAVAILABLE_STATUSES - plan.statuses
            if extra:
                widened.append(f"UNAVAILABLE also stands for {selector_text(extra)}")
            missing = [w for w, on in (("connect", plan.connect), ("reset", plan.reset)) if not on]
            if missing:
                widened.append(
                    f"UNAVAILABLE also stands for {' and '.join(missing)} "
                    "(a connection that fails or breaks)"
                )
        if plan.statuses & _UNKNOWN_STATUSES:
            codes.append("UNKNOWN")
            statuses |= _UNKNOWN_STATUSES
            extra = _UNKNOWN_STATUSES - plan.statuses
            if extra:
                widened.append(
                    f"UNKNOWN stands for every other status: also {selector_text(extra)}"
                )
        attempts = plan.retries + 1
        if attempts > MAX_ATTEMPTS:
            lost.append(
                f"{plan.retries} retries → maxAttempts {MAX_ATTEMPTS} "
                "(gRPC clamps maxAttempts above 5: 4 retries)"
            )
            attempts = MAX_ATTEMPTS
        b = plan.backoff or Backoff()
        if plan.backoff is None:
            lost.append(f"no back-off → {backoff_text(b, attempts - 1)}: A6 requires one")
        initial = max(b.min_ms, 1)
        if b.min_ms == 0:
            lost.append("a 0s minimum delay → initialBackoff 1ms: A6 requires more than 0")
        lost.append(
            f"{backoff_text(b, attempts - 1)} → gRPC's random(0, min({fmt_ms(initial)} × "
            f"{float(b.factor):g}^(n−1), {fmt_ms(b.max_ms)})): a retry may come sooner "
            f"than {fmt_ms(b.min_ms)}"
            + ("" if b.jitter is Jitter.NONE else f" (jitter={b.jitter.value} not kept)")
        )
        method["retryPolicy"] = {
            "maxAttempts": attempts,
            "initialBackoff": proto_duration(initial),
            "maxBackoff": proto_duration(max(b.max_ms, 1)),
            "backoffMultiplier": float(b.factor),
            "retryableStatusCodes": codes,
        }
        kept = attrs.evolve(
            kept,
            retries=attempts - 1,
            statuses=frozenset(statuses),
            connect="UNAVAILABLE" in codes,
            reset="UNAVAILABLE" in codes,
            backoff=_kept_backoff(initial, max(b.max_ms, 1), b.factor),
        )
    if plan.deadline_ms is not None:
        method["timeout"] = proto_duration(plan.deadline_ms)
    config["methodConfig"] = [method]
    if plan.budget is not None:
        ratio = round(plan.budget / 100, 3)
        if ratio <= 0:
            lost.append(f"budget={float(plan.budget):g}% → no throttling: tokenRatio must be > 0")
        else:
            lost.append(
                f"budget={float(plan.budget):g}% → retryThrottling tokenRatio {float(ratio):g}: "
                "a share of successes per channel, not of requests per origin"
            )
            config["retryThrottling"] = {"maxTokens": MAX_TOKENS, "tokenRatio": float(ratio)}
            kept = attrs.evolve(kept, budget=Fraction(str(float(ratio))) * 100)
    return Conversion("grpc", config, policy_of(kept), tuple(lost), tuple(widened))


def _kept_backoff(initial: int, maximum: int, factor: Fraction) -> Backoff:
    """gRPC's back-off read as the language's nearest: jitter (full) over [initial, max]."""
    factor = max(Fraction(1), factor)
    if initial >= maximum:
        return Backoff(min_ms=initial, max_ms=initial, factor=1, jitter=Jitter.FULL)
    return Backoff(min_ms=initial, max_ms=maximum, factor=factor, jitter=Jitter.FULL)


def from_grpc(data: Any) -> Conversion:
    """The policy a service config's first retrying method config stands for."""
    if not isinstance(data, dict):
        raise ConfigError("a gRPC service config is an object with 'methodConfig'")
    methods = data.get("methodConfig", [])
    if not isinstance(methods, list):
        raise ConfigError("methodConfig must be a list")
    lost: list[str] = []
    widened: list[str] = []
    retrying = [m for m in methods if isinstance(m, dict) and "retryPolicy" in m]
    if len(retrying) > 1:
        lost.append(f"{len(retrying)} method configs retry → the first one is read")
    m = (
        retrying[0]
        if retrying
        else (methods[0] if methods and isinstance(methods[0], dict) else {})
    )
    plan = Plan()
    if "timeout" in m:
        plan = attrs.evolve(plan, deadline_ms=duration_ms(m["timeout"], "methodConfig.timeout"))
    rp = m.get("retryPolicy")
    if rp is not None:
        where = "methodConfig.retryPolicy"
        attempts = int(need(rp, "maxAttempts", int, where))
        if attempts < 2:
            raise ConfigError(f"{where}.maxAttempts must be at least 2 (got {attempts})")
        if attempts > MAX_ATTEMPTS:
            lost.append(f"maxAttempts {attempts} → 5: gRPC clamps maxAttempts above 5")
            attempts = MAX_ATTEMPTS
        initial = duration_ms(need(rp, "initialBackoff", str, where), f"{where}.initialBackoff")
        maximum = duration_ms(need(rp, "maxBackoff", str, where), f"{where}.maxBackoff")
        factor = need(rp, "backoffMultiplier", (int, float), where)
        if factor <= 0:
            raise ConfigError(f"{where}.backoffMultiplier must be > 0 (got {factor})")
        if factor < 1:
            lost.append(f"backoffMultiplier {factor} → x1: delays here never shrink")
        codes = need(rp, "retryableStatusCodes", list, where)
        statuses: set[int] = set()
        transport = False
        for code in codes:
            name = str(code).upper()
            if name == "UNAVAILABLE" or code == 14:
                statuses |= UNAVAILABLE_STATUSES
                transport = True
            elif name == "UNKNOWN" or code == 2:
                statuses |= _UNKNOWN_STATUSES
            else:
                lost.append(f"retryable code {code} → not retried: no HTTP status maps to it")
        lost.append("gRPC's random(0, b) back-off → jitter (full) from initialBackoff")
        plan = attrs.evolve(
            plan,
            retries=attempts - 1,
            statuses=frozenset(statuses),
            connect=transport,
            reset=transport,
            backoff=_kept_backoff(max(initial, 1), max(maximum, 1), Fraction(str(factor))),
        )
    throttle = data.get("retryThrottling")
    if isinstance(throttle, dict) and "tokenRatio" in throttle:
        ratio = need(throttle, "tokenRatio", (int, float), "retryThrottling")
        plan = attrs.evolve(plan, budget=Fraction(str(float(ratio))) * 100)
        lost.append(f"retryThrottling tokenRatio {ratio} → budget={float(ratio) * 100:g}%")
    return Conversion("policy", str(policy_of(plan)), policy_of(plan), tuple(lost), tuple(widened))
