"""What the httpx / httpx2 shells do with one answer besides asking the policy.

A status outside 100-599 is a broken response (``reset``; giving up on it raises the
library's ``RemoteProtocolError``); a redirect hop the policy has no rule for is handed to
the client as the call's accepted answer (never a give-up); a redirect from https to
http is refused with the library's ``UnsupportedProtocol``; and every exception a shell
raises carries the policy's reason as a note and the attempts as ``retry_attempts``.
A retried response's body is read (``discard`` / ``adiscard``), at most ``MAX_BODY``
bytes within the attempt's time, so its connection goes back to the pool.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Final

import policy
from policy.loop import Call

from ._edge import MAX_BODY, REDIRECTS, downgrade, pass_hop, redirect_hop, usable_status
from ._httpx_lib import HEAD_END, Lib
from ._mask import mask_url

__all__ = ["adiscard", "broken", "discard", "give_up", "hop", "outcome_of_response"]

_INF: Final = float("inf")


def outcome_of_response(response: Any) -> policy.Outcome:
    status = response.status_code
    if not usable_status(status):  # a broken response, as urllib3 sees it
        return policy.ConnectionReset()
    return policy.Response(status, response.headers.multi_items())


def hop(lib: Lib, p: policy.Policy, call: Call, request: Any, response: Any, now: float) -> Any:
    """A redirect hop: True when the client takes it (the call's accepted answer), the
    error to raise for one from https to http (refused), else False."""
    status = response.status_code
    if status not in REDIRECTS:
        return False
    location = response.headers.get("location")
    if downgrade(request.url.scheme, location):
        reason = f"refused a redirect from https to http ({mask_url(location or '')})"
        pass_hop(call, outcome_of_response(response), now, reason)
        return give_up(lib.http.UnsupportedProtocol(reason, request=request), call, reason)
    if not redirect_hop(p, status, location):
        return False
    pass_hop(call, outcome_of_response(response), now)
    response.extensions["retry_attempts"] = tuple(call.attempts)
    return True


def broken(lib: Lib, request: Any, response: Any) -> Exception:
    """The error for a final response whose status is not 100-599 (``reset``)."""
    return lib.http.RemoteProtocolError(  # type: ignore[no-any-return]
        f"invalid status code {response.status_code}", request=request
    )


def give_up(exc: BaseException, call: Call, reason: str) -> BaseException:
    exc.add_note(f"retry policy: {reason}")
    exc.retry_attempts = tuple(call.attempts)  # type: ignore[attr-defined]
    return exc


def not_sent(lib: Lib, request: Any, url: str, call: Call, reason: str) -> BaseException:
    """The error for a request the loop stopped before sending: ``CircuitOpenError`` (also
    the library's ``ConnectError``) when an open circuit stopped it, else ``ConnectError``."""
    from ._circuit import circuit_error

    found = circuit_error(call, request.method, url, reason, lib.ConnectError)
    if found is not None:
        found.request = request  # type: ignore[attr-defined]
        return give_up(found, call, reason)
    return give_up(lib.ConnectError("not sent: " + reason, request=request), call, reason)


def discard(response: Any, end: float, lib: Lib) -> None:
    """Read a retried response's body (so its connection is reused) and close it; at
    most ``MAX_BODY`` bytes (past it the connection is closed, not drained)."""
    token = HEAD_END.set(end) if end != _INF else None
    size = 0
    try:
        for chunk in response.stream:
            size += len(chunk)
            if size > MAX_BODY or time.monotonic() > end:
                break
    except lib.TransportError:
        pass
    finally:
        if token is not None:
            HEAD_END.reset(token)
        response.close()


async def adiscard(response: Any, end: float | None, lib: Lib) -> None:
    """Read a retried response's body within the attempt's time, then close it."""
    size = 0
    try:
        async with asyncio.timeout_at(end):
            async for chunk in response.stream:
                size += len(chunk)
                if size > MAX_BODY:
                    break
    except (lib.TransportError, TimeoutError):
        pass
    finally:
        await response.aclose()
