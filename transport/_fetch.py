"""What every background fetcher shares: a request's identity, its policy, its result.

``BackgroundFetcher`` (threads) and ``CeleryFetcher`` (Celery workers) take the same
arguments and keep the same ``StoredResult``: a key names one request (the SHA-256
``identity`` of its method, URL and body), ``retry=`` and ``timeout=`` compose one
policy, an ``Idempotency-Key`` is derived from the key, and a stored result turns into the
value or the ``FetchError`` a caller sees.  Those pieces live here, with public-in-package
names, so that neither fetcher reaches into the other for them.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

import urllib3

import policy
from policy.loop import Attempt

from ._check import positive_seconds
from ._pool import RetryError
from ._redact import url_credentials
from ._store import StoredResult

__all__ = [
    "CircuitOpenFetchError",
    "FetchError",
    "compose_policy",
    "data_of",
    "idempotency_key",
    "identity",
    "response_of",
    "same_request",
    "stored_result",
    "with_idempotency_key",
]


class FetchError(Exception):
    """A background fetch ended without a 2xx response.

    ``status`` is the final status, or ``None`` after a connection failure or timeout (the
    error is then chained to the ``RetryError``); ``headers`` and ``body`` are the final
    response's; ``attempts`` is the history.  The text never shows header values or
    query values.
    """

    def __init__(
        self,
        status: int | None,
        headers: urllib3.HTTPHeaderDict,
        body: bytes,
        attempts: tuple[Attempt, ...],
        message: str,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers
        self.body = body
        self.attempts = attempts

    def __reduce__(self) -> Any:
        # the exception's own args are only the message: rebuild from the fields, and a
        # subclass's own (CircuitOpenFetchError's origin, retry_after) come back as state
        state = {k: v for k, v in self.__dict__.items() if k not in _FIELDS}
        return (
            type(self),
            (self.status, self.headers, self.body, self.attempts, str(self)),
            state or None,
        )


_FIELDS = frozenset({"status", "headers", "body", "attempts"})


class CircuitOpenFetchError(FetchError):
    """The circuit breaker (``breaker=``) ended a background fetch: its origin failed too
    often lately.  ``origin`` is ``scheme://host:port``; ``retry_after`` the seconds
    until the circuit lets a probe through, from the moment the error was raised.

    A fetch refused before anything was sent is not kept as the key's result: fetching
    the key again sends its request.  One refused after attempts were made (a retry
    whose wait would pass its deadline) is kept, as any failure is.
    """

    def __init__(
        self,
        status: int | None,
        headers: urllib3.HTTPHeaderDict,
        body: bytes,
        attempts: tuple[Attempt, ...],
        message: str,
        origin: str = "",
        retry_after: float = 0.0,
    ) -> None:
        super().__init__(status, headers, body, attempts, message)
        self.origin = origin
        self.retry_after = retry_after


def identity(method: str, url: str, body: bytes | None) -> str:
    """The request's fingerprint: a SHA-256 of method, URL (without userinfo) and body
    digest.  Header values, and the URL's credentials, take no part: never stored."""
    digest = hashlib.sha256(body or b"").hexdigest()
    bare = url_credentials(url, None)[0]
    return hashlib.sha256(
        f"{method}\n{bare}\n{digest}".encode("utf-8", "surrogatepass")
    ).hexdigest()


def idempotency_key(key: str) -> str:
    """The ``Idempotency-Key`` header value for a stable key: its SHA-256, in hex.

    The same in every process and after restarts, so a server can de-duplicate a request
    sent again after a crash; the key itself (which may name a user or an order) is not
    sent.
    """
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def compose_policy(retry: Any = None, timeout: Any = None) -> tuple[policy.Policy, float | None]:
    """The policy for ``retry`` and ``timeout`` (as ``background_fetch`` takes them).

    ``retry``: ``None`` (no retries), a policy string, a ``Policy`` or the seed's retry
    object.  ``timeout``: ``None``, a duration string (``"10s"``), the seed's timeout
    object (``{"durationInMs": ..., "retry": {...}}``) or a number of seconds (a plain
    per-attempt timeout, outside the policy).  Returns the policy and the number, if any.
    """
    call_timeout: float | None = None
    if isinstance(timeout, bool):
        raise TypeError("timeout must be a duration string, a seed timeout object or seconds")
    if isinstance(timeout, int | float):
        call_timeout, timeout = positive_seconds("timeout", timeout), None
    if isinstance(retry, Mapping) and isinstance(timeout, Mapping):
        return policy.from_options(retry=retry, timeout=timeout), call_timeout
    parts: list[str] = []
    only: policy.Policy | None = None
    if retry is not None:
        if isinstance(retry, policy.Policy):
            only = retry
        elif isinstance(retry, str):
            only = policy.parse(retry)
        elif isinstance(retry, Mapping):
            only = policy.from_options(retry=retry)
        else:
            raise TypeError(
                "retry must be a policy string, a Policy or the seed's retry object "
                f"(got {type(retry).__name__})"
            )
        parts.append(str(only))
    if timeout is not None:
        if isinstance(timeout, str):
            parts.append(f"timeout={timeout.strip()}")
        elif isinstance(timeout, Mapping):
            parts.append(str(policy.from_options(timeout=timeout)))
        else:
            raise TypeError(
                "timeout must be a duration string, a seed timeout object or seconds "
                f"(got {type(timeout).__name__})"
            )
        only = None
    if only is not None:
        return only, call_timeout
    return policy.parse(" ".join(parts)), call_timeout


def stored_result(
    ident: str,
    method: str,
    url: str,
    attempts: Iterable[Attempt],
    *,
    status: int | None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    reason: str | None = None,
    circuit: tuple[str, float] | None = None,
) -> StoredResult:
    """What a store keeps of a finished fetch of ``method url`` (``url`` already masked):
    the final response (``status``, the ``headers`` it keeps, ``body``), or, with
    ``status=None``, the ``reason`` the call ended without one (``circuit``: the circuit
    breaker's ``(origin, half-open time)`` when it ended it); and every attempt."""
    history = tuple(a.as_dict() for a in attempts)
    if status is None:
        return StoredResult(ident, method, url, None, (), b"", history, reason or "failed", circuit)
    return StoredResult(ident, method, url, status, tuple(headers), body, history, None)


def with_idempotency_key(headers: Mapping[str, Any] | None, key: str) -> Any:
    """``headers`` plus ``Idempotency-Key`` for ``key``, unless it has one already."""
    pairs = list(
        headers.items() if headers is not None and hasattr(headers, "items") else headers or ()
    )
    if any(str(name).lower() == "idempotency-key" for name, _ in pairs):
        return headers
    return [*pairs, ("Idempotency-Key", idempotency_key(key))]


def same_request(key: str, stored: str, ident: str) -> None:
    if stored != ident:
        raise ValueError(
            f"key {key!r} already names a different request (method, URL or body differ), "
            "stored or being fetched; use a new key or forget() the old result"
        )


def _json(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def _raise_unless_2xx(r: StoredResult) -> None:
    attempts = tuple(Attempt.from_dict(a) for a in r.attempts)
    headers = urllib3.HTTPHeaderDict(r.headers)
    n = len(attempts)
    plural = "s" if n != 1 else ""
    if r.status is None and r.circuit is not None:
        origin, until = r.circuit
        raise circuit_fetch_error(
            RetryError(r.method, r.url, attempts, r.reason or "circuit open"),
            origin,
            max(until - time.time(), 0.0),
        )
    if r.status is None:
        cause = RetryError(r.method, r.url, attempts, r.reason or "failed")
        err = FetchError(None, headers, b"", attempts, str(cause))
        err.__cause__ = cause
        raise err
    if not 200 <= r.status <= 299:
        raise FetchError(
            r.status,
            headers,
            r.body,
            attempts,
            f"{r.method} {r.url} ended with status {r.status} after {n} attempt{plural}",
        )


def data_of(r: StoredResult) -> Any:
    _raise_unless_2xx(r)
    return _json(r.body)


def response_of(r: StoredResult) -> tuple[int, urllib3.HTTPHeaderDict, Any]:
    _raise_unless_2xx(r)
    assert r.status is not None
    return r.status, urllib3.HTTPHeaderDict(r.headers), _json(r.body)


def circuit_fetch_error(
    cause: RetryError, origin: str, retry_after: float
) -> CircuitOpenFetchError:
    """The ``CircuitOpenFetchError`` a caller sees for ``cause`` (chained to it)."""
    err = CircuitOpenFetchError(
        None,
        urllib3.HTTPHeaderDict(),
        b"",
        cause.attempts,
        str(cause),
        origin=origin,
        retry_after=retry_after,
    )
    err.__cause__ = cause
    return err
