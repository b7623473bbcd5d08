"""Background fetch with stable keys: the seed's ``io.backgroundFetch`` in Python.

``background_fetch(key, url, ...)`` returns a ``concurrent.futures.Future`` at once and
does the request -- with the retries its policy allows -- on a worker thread.  The *key*
makes a fetch idempotent, the way the seed's stable keys make a task step replayable:

* a second call with a key that has a stored result returns that result, without a new
  request (a stored failure raises again);
* calls with a key whose fetch is still running share that one fetch;
* the same key with a different method, URL or body is a ``ValueError``: a key names one
  request, and silently answering another request from the cache would be a bug.

Fetchers sharing a store (other objects, other processes) *claim* a key before sending:
one transaction checks the stored result or the live claim against the request's
fingerprint and writes the claim, so a key's request is sent once while its owner lives
and a different request under it is refused; a claim whose owner died is taken over
(at-least-once after a crash).  ``idempotency_key=True`` sends a stable
``Idempotency-Key`` so that servers can de-duplicate what a crash makes us send twice.

Results live in a store: in memory by default, or ``SqliteStore(path)``, which survives
restarts and is safe across threads and processes (WAL mode, one short connection per
operation).  Stores never hold secrets: the request is identified by a SHA-256 of its
method, URL and body digest; request header values are never stored, error texts mask
query values, and a ``Set-Cookie`` response header is dropped before storing.

Workers are daemon threads and retry waits are ``threading.Event`` waits, so
``close()`` cancels what has not started, wakes sleeping retries (they fail with
``FetcherClosed``) and returns promptly, and pending retries never block interpreter exit.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any

import urllib3

import policy
from policy.loop import Attempt, LocalState, State

from ._check import callable_or_none, positive_int
from ._circuit import CircuitOpenError
from ._costs import CostFn, check_cost_fn
from ._fetch import (
    CircuitOpenFetchError,
    FetchError,
    circuit_fetch_error,
    compose_policy,
    data_of,
    identity,
    response_of,
    same_request,
    stored_result,
    with_idempotency_key,
)
from ._pool import Body, RetryError, RetryingPool, abort
from ._redact import mask_url
from ._store import (
    BUSY,
    CLAIMED,
    DEFAULT_LEASE,
    DONE,
    OTHER,
    InMemoryStore,
    SqliteStore,
    Store,
    StoredResult,
    StoreError,
    new_owner,
)
from ._wire import buffer_body, kept_headers
from ._workers import Workers, derive

__all__ = [
    "BackgroundFetcher",
    "CircuitOpenFetchError",
    "FetchError",
    "FetcherClosed",
    "InMemoryStore",
    "SqliteStore",
    "Store",
    "StoreError",
    "StoredResult",
    "compose_policy",
    "new_owner",
]


class FetcherClosed(RuntimeError):
    """The fetcher was closed while this fetch was running or waiting to retry (nothing is
    stored)."""


class BackgroundFetcher:
    """Runs fetches on daemon threads and keeps their results by key.

    ``store`` defaults to an ``InMemoryStore``; ``pool`` is a ``urllib3.PoolManager`` to
    share (not closed by ``close()``).  ``idempotency_key=True`` sends an
    ``Idempotency-Key`` header derived from the stable key with every fetch (a fetch's
    own ``idempotency_key=`` overrides it).  ``state`` holds the pacing holds and retry
    budgets (``pace=on``, ``budget=``) shared by every fetch of this fetcher (a
    ``LocalState`` of its own by default); ``on_retry``/``on_giveup`` see every fetch's
    attempts, and ``rand`` draws the jitter.  ``cost``: ``fn(request) -> {"tokens":
    900}``, the units a fetch spends per rate-limit family, given a ``CostRequest``
    (method, masked url, headers, body) as ``RetryingPool`` gives it.
    """

    def __init__(
        self,
        store: Store | None = None,
        max_workers: int = 8,
        pool: urllib3.PoolManager | None = None,
        *,
        idempotency_key: bool = False,
        rand: Callable[[], float] | None = None,
        on_retry: Callable[[Attempt], object] | None = None,
        on_giveup: Callable[[Attempt], object] | None = None,
        state: State | None = None,
        cost: CostFn | None = None,
    ) -> None:
        positive_int("max_workers", max_workers)
        self._cost = check_cost_fn(cost)
        self._rand = callable_or_none("rand", rand)
        self._on_retry = callable_or_none("on_retry", on_retry)
        self._on_giveup = callable_or_none("on_giveup", on_giveup)
        self._state: State = state if state is not None else LocalState()
        self.store: Store = store if store is not None else InMemoryStore()
        self._own_pool = pool is None
        self._pm = pool if pool is not None else urllib3.PoolManager(maxsize=max_workers)
        self._workers = Workers(max_workers)
        self._lock = threading.Lock()
        self._inflight: dict[str, tuple[str, Future[StoredResult]]] = {}
        self._closed = threading.Event()
        self._running: set[RetryingPool] = set()  # the pools of the fetches running now
        self._idempotency_key = idempotency_key
        self._owner = new_owner()
        self._claimed = 0  # keys this fetcher holds a claim on (the heartbeat runs while > 0)
        self._heartbeat: threading.Thread | None = None

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def fetch(
        self,
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
        """A future for the parsed JSON body (``None`` if empty or not JSON)."""
        inner = self._start(key, url, method, headers, body, retry, timeout, idempotency_key)
        return derive(inner, data_of)

    def fetch_response(
        self,
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
        """A future for ``(status, headers, data)``."""
        inner = self._start(key, url, method, headers, body, retry, timeout, idempotency_key)
        return derive(inner, response_of)

    def forget(self, key: str) -> None:
        """Drop the stored result of ``key`` (a running fetch is not affected)."""
        self.store.delete(key)

    def close(self) -> None:
        """Cancel fetches not started, stop running ones, wake sleeping retries and waits,
        close idle connections.

        A fetch waiting to retry wakes up, and one in the middle of an attempt has its
        socket shut down; either fails with ``FetcherClosed`` and stores nothing.
        """
        self._closed.set()
        with self._lock:
            running = list(self._running)
        for rp in running:
            abort(rp, FetcherClosed("the fetcher was closed during an attempt"))
        self._workers.shutdown(wait=0.5)
        beat = self._heartbeat
        if beat is not None:
            beat.join(1.0)  # it wakes on the closed event at once
        if self._own_pool:
            self._pm.clear()

    def __enter__(self) -> BackgroundFetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------

    def _start(
        self,
        key: str,
        url: str,
        method: str,
        headers: Mapping[str, Any] | None,
        body: Body,
        retry: Any,
        timeout: Any,
        idempotency: bool | None = None,
    ) -> Future[StoredResult]:
        if not isinstance(key, str) or not key:
            raise ValueError("key must be a non-empty string")
        if self._closed.is_set():
            raise RuntimeError("this BackgroundFetcher is closed")
        method = method.upper()
        data = buffer_body(body)
        ident = identity(method, url, data)
        p, call_timeout = compose_policy(retry, timeout)
        if self._idempotency_key if idempotency is None else idempotency:
            headers = with_idempotency_key(headers, key)
        claim = getattr(self.store, "claim", None)
        with self._lock:
            running = self._inflight.get(key)
            if running is not None:
                same_request(key, running[0], ident)
                return running[1]
            if claim is not None:
                state, stored = claim(key, ident, self._owner)
            else:  # a store without claims: this process's fetches are shared, no more
                stored = self.store.get(key)
                state = CLAIMED if stored is None else DONE
                if stored is not None and stored.identity != ident:
                    state = OTHER
            if state == OTHER:
                same_request(key, "", ident)
            if state == DONE:
                assert stored is not None
                done: Future[StoredResult] = Future()
                done.set_result(stored)
                return done
            fut: Future[StoredResult] = Future()
            self._inflight[key] = (ident, fut)
            if state == CLAIMED and claim is not None:
                self._hold()

        def run() -> StoredResult:
            if state == BUSY:
                stored = self._wait_for(key, ident)
                if stored is not None:
                    return stored
            return self._run(key, ident, method, url, headers, data, p, call_timeout)

        def finished(_f: Future[StoredResult]) -> None:
            with self._lock:
                if self._inflight.get(key, (None, None))[1] is fut:
                    del self._inflight[key]

        fut.add_done_callback(finished)
        self._workers.submit(fut, run)
        return fut

    def _wait_for(self, key: str, ident: str) -> StoredResult | None:
        """Wait while another owner holds ``key``, polling the store with a bounded backoff
        (10 ms doubling to 0.5 s; ``close()`` wakes it): the stored result, or ``None``
        once this fetcher has claimed the key (released unfinished, or its owner gone)."""
        claim = self.store.claim  # type: ignore[attr-defined]
        delay = 0.01
        while True:
            if self._closed.wait(delay):
                raise FetcherClosed("the fetcher was closed while waiting for another's fetch")
            state, stored = claim(key, ident, self._owner)
            if state == DONE:
                return stored  # type: ignore[no-any-return]
            if state == OTHER:
                same_request(key, "", ident)
            if state == CLAIMED:
                with self._lock:
                    self._hold()
                return None
            delay = min(delay * 2, 0.5)

    def _hold(self) -> None:
        """One more claim held (call with the lock): start the heartbeat if needed."""
        self._claimed += 1
        if self._heartbeat is None and hasattr(self.store, "touch"):
            lease = float(getattr(self.store, "lease", DEFAULT_LEASE))
            t = threading.Thread(
                target=self._beat, args=(max(lease / 3, 0.05),), name="fetch-heartbeat", daemon=True
            )
            self._heartbeat = t
            t.start()

    def _unhold(self, key: str) -> None:
        release = getattr(self.store, "release", None)
        if release is not None:
            release(key, self._owner)
        with self._lock:
            self._claimed -= 1

    def _beat(self, every: float) -> None:
        touch = self.store.touch  # type: ignore[attr-defined]
        while not self._closed.wait(every):
            with self._lock:
                holding = self._claimed > 0
            if holding:
                with contextlib.suppress(Exception):  # a busy file: the next beat tries again
                    touch(self._owner)

    def _sleep(self, seconds: float) -> None:
        if self._closed.wait(seconds):
            raise FetcherClosed("the fetcher was closed while waiting to retry")

    def _run(
        self,
        key: str,
        ident: str,
        method: str,
        url: str,
        headers: Mapping[str, Any] | None,
        body: bytes | None,
        p: policy.Policy,
        call_timeout: float | None,
    ) -> StoredResult:
        claimed = hasattr(self.store, "claim")
        rp = RetryingPool(
            p,
            pool=self._pm,
            sleep=self._sleep,
            rand=self._rand,
            on_retry=self._on_retry,
            on_giveup=self._on_giveup,
            state=self._state,
            cost=self._cost,
        )
        masked = mask_url(url)
        with self._lock:
            self._running.add(rp)
        try:
            if self._closed.is_set():  # closed after this fetch started: close() may not
                raise FetcherClosed("the fetcher was closed")  # have seen this pool
            resp = rp.request(method, url, headers=headers, body=body, timeout=call_timeout)
        except CircuitOpenError as e:
            if not e.attempts:
                # Refused before anything was sent: not the key's result (fetching it
                # again sends the request); the caller is told at once.
                if claimed:
                    self._unhold(key)
                raise circuit_fetch_error(e, e.origin, e.retry_after) from e
            half_open = (e.origin, time.time() + e.retry_after)
            result = stored_result(
                ident, method, masked, e.attempts, status=None, reason=e.reason, circuit=half_open
            )
        except RetryError as e:
            result = stored_result(ident, method, masked, e.attempts, status=None, reason=e.reason)
        except BaseException:
            # Nothing to store (closed, a refused header, ...): let another fetch claim it.
            if claimed:
                self._unhold(key)
            raise
        else:
            attempts: tuple[Attempt, ...] = resp.attempts  # type: ignore[attr-defined]
            result = stored_result(
                ident,
                method,
                masked,
                attempts,
                status=resp.status,
                headers=kept_headers(resp.headers.iteritems()),
                body=resp.data or b"",
            )
        finally:
            with self._lock:
                self._running.discard(rp)
            rp.close()
        try:
            return self.store.add(key, result)  # also ends the claim
        finally:
            if claimed:
                with self._lock:
                    self._claimed -= 1
