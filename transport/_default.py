"""The module-wide fetcher: ``background_fetch`` and ``background_fetch_response``.

The seed's ``io.backgroundFetch`` is a function, not an object; these two functions give
that shape, on one ``BackgroundFetcher`` made on first use (and made again after it was
closed).  Kept apart from the fetcher class, which needs no process-wide state.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from concurrent.futures import Future
from typing import Any

import urllib3

from ._background import BackgroundFetcher
from ._wire import Body

__all__ = ["background_fetch", "background_fetch_response", "default_fetcher"]

_default: BackgroundFetcher | None = None
_default_lock = threading.Lock()


def default_fetcher() -> BackgroundFetcher:
    """The module-wide fetcher ``background_fetch`` uses (a new one after ``close()``)."""
    global _default
    with _default_lock:
        if _default is None or _default.closed:
            _default = BackgroundFetcher()
        return _default


def background_fetch(
    key: str,
    url: str,
    *,
    method: str = "GET",
    headers: Mapping[str, Any] | None = None,
    body: Body = None,
    retry: Any = None,
    timeout: Any = None,
    idempotency_key: bool | None = None,
) -> Future[Any]:
    """Fetch ``url`` in the background; a future for the parsed JSON body (seed semantics)."""
    return default_fetcher().fetch(
        key,
        url,
        method=method,
        headers=headers,
        body=body,
        retry=retry,
        timeout=timeout,
        idempotency_key=idempotency_key,
    )


def background_fetch_response(
    key: str,
    url: str,
    *,
    method: str = "GET",
    headers: Mapping[str, Any] | None = None,
    body: Body = None,
    retry: Any = None,
    timeout: Any = None,
    idempotency_key: bool | None = None,
) -> Future[tuple[int, urllib3.HTTPHeaderDict, Any]]:
    """Like ``background_fetch``, resolving to ``(status, headers, data)``."""
    return default_fetcher().fetch_response(
        key,
        url,
        method=method,
        headers=headers,
        body=body,
        retry=retry,
        timeout=timeout,
        idempotency_key=idempotency_key,
    )
