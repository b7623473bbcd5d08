"""Linting what a runtime config retries, with the language's codes.

A mesh or RPC config is read back into the policy it stands for (``convert_from``), and
that policy is linted: ``W103`` (a status that does not heal by waiting) and ``W104``
(429 or 503 retried without reading the server's wait) carry over as they are.  Two codes
speak of the runtime itself:

* ``W101`` (no jitter) only where the runtime really does not jitter: Gateway API's
  ``backoff`` is a minimum with no word on jitter.  Envoy's and Istio's back-off
  (``random(0, (2^n − 1) · base)``), Envoy's rate-limited wait (``random(wait, 1.5 ·
  wait)``) and gRPC's (``random(0, b)``) are jittered by default, so they raise none.
* ``W107`` (limits that multiply across layers) from 3 retries on: a mesh retrying 3
  times around an application retrying 3 times sends 16 requests for one call.
"""

from __future__ import annotations

from typing import Any

import attrs

from ._read import ConfigError, find_all

__all__ = ["MULTIPLY_FROM", "Finding", "lint_config"]

#: Retries in one layer from which ``W107`` warns (an application's 3 retries around
#: them make ``4 × (1 + n)`` requests: 16 at 3).
MULTIPLY_FROM = 3
_KEPT = ("W103", "W104")
_WHERE = {
    "envoy": "retry_policy",
    "istio": "retries",
    "gateway": "retry",
    "grpc": "retryPolicy",
}
_RETRIES_WORD = {
    "envoy": "num_retries",
    "istio": "attempts",
    "gateway": "attempts",
    "grpc": "maxAttempts",
}


@attrs.frozen
class Finding:
    """A finding in a runtime config: ``path`` is the key path of the retry block it is
    about (empty when the config has none)."""

    code: str
    severity: str
    message: str
    path: tuple[Any, ...] = ()


def lint_config(data: Any, source: str) -> list[Finding]:
    """Findings for a ``source`` config: what it retries, linted as a policy."""
    import policy

    from . import convert_from

    found = list(find_all(data, _WHERE[source]))
    path = found[0][0] if found else ()
    try:
        conv = convert_from(data, source)
    except ConfigError as exc:
        return [Finding("E002", "error", str(exc), path)]
    p = conv.policy
    out: list[Finding] = []
    for d in policy.lint(p):
        if d.code in _KEPT:
            out.append(Finding(d.code, d.severity, f"{d.message} (read as: {p})", path))
    rules = p.rules
    retries = max((sum(getattr(s, "limit", 0) for s in r.strategies) for r in rules), default=0)
    if p.attempts is not None:
        retries = min(retries, p.attempts - 1)
    word = _RETRIES_WORD[source]
    if retries >= MULTIPLY_FROM:
        shown = retries + 1 if source == "grpc" else retries
        out.append(
            Finding(
                "W107",
                "warning",
                f"{word} {shown}: retries multiply across layers: {retries} retries here around "
                f"an application retrying 3 times is {4 * (retries + 1)} requests for one call; "
                "retry in one layer",
                path,
            )
        )
    if source == "gateway" and rules:
        out.append(
            Finding(
                "W101",
                "warning",
                "retry.backoff is a minimum and Gateway API names no jitter: unless the "
                "implementation jitters (Envoy-based ones do), clients that failed together "
                "retry together",
                path,
            )
        )
    return out
