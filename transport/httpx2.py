"""The retry transports for ``httpx2``: ``httpx2.Client(transport=RetryTransport(p))``.

``RetryTransport`` and ``AsyncRetryTransport`` subclass ``httpx2.BaseTransport`` /
``httpx2.AsyncBaseTransport``; importing this module imports httpx2.  The one shell behind
both libraries is described in ``transport.httpx``: outcomes, timeouts and hooks are the same.
"""

from __future__ import annotations

import httpx2

import policy

from ._httpx_lib import Lib
from ._httpx_shell import AsyncShell, SyncShell

__all__ = ["AsyncRetryTransport", "RetryTransport", "httpx2_outcome"]

_LIB = Lib(httpx2)


def httpx2_outcome(exc: BaseException) -> policy.Outcome | None:
    """The outcome of a httpx2 exception (``None``: not a transport failure, do not retry)."""
    return _LIB.outcome(exc)


class RetryTransport(SyncShell, httpx2.BaseTransport):
    """A ``httpx2`` transport that retries as a policy says: ``httpx2.Client(transport=...)``.

    The same keywords and behaviour as ``transport.httpx.RetryTransport``, with httpx2's
    exceptions and ``httpx2.HTTPTransport()`` as the default inner transport.
    """

    _lib = _LIB


class AsyncRetryTransport(AsyncShell, httpx2.AsyncBaseTransport):
    """The async twin of ``RetryTransport``, as ``transport.httpx.AsyncRetryTransport``."""

    _lib = _LIB
