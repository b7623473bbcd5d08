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
import hashlib
import json
import os
import queue
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from contextlib import closing
from typing import Any, Protocol, TypeAlias

import attrs
import urllib3

import policy
from policy.loop._state import LocalState, State

from ._check import callable_or_none, positive_int, positive_seconds
from ._pool import Attempt, Body, RetryError, RetryingPool, _buffer_body
from ._redact import mask_url, url_credentials

__all__ = [
    "BackgroundFetcher",
    "FetchError",
    "FetcherClosed",
    "InMemoryStore",
    "SqliteStore",
    "Store",
    "StoreError",
    "StoredResult",
    "background_fetch",
    "background_fetch_response",
    "default_fetcher",
]

RetryArg: TypeAlias = "str | policy.Policy | Mapping[str, Any] | None"
TimeoutArg: TypeAlias = "str | float | Mapping[str, Any] | None"


class FetcherClosed(RuntimeError):
    """The fetcher was closed while this fetch was running or waiting to retry (nothing is
    stored)."""


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
    """Where results are kept, by key.

    ``get``, ``add`` and ``delete`` are all a store needs.  A store that also has
    ``claim``, ``release`` and ``touch`` (both built-in stores do) lets fetchers in
    different threads, objects or processes that share it send each key's request once:
    see ``SqliteStore``.
    """

    def get(self, key: str) -> StoredResult | None: ...

    def add(self, key: str, result: StoredResult) -> StoredResult:
        """Store ``result`` unless ``key`` has one already; return the stored one."""
        ...

    def delete(self, key: str) -> None: ...


#: How long a claim lives without a heartbeat before another process may take it over.
DEFAULT_LEASE = 30.0

# Claim states returned by ``claim``.
DONE, CLAIMED, BUSY, OTHER = "done", "claimed", "busy", "other"

_HOST = socket.gethostname()


def _process_start(pid: int) -> str:
    """The start time of process ``pid`` (clock ticks since boot, Linux), or ''."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return ""
    fields = stat[stat.rfind(b")") + 2 :].split()
    return fields[19].decode() if len(fields) > 19 and fields[0] != b"Z" else ""


def new_owner() -> str:
    """A claim owner: host, pid and start time of this process, and a unique id."""
    pid = os.getpid()
    return f"{_HOST}\t{pid}\t{_process_start(pid)}\t{uuid.uuid4().hex}"


def _pid_alive(pid: int, start: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    except OSError:
        return False
    if start:
        # A zombie (killed, not yet reaped) or a new process that reuses the pid: dead.
        return _process_start(pid) == start
    return True


def _alive(owner: str, heartbeat: float, now: float, lease: float) -> bool:
    """Whether the claim of ``owner``, last renewed at ``heartbeat``, still holds.

    A claim expires when its heartbeat is older than the lease (a crashed, frozen or
    partitioned owner, on any host); on this host, the owner's process being gone (by
    pid and start time) ends it at once.
    """
    if now - heartbeat > lease:
        return False
    host, pid, start, _ = [*owner.split("\t"), "", "", "", ""][:4]
    if host == _HOST and pid.isdigit() and int(pid) != os.getpid():
        return _pid_alive(int(pid), start)
    return True


class InMemoryStore:
    """Results in a dict, for the life of the process (shareable between fetchers)."""

    def __init__(self, *, lease: float = DEFAULT_LEASE) -> None:
        self.lease = positive_seconds("lease", lease)
        self._data: dict[str, StoredResult] = {}
        self._claims: dict[str, tuple[str, str, float]] = {}  # key -> identity, owner, beat
        self._lock = threading.Lock()

    def get(self, key: str) -> StoredResult | None:
        return self._data.get(key)

    def add(self, key: str, result: StoredResult) -> StoredResult:
        with self._lock:
            self._claims.pop(key, None)
            return self._data.setdefault(key, result)

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)

    def claim(self, key: str, identity: str, owner: str) -> tuple[str, StoredResult | None]:
        """Claim ``key`` for ``identity``: ``DONE`` (the result), ``CLAIMED``, ``BUSY`` or
        ``OTHER`` (the key's result or live claim is for another request)."""
        with self._lock:
            stored = self._data.get(key)
            if stored is not None:
                return (DONE if stored.identity == identity else OTHER), stored
            now = time.time()
            held = self._claims.get(key)
            if held is not None and held[1] != owner and _alive(held[1], held[2], now, self.lease):
                return (BUSY if held[0] == identity else OTHER), None
            self._claims[key] = (identity, owner, now)
            return CLAIMED, None

    def release(self, key: str, owner: str) -> None:
        with self._lock:
            held = self._claims.get(key)
            if held is not None and held[1] == owner:
                del self._claims[key]

    def touch(self, owner: str) -> None:
        now = time.time()
        with self._lock:
            for key, (identity, o, _) in list(self._claims.items()):
                if o == owner:
                    self._claims[key] = (identity, o, now)


class StoreError(OSError):
    """A result store that cannot be opened: ``SqliteStore`` names the path and why.

    An ``OSError``, as a file that cannot be opened is; ``path`` is the file and
    ``problem`` SQLite's own words.
    """

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        hint = ""
        parent = os.path.dirname(os.path.abspath(path)) if path else ""
        if parent and not os.path.isdir(parent):
            hint = f" (the directory {parent!r} does not exist)"
        super().__init__(f"cannot open the result store {path!r}: {problem}{hint}")

    def __reduce__(self) -> Any:
        return (type(self), (self.path, self.problem))


class SqliteStore:
    """Results in an SQLite file: survives restarts, safe across threads and processes.

    Each operation opens a short-lived connection (WAL journal, a 30 s busy timeout), so
    there is nothing to close and no connection is shared between threads.

    Fetchers sharing the file (in one process or several) send each key's request once:
    the first *claims* the key -- in one ``BEGIN IMMEDIATE`` transaction it checks that
    no result and no live claim exists, or that they are for the same request (method,
    URL and body), and writes a claim row -- and the others wait for its result.  A
    claim names its owner (host, pid, process start time) and is renewed by a heartbeat;
    it ends when the result is stored, when the owner releases it, when the owner's
    process is gone (same host), or when no heartbeat came for ``lease`` seconds.
    """

    def __init__(self, path: str | Any, *, lease: float = DEFAULT_LEASE) -> None:
        self.path = os.fspath(path) if isinstance(path, os.PathLike) else str(path)
        self.lease = positive_seconds("lease", lease)
        try:
            with closing(self._connect()) as db, db:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute(
                    "CREATE TABLE IF NOT EXISTS results ("
                    " key TEXT PRIMARY KEY, meta TEXT NOT NULL, body BLOB NOT NULL)"
                )
                db.execute(
                    "CREATE TABLE IF NOT EXISTS claims ("
                    " key TEXT PRIMARY KEY, identity TEXT NOT NULL, owner TEXT NOT NULL,"
                    " heartbeat REAL NOT NULL)"
                )
        except sqlite3.Error as e:
            raise StoreError(self.path, str(e)) from e

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
                db.execute("DELETE FROM claims WHERE key = ?", (key,))
            row = db.execute("SELECT meta, body FROM results WHERE key = ?", (key,)).fetchone()
        return result if row is None else StoredResult.from_json(row[0], bytes(row[1]))

    def delete(self, key: str) -> None:
        with closing(self._connect()) as db, db:
            db.execute("DELETE FROM results WHERE key = ?", (key,))

    def claim(self, key: str, identity: str, owner: str) -> tuple[str, StoredResult | None]:
        """Claim ``key`` for ``identity`` atomically: ``DONE`` (the stored result),
        ``CLAIMED`` (send it), ``BUSY`` (a live owner is sending it) or ``OTHER`` (the
        key's result or live claim is for another request)."""
        with closing(self._connect()) as db:
            db.isolation_level = None  # explicit transaction below
            db.execute("BEGIN IMMEDIATE")
            try:
                out = self._claim(db, key, identity, owner)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        return out

    def _claim(
        self, db: sqlite3.Connection, key: str, identity: str, owner: str
    ) -> tuple[str, StoredResult | None]:
        row = db.execute("SELECT meta, body FROM results WHERE key = ?", (key,)).fetchone()
        if row is not None:
            stored = StoredResult.from_json(row[0], bytes(row[1]))
            return (DONE if stored.identity == identity else OTHER), stored
        held = db.execute(
            "SELECT identity, owner, heartbeat FROM claims WHERE key = ?", (key,)
        ).fetchone()
        now = time.time()
        if held is not None and held[1] != owner and _alive(held[1], held[2], now, self.lease):
            return (BUSY if held[0] == identity else OTHER), None
        db.execute(
            "INSERT OR REPLACE INTO claims (key, identity, owner, heartbeat) VALUES (?, ?, ?, ?)",
            (key, identity, owner, now),
        )
        return CLAIMED, None

    def release(self, key: str, owner: str) -> None:
        with closing(self._connect()) as db, db:
            db.execute("DELETE FROM claims WHERE key = ? AND owner = ?", (key, owner))

    def touch(self, owner: str) -> None:
        with closing(self._connect()) as db, db:
            db.execute("UPDATE claims SET heartbeat = ? WHERE owner = ?", (time.time(), owner))

    def __repr__(self) -> str:
        return f"SqliteStore({self.path!r})"


def _identity(method: str, url: str, body: bytes | None) -> str:
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
    share (not closed by ``close()``).  ``idempotency_key=True`` sends an
    ``Idempotency-Key`` header derived from the stable key with every fetch (a fetch's
    own ``idempotency_key=`` overrides it).  ``state`` holds the pacing holds and retry
    budgets (``pace=on``, ``budget=``) shared by every fetch of this fetcher (a
    ``LocalState`` of its own by default); ``on_retry``/``on_giveup`` see every fetch's
    attempts, and ``rand`` draws the jitter.
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
    ) -> None:
        positive_int("max_workers", max_workers)
        self._rand = callable_or_none("rand", rand)
        self._on_retry = callable_or_none("on_retry", on_retry)
        self._on_giveup = callable_or_none("on_giveup", on_giveup)
        self._state: State = state if state is not None else LocalState()
        self.store: Store = store if store is not None else InMemoryStore()
        self._own_pool = pool is None
        self._pm = pool if pool is not None else urllib3.PoolManager(maxsize=max_workers)
        self._workers = _Workers(max_workers)
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
        idempotency_key: bool | None = None,
    ) -> Future[tuple[int, urllib3.HTTPHeaderDict, Any]]:
        """A future for ``(status, headers, data)``."""
        inner = self._start(key, url, method, headers, body, retry, timeout, idempotency_key)
        return _derive(inner, _response_of)

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
            rp._abort(FetcherClosed("the fetcher was closed during an attempt"))
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
        data = _buffer_body(body)
        ident = _identity(method, url, data)
        p, call_timeout = compose_policy(retry, timeout)
        if self._idempotency_key if idempotency is None else idempotency:
            headers = _with_idempotency_key(headers, key)
        claim = getattr(self.store, "claim", None)
        with self._lock:
            running = self._inflight.get(key)
            if running is not None:
                _same(key, running[0], ident)
                return running[1]
            if claim is not None:
                state, stored = claim(key, ident, self._owner)
            else:  # a store without claims: this process's fetches are shared, no more
                stored = self.store.get(key)
                state = CLAIMED if stored is None else DONE
                if stored is not None and stored.identity != ident:
                    state = OTHER
            if state == OTHER:
                _same(key, "", ident)
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
                _same(key, "", ident)
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
        )
        masked = mask_url(url)
        with self._lock:
            self._running.add(rp)
        try:
            if self._closed.is_set():  # closed after this fetch started: close() may not
                raise FetcherClosed("the fetcher was closed")  # have seen this pool
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
        except BaseException:
            # Nothing to store (closed, a refused header, ...): let another fetch claim it.
            if claimed:
                self._unhold(key)
            raise
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
            with self._lock:
                self._running.discard(rp)
            rp.close()
        try:
            return self.store.add(key, result)  # also ends the claim
        finally:
            if claimed:
                with self._lock:
                    self._claimed -= 1


def _with_idempotency_key(headers: Mapping[str, Any] | None, key: str) -> Any:
    """``headers`` plus ``Idempotency-Key`` for ``key``, unless it has one already."""
    pairs = list(
        headers.items() if headers is not None and hasattr(headers, "items") else headers or ()
    )
    if any(str(name).lower() == "idempotency-key" for name, _ in pairs):
        return headers
    return [*pairs, ("Idempotency-Key", idempotency_key(key))]


def _same(key: str, stored: str, ident: str) -> None:
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
