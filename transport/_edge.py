"""What every adapter does the same with a hostile or unusual answer.

The urllib3 shells meet these cases inside the single attempt (``_attempt``); the httpx,
httpx2 and aiohttp shells see each response (and each redirect hop) one at a time and ask
here instead, so every adapter draws the same lines:

* a status outside 100-599 is a broken response: ``reset`` (``usable_status``);
* a redirect hop (a 3xx with a ``Location``) the policy has no rule for is passed on to
  the client that follows it: never a give-up, never a hook (``redirect_hop``);
* a redirect from https to http is refused (``downgrade``);
* a body an adapter reads itself stops at ``MAX_BODY`` (decoded bytes).
"""

from __future__ import annotations

from typing import Any, Final

import policy
from policy.loop import Attempt, Call, heard

__all__ = [
    "MAX_BODY",
    "REDIRECTS",
    "downgrade",
    "pass_hop",
    "redirect_hop",
    "too_big",
    "usable_status",
]

#: The largest (decoded) body an adapter reads itself: 64 MiB, as ``RetryingPool``.
MAX_BODY: Final = 64 * 1024 * 1024
REDIRECTS: Final = frozenset((301, 302, 303, 307, 308))


def usable_status(status: object) -> bool:
    """Whether ``status`` is a status a response can have (an int in 100-599)."""
    return type(status) is int and 100 <= status <= 599


def redirect_hop(p: policy.Policy, status: int, location: str | None) -> bool:
    """Whether a response is a redirect hop the policy has no rule for.

    A 3xx with a ``Location`` is a step the client takes, not the call's answer: the
    shell hands it on as accepted (``pass_hop``), without asking the policy (which would
    give up on it: "no rule for 302").  A policy that names the status keeps its say.
    """
    if status not in REDIRECTS or not location:
        return False
    return not p.schedule(policy.Response(status, ()))


def pass_hop(call: Call, outcome: Any, now: float, reason: str = "redirect") -> None:
    """Record the call's last attempt without asking the policy (no log, no hook): a
    redirect hop, or an answer the adapter refused (``reason``).  The breaker and the
    bucket hear of it (``now``: the shell's clock)."""
    call.attempts.append(Attempt(len(call.attempts) + 1, outcome, None, reason, None))
    heard(call, outcome, now)


def downgrade(scheme: str, location: str | None) -> bool:
    """Whether a redirect from a ``scheme`` URL to ``location`` goes from https to http."""
    if scheme.lower() != "https" or not location:
        return False
    return location.strip().lower().startswith("http://")


def too_big(size: int, cap: int | None = MAX_BODY) -> str | None:
    """The give-up reason when a body of ``size`` decoded bytes passes ``cap``."""
    if cap is None or size <= cap:
        return None
    return f"response body over max_body={cap} bytes (decoded); not read further"
