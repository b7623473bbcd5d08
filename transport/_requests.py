"""requests: ``RetryAdapter``, an ``HTTPAdapter`` that runs the one attempt loop.

``PolicyRetry`` lives inside urllib3's own retry protocol, which sends before it asks and
cannot hold a request back: no pacing, no retry budget, no per-attempt timeout, a
deadline counted from the first failure.  ``RetryAdapter`` sits one level up, around
``HTTPAdapter.send``, so each attempt is one ``send`` and the whole ``policy.loop.Call``
applies: pacing holds and quotas (``pace=on``), budgets, the deadline, the per-attempt
timeout, hooks, logging and test mode::

    session = requests.Session()
    adapter = transport.RetryAdapter("429:headers() 5xx:backoff(3) pace=on")
    session.mount("http://", adapter)
    session.mount("https://", adapter)

urllib3's own retries are off (``max_retries=0``).  Timeouts belong to the caller: the
request's ``timeout=`` (a number or a ``(connect, read)`` pair) is kept, each part lowered
to the attempt's limit (the policy's ``timeout=``, else the adapter's ``timeout=``,
shrunk to the deadline); like urllib3, they bound each socket operation.  A retried
response's body is read and closed before the wait (keep-alive); the response handed
back is the caller's, with the attempts on ``transport.attempts_of(response)``; with
``sse=on`` an event stream is read ahead to its first event (``_sse_requests``).  Giving up on an
error re-raises requests' own exception with the policy's reason as a note.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from policy.loop import Attempt

from ._adapter_loop import LoopAdapter

__all__ = ["RetryAdapter"]

Hook = Callable[[Attempt], object]


class RetryAdapter(LoopAdapter, HTTPAdapter):
    """A ``requests`` adapter that retries as a policy says: ``session.mount(prefix, ...)``.

    ``policy``: a policy string or ``Policy``.  ``timeout``: the per-attempt limit
    (seconds) when the policy has no ``timeout=`` (default: none; the request's own
    ``timeout=`` applies, shrunk to the deadline).  ``sleep``/``clock``/``rand``,
    ``on_retry``/``on_giveup`` and ``state`` are as for every adapter; other keywords go
    to ``HTTPAdapter`` (``pool_connections``, ``pool_maxsize``, ``pool_block``).
    """

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        kwargs = {"verify": verify, "cert": cert, "proxies": proxies}
        response: requests.Response = self._loop.send(
            requests, super().send, request, stream, timeout, kwargs
        )
        return response
