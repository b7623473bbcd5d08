"""The retry transports for ``httpx``: ``httpx.Client(transport=RetryTransport(p))``.

``RetryTransport`` and ``AsyncRetryTransport`` subclass ``httpx.BaseTransport`` /
``httpx.AsyncBaseTransport``; importing this module imports httpx (and nothing else of the
transports).  Each attempt goes to the inner transport (``httpx.HTTPTransport()`` /
``httpx.AsyncHTTPTransport()`` by default); what happened becomes a ``policy`` outcome:
a response is ``Response(status, headers)``; ``ConnectError``, ``ConnectTimeout`` are
``connect``; ``ReadTimeout``, ``WriteTimeout``, ``PoolTimeout`` and the attempt's own
bound are ``timeout``; ``RemoteProtocolError``, ``ReadError``, ``WriteError`` are
``reset``; anything else is raised at once, never retried.
"""

from __future__ import annotations

import httpx

import policy

from ._httpx_lib import Lib
from ._httpx_shell import AsyncShell, SyncShell

__all__ = ["AsyncRetryTransport", "RetryTransport", "httpx_outcome"]

_LIB = Lib(httpx)


def httpx_outcome(exc: BaseException) -> policy.Outcome | None:
    """The outcome of a httpx exception (``None``: not a transport failure, do not retry)."""
    return _LIB.outcome(exc)


class RetryTransport(SyncShell, httpx.BaseTransport):
    """A ``httpx`` transport that retries as a policy says: ``httpx.Client(transport=...)``.

    ``transport``: the inner transport (default ``httpx.HTTPTransport()``; closed with this
    one).  ``timeout``: the per-attempt limit (seconds) when the policy has no
    ``timeout=``; by default none, so the request's own timeouts apply, shrunk to the
    deadline.  The limit bounds the whole head (status line, headers, interim responses)
    and the retried bodies this transport reads; the body it hands back is the caller's.
    ``sleep``/``clock``/``rand``, ``on_retry``/``on_giveup`` and ``state`` are as for
    every adapter.  A request's ``extensions["retry_policy"]`` overrides the policy for
    that request (a string, a ``Policy``, or ``None``: no retries).  The attempts are
    on ``transport.attempts_of(response)`` (or of the raised exception); giving up on
    an error re-raises httpx's own exception with the policy's reason added as a note.
    """

    _lib = _LIB


class AsyncRetryTransport(AsyncShell, httpx.AsyncBaseTransport):
    """An async ``httpx`` transport that retries as a policy says:
    ``httpx.AsyncClient(transport=...)``.

    As ``RetryTransport``, with ``httpx.AsyncHTTPTransport()`` as the default inner
    transport and an awaitable ``sleep`` (default ``asyncio.sleep``).  The head of each
    attempt runs under ``asyncio.timeout_at`` of the attempt's limit.
    """

    _lib = _LIB
