"""Background fetch with stable keys: the seed's ``io.backgroundFetch`` in Python.

``background_fetch(key, url, ...)`` returns a ``concurrent.futures.Future`` at once and
does the request -- with the retries its policy allows -- on a worker thread.  The *key*
makes a fetch idempotent, the way the seed's stable keys make a task step replayable:

* a second call with a key that has a stored result returns that result, without a new
  request (a stored failure raises again);
* calls with a key whose fetch is still running share that one fetch;
* the same key with a different method, URL or body is a ``ValueError``: a key names one
  request, and silently answering another request from the cache would be a bug.

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

import hashlib
import json
import queue
import sqlite3
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from contextlib import closing
from typing import Any, Protocol, TypeAlias

import attrs
import urllib3

import policy

from ._pool import Attempt, Body, RetryError, RetryingPool, _buffer_body
from ._redact import mask_url
from ._state import LocalState, State

__all__ = [
    "BackgroundFetcher",
    "FetchError",
    "FetcherClosed",
    "InMemoryStore",
    "SqliteStore",
    "Store",
    "StoredResult",
    "background_fetch",
    "background_fetch_response",
    "default_fetcher",
]

RetryArg: TypeAlias = "str | policy.Policy | Mapping[str, Any] | None"
TimeoutArg: TypeAlias = "str | float | Mapping[str, Any] | None"


class FetcherClosed(RuntimeError):
    """The fetcher was closed while this fetch was waiting to retry (nothing is stored)."""


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


@attrs.frozen
class StoredResult:
    """What a store keeps for a key: the request's identity hash and the final result."""

    identity: str
    method: str
    url: str  # masked
    status: int | None
    headers: tuple[tuple[str, str], ...]
    body: bytes
    attempts: tuple[dict[str, Any], ...]
    reason: str | None  # the RetryError reason when status is None

    def to_json(self) -> str:
        """Everything but the body, as JSON."""
        return json.dumps(
            {
                "identity": self.identity,
                "method": self.method,
                "url": self.url,
                "status": self.status,
                "headers": [list(h) for h in self.headers],
                "attempts": list(self.attempts),
                "reason": self.reason,
            }
        )

    @classmethod
    def from_json(cls, text: str, body: bytes) -> StoredResult:
        d = json.loads(text)
        return cls(
            identity=d["identity"],
            method=d["method"],
            url=d["url"],
            status=d["status"],
            headers=tuple((str(k), str(v)) for k, v in d["headers"]),
            body=body,
            attempts=tuple(d["attempts"]),
            reason=d["reason"],
        )


class Store(Protocol):
    """Where results are kept, by key."""

    def get(self, key: str) -> StoredResult | None: ...

    def add(self, key: str, result: StoredResult) -> StoredResult:
        """Store ``result`` unless ``key`` has one already; return the stored one."""
        ...

    def delete(self, key: str) -> None: ...


class InMemoryStore:
    """Results in a dict, for the life of the process."""

    def __init__(self) -> None:
        self._data: dict[str, StoredResult] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> StoredResult | None:
        return self._data.get(key)

    def add(self, key: str, result: StoredResult) -> StoredResult:
        with self._lock:
            return self._data.setdefault(key, result)

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)


class SqliteStore:
    """Results in an SQLite file: survives restarts, safe across threads and processes.

    Each operation opens a short-lived connection (WAL journal, a 30 s busy timeout), so
    there is nothing to close and no connection is shared between threads.
    """

    def __init__(self, path: str | Any) -> None:
        self.path = str(path)
        with closing(self._connect()) as db, db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS results ("
                " key TEXT PRIMARY KEY, meta TEXT NOT NULL, body BLOB NOT NULL)"
            )

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    def get(self, key: str) -> StoredResult | None:
        with closing(self._connect()) as db:
            row = db.execute("SELECT meta, body FROM results WHERE key = ?", (key,)).fetchone()
        return None if row is None else StoredResult.from_json(row[0], bytes(row[1]))

    def add(self, key: str, result: StoredResult) -> StoredResult:
        with closing(self._connect()) as db:
            with db:
                db.execute(
                    "INSERT OR IGNORE INTO results (key, meta, body) VALUES (?, ?, ?)",
                    (key, result.to_json(), result.body),
                )
            row = db.execute("SELECT meta, body FROM results WHERE key = ?", (key,)).fetchone()
        return result if row is None else StoredResult.from_json(row[0], bytes(row[1]))

    def delete(self, key: str) -> None:
        with closing(self._connect()) as db, db:
            db.execute("DELETE FROM results WHERE key = ?", (key,))

    def __repr__(self) -> str:
        return f"SqliteStore({self.path!r})"


def _identity(method: str, url: str, body: bytes | None) -> str:
    digest = hashlib.sha256(body or b"").hexdigest()
    return hashlib.sha256(f"{method}\n{url}\n{digest}".encode()).hexdigest()


def _as_text(p: Any) -> str:
    return p if isinstance(p, str) else str(p)


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
        call_timeout, timeout = float(timeout), None
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


class _Workers:
    """A small pool of daemon threads (``ThreadPoolExecutor`` threads block exit)."""

    def __init__(self, max_workers: int) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self._max = max_workers
        self._q: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]] | None] = (
            queue.SimpleQueue()
        )
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._busy = 0

    def submit(self, fut: Future[Any], fn: Callable[[], Any]) -> None:
        with self._lock:
            self._q.put((fut, fn))
            if self._busy + self._q.qsize() > len(self._threads) and len(self._threads) < self._max:
                t = threading.Thread(
                    target=self._run, name=f"background-fetch-{len(self._threads)}", daemon=True
                )
                self._threads.append(t)
                t.start()

    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is None:
                return
            fut, fn = item
            if not fut.set_running_or_notify_cancel():
                continue
            with self._lock:
                self._busy += 1
            try:
                fut.set_result(fn())
            except BaseException as e:
                fut.set_exception(e)
            finally:
                with self._lock:
                    self._busy -= 1

    def shutdown(self, wait: float) -> None:
        with self._lock:
            while True:
                try:
                    item = self._q.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    item[0].cancel()
            for _ in self._threads:
                self._q.put(None)
            threads = list(self._threads)
        for t in threads:
            t.join(wait)


class BackgroundFetcher:
    """Runs fetches on daemon threads and keeps their results by key.

    ``store`` defaults to an ``InMemoryStore``; ``pool`` is a ``urllib3.PoolManager`` to
    share (not closed by ``close()``).  ``on_retry``/``on_giveup`` see every fetch's
    attempts, ``rand`` draws the jitter, and ``state`` (a ``LocalState`` of its own by
    default) holds the pacing holds and retry budgets shared by all its fetches.
    """

    def __init__(
        self,
        store: Store | None = None,
        max_workers: int = 8,
        pool: urllib3.PoolManager | None = None,
        *,
        rand: Callable[[], float] | None = None,
        on_retry: Callable[[Attempt], object] | None = None,
        on_giveup: Callable[[Attempt], object] | None = None,
        state: State | None = None,
    ) -> None:
        self._rand = rand
        self._on_retry = on_retry
        self._on_giveup = on_giveup
        self._state: State = state if state is not None else LocalState()
        self.store: Store = store if store is not None else InMemoryStore()
        self._own_pool = pool is None
        self._pm = pool if pool is not None else urllib3.PoolManager(maxsize=max_workers)
        self._workers = _Workers(max_workers)
        self._lock = threading.Lock()
        self._inflight: dict[str, tuple[str, Future[StoredResult]]] = {}
        self._closed = threading.Event()

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
    ) -> Future[Any]:
        """A future for the parsed JSON body (``None`` if empty or not JSON)."""
        inner = self._start(key, url, method, headers, body, retry, timeout)
        return _derive(inner, _data_of)

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
    ) -> Future[tuple[int, urllib3.HTTPHeaderDict, Any]]:
        """A future for ``(status, headers, data)``."""
        inner = self._start(key, url, method, headers, body, retry, timeout)
        return _derive(inner, _response_of)

    def forget(self, key: str) -> None:
        """Drop the stored result of ``key`` (a running fetch is not affected)."""
        self.store.delete(key)

    def close(self) -> None:
        """Cancel fetches not started, wake sleeping retries, close idle connections."""
        self._closed.set()
        self._workers.shutdown(wait=0.5)
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
    ) -> Future[StoredResult]:
        if not isinstance(key, str) or not key:
            raise ValueError("key must be a non-empty string")
        if self._closed.is_set():
            raise RuntimeError("this BackgroundFetcher is closed")
        method = method.upper()
        data = _buffer_body(body)
        ident = _identity(method, url, data)
        p, call_timeout = compose_policy(retry, timeout)
        with self._lock:
            running = self._inflight.get(key)
            if running is not None:
                _same(key, running[0], ident)
                return running[1]
            stored = self.store.get(key)
            if stored is not None:
                _same(key, stored.identity, ident)
                done: Future[StoredResult] = Future()
                done.set_result(stored)
                return done
            fut: Future[StoredResult] = Future()
            self._inflight[key] = (ident, fut)

        def run() -> StoredResult:
            return self._run(key, ident, method, url, headers, data, p, call_timeout)

        def finished(_f: Future[StoredResult]) -> None:
            with self._lock:
                if self._inflight.get(key, (None, None))[1] is fut:
                    del self._inflight[key]

        fut.add_done_callback(finished)
        self._workers.submit(fut, run)
        return fut

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
        rp = RetryingPool(
            p,
            pool=self._pm,
            sleep=self._sleep,
            rand=self._rand,
            on_retry=self._on_retry,
            on_giveup=self._on_giveup,
            state=self._state,
        )
        masked = mask_url(url)
        try:
            resp = rp.request(method, url, headers=headers, body=body, timeout=call_timeout)
        except RetryError as e:
            result = StoredResult(
                identity=ident,
                method=method,
                url=masked,
                status=None,
                headers=(),
                body=b"",
                attempts=tuple(a.as_dict() for a in e.attempts),
                reason=e.reason,
            )
        else:
            attempts: tuple[Attempt, ...] = resp.attempts  # type: ignore[attr-defined]
            result = StoredResult(
                identity=ident,
                method=method,
                url=masked,
                status=resp.status,
                headers=tuple(
                    (k, v) for k, v in resp.headers.iteritems() if k.lower() != "set-cookie"
                ),
                body=resp.data or b"",
                attempts=tuple(a.as_dict() for a in attempts),
                reason=None,
            )
        finally:
            rp.close()
        return self.store.add(key, result)


def _same(key: str, stored: str, ident: str) -> None:
    if stored != ident:
        raise ValueError(
            f"key {key!r} already names a different request (method, URL or body differ); "
            "use a new key or forget() the old result"
        )


def _json(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def _check(r: StoredResult) -> None:
    attempts = tuple(Attempt.from_dict(a) for a in r.attempts)
    headers = urllib3.HTTPHeaderDict(r.headers)
    n = len(attempts)
    plural = "s" if n != 1 else ""
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


def _data_of(r: StoredResult) -> Any:
    _check(r)
    return _json(r.body)


def _response_of(r: StoredResult) -> tuple[int, urllib3.HTTPHeaderDict, Any]:
    _check(r)
    assert r.status is not None
    return r.status, urllib3.HTTPHeaderDict(r.headers), _json(r.body)


def _derive(inner: Future[StoredResult], convert: Callable[[StoredResult], Any]) -> Future[Any]:
    outer: Future[Any] = Future()

    def done(f: Future[StoredResult]) -> None:
        if f.cancelled():
            outer.cancel()
            return
        exc = f.exception()
        if exc is not None:
            outer.set_exception(exc)
            return
        try:
            outer.set_result(convert(f.result()))
        except BaseException as e:
            outer.set_exception(e)

    inner.add_done_callback(done)
    return outer


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
) -> Future[Any]:
    """Fetch ``url`` in the background; a future for the parsed JSON body (seed semantics)."""
    return default_fetcher().fetch(
        key, url, method=method, headers=headers, body=body, retry=retry, timeout=timeout
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
) -> Future[tuple[int, urllib3.HTTPHeaderDict, Any]]:
    """Like ``background_fetch``, resolving to ``(status, headers, data)``."""
    return default_fetcher().fetch_response(
        key, url, method=method, headers=headers, body=body, retry=retry, timeout=timeout
    )
