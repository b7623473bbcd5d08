"""The words of the attempt loop's log lines and give-up reasons (``_loop.Call``'s)."""

from __future__ import annotations

from typing import Any

from ._attempt import Attempt

__all__ = ["log_fields", "wait_reason"]


def wait_reason(why: str, target: str | None, seconds: float) -> str:
    """Why a call gives up before sending: a hold or a spent quota outlasts the deadline."""
    if why == "hold":
        what = f"the server asked to hold {target}"
    else:
        what = f"the server's quota for {target} is spent"
    return f"{what} for {seconds:.3g}s more; the deadline would pass"


def log_fields(method: str, display: str, attempt: Attempt | None) -> dict[str, Any]:
    """The structured ``extra`` of a log line (what structured logging picks up)."""
    return {
        "retry_method": method,
        "retry_target": display,
        "retry_attempt": attempt.number if attempt is not None else 0,
        "retry_outcome": attempt.label if attempt is not None else "none",
        "retry_delay": attempt.delay if attempt is not None else None,
        "retry_rule": attempt.rule if attempt is not None else None,
        "retry_reason": attempt.reason if attempt is not None else "",
    }
