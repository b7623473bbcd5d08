"""One way to read the attempt history: ``transport.attempts_of(obj)``.

Every adapter leaves the attempts where its client lets it: urllib3's response from
``RetryingPool`` (``.attempts``), httpx's and httpx2's ``response.extensions``, an
attribute on an aiohttp or requests response, an attribute on an exception given up on,
the history of a ``PolicyRetry`` on urllib3's ``response.retries``, ``RetryError`` and
``FetchError``, a background fetch's ``StoredResult``, the loop form.  This module finds
them, so that a user never needs to know which.  No client library is imported here.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from policy.loop import Attempt

from ._store import StoredResult

__all__ = ["attempts_of"]

#: How deep ``attempts_of`` follows ``.response`` / ``.raw`` (an SDK's error -> its
#: httpx2 response; requests' ``HTTPError`` -> its response -> urllib3's response).
_DEPTH = 2


def attempts_of(obj: object) -> tuple[Attempt, ...]:
    """The attempts behind a response, an exception or a loop, whichever adapter made it.

    ``obj`` is what a retrying client handed back: a response (urllib3 from
    ``RetryingPool`` or through ``PolicyRetry``, requests through ``RetryAdapter`` or
    ``PolicyRetry``, httpx, httpx2, aiohttp), an exception raised on giving up (the
    client's own, an SDK's ``APIStatusError``, ``RetryError``, ``FetchError``, what
    ``retrying`` or the loop form re-raised), a ``StoredResult``, or the object
    ``transport.attempts(p)`` returned, after its loop.

    The attempts are those the policy decided on, in order, each with its outcome, wait
    and reason; an adapter that sees the final response records it too.  Something no
    retrying adapter handled carries no history: that is a ``ValueError``, never an empty
    tuple that would read as "no attempt was made".
    """
    found = _find(obj, _DEPTH)
    if found is None:
        raise ValueError(
            f"this {type(obj).__name__} carries no attempts: it did not come through a "
            "retrying adapter (or the policy never saw it)"
        )
    return found


def _find(obj: object, depth: int) -> tuple[Attempt, ...] | None:
    loop = sys.modules.get("transport._loopform")
    if loop is not None and isinstance(obj, loop.Attempts):
        return obj.history if obj.started else None
    if isinstance(obj, StoredResult):
        return tuple(Attempt.from_dict(a) for a in obj.attempts)
    for name in ("retry_attempts", "attempts"):
        found = _history(_attribute(obj, name))
        if found is not None:
            return found
    extensions = _attribute(obj, "extensions")  # httpx, httpx2
    if isinstance(extensions, Mapping):
        found = _history(extensions.get("retry_attempts"))
        if found is not None:
            return found
    retries = _attribute(obj, "retries")  # urllib3's response, sent through PolicyRetry
    urllib3_shell = sys.modules.get("transport._urllib3")
    if urllib3_shell is not None and isinstance(retries, urllib3_shell.PolicyRetry):
        history: tuple[Attempt, ...] = retries.attempts
        return history
    if depth > 0:
        for name in ("response", "raw"):
            inner = _attribute(obj, name)
            if inner is not None and inner is not obj:
                found = _find(inner, depth - 1)
                if found is not None:
                    return found
    return None


def _attribute(obj: object, name: str) -> Any:
    """``obj.name``, or ``None`` when reading it fails in any way (a property that raises)."""
    try:
        return getattr(obj, name, None)
    except Exception:
        return None


def _history(value: object) -> tuple[Attempt, ...] | None:
    if isinstance(value, tuple) and all(type(a) is Attempt for a in value):
        return value
    return None
