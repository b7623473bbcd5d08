"""urllib3: the ``Retry(...)`` call that comes closest to a policy.

For when a policy must become plain urllib3 (a library that takes a ``Retry``, a config
that cannot import this package).  What urllib3 2 fixes, and the conversion respects:

* ``total`` counts retries; ``connect=0`` / ``read=0`` turn off retrying a failed
  connection or a broken (or timed out) read.
* The first retry never waits; the n-th (n ≥ 2) waits ``backoff_factor · 2^(n−1)``, capped
  at ``backoff_max``, plus ``random() · backoff_jitter``.  ``backoff_factor = min / 2``
  makes the second retry wait ``min``.
* ``Retry-After`` is honoured on 413, 429 and 503 only, up to ``retry_after_max`` seconds;
  no other rate-limit header is read.
* ``allowed_methods=None`` retries every method.

Only this direction exists: a ``Retry`` object is code, not a config to read.
"""

from __future__ import annotations

from typing import Any

from policy import Jitter

from ._plan import Conversion, backoff_text, fmt_ms, plan_of, selector_text

__all__ = ["to_urllib3"]

#: The statuses urllib3 honours ``Retry-After`` on (``Retry.RETRY_AFTER_STATUS_CODES``).
RETRY_AFTER_STATUSES = frozenset({413, 429, 503})


def to_urllib3(p: Any) -> Conversion:
    """``{"call": "Retry(...)", "kwargs": {...}}`` for ``p``, with what it could not say."""
    plan, lost = plan_of(p)
    lost = [x for x in lost if not x.startswith("methods=")]
    widened: list[str] = []
    kwargs: dict[str, Any] = {"total": plan.retries}
    if plan.retries_anything:
        if not plan.connect:
            kwargs["connect"] = 0
        if not (plan.reset or plan.timeout):
            kwargs["read"] = 0
        elif plan.reset != plan.timeout:
            widened.append(
                f"read={plan.retries} also retries {'timeout' if plan.reset else 'reset'}: "
                "urllib3 counts broken and timed-out reads alike"
            )
        if plan.statuses:
            kwargs["status_forcelist"] = sorted(plan.statuses)
        b = plan.backoff
        if b is not None:
            kwargs["backoff_factor"] = b.min_ms / 2000
            kwargs["backoff_max"] = b.max_ms / 1000
            if b.jitter is not Jitter.NONE:
                kwargs["backoff_jitter"] = b.min_ms / 1000
            lost.append(
                f"{backoff_text(b, plan.retries)} → urllib3's backoff_factor × 2^(n−1): the "
                f"first retry does not wait, then {fmt_ms(b.min_ms)}, ×2 up to "
                f"{fmt_ms(b.max_ms)}"
                + ("" if b.jitter is Jitter.NONE else f", plus random() × {fmt_ms(b.min_ms)}")
            )
        if plan.headers is not None:
            kwargs["respect_retry_after_header"] = True
            kwargs["retry_after_max"] = max(1, plan.headers.max_ms // 1000)
            lost.append(
                "headers(...) → Retry-After on 413, 429 and 503 only: urllib3 reads no "
                "rate-limit reset headers"
            )
        else:
            kwargs["respect_retry_after_header"] = False
        kwargs["allowed_methods"] = None if p.methods is None else list(p.methods)
    if plan.timeout_ms is not None:
        lost.append(
            f"timeout={fmt_ms(plan.timeout_ms)} → pass timeout= to the request: "
            "Retry has no timeout"
        )
    if plan.deadline_ms is not None:
        lost.append(f"deadline={fmt_ms(plan.deadline_ms)} → nothing: Retry has no deadline")
    if plan.budget is not None:
        lost.append(f"budget={float(plan.budget):g}% → nothing: Retry has no budget")
    if plan.statuses & RETRY_AFTER_STATUSES and plan.headers is None:
        codes = selector_text(plan.statuses & RETRY_AFTER_STATUSES)
        lost.append(f"Retry-After on {codes} → ignored (respect_retry_after_header=False)")
    call = "Retry(" + ", ".join(f"{k}={_py(v)}" for k, v in kwargs.items()) + ")"
    return Conversion("urllib3", {"call": call, "kwargs": kwargs}, p, tuple(lost), tuple(widened))


def _py(value: Any) -> str:
    return repr(value)
