"""Where background fetches keep their results, and how fetchers share a key: the stores.

``BackgroundFetcher`` keeps each key's ``StoredResult`` in a store: ``InMemoryStore``
(this process) or ``SqliteStore`` (a file that survives restarts and is shared by
processes).  Fetchers that share a store *claim* a key before sending, so each key's
request is sent once while its owner lives.  The stores, their claims and the owner's
liveness test are kept here, apart from the fetcher that drives them, because they are a
separate contract (``Store``) a user may implement, with no HTTP in it.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from contextlib import closing
from typing import Any, Protocol

import attrs

from ._check import positive_seconds

__all__ = [
    "BUSY",
    "CLAIMED",
    "DEFAULT_LEASE",
    "DONE",
    "OTHER",
    "InMemoryStore",
    "SqliteStore",
    "Store",
    "StoreError",
    "StoredResult",
    "new_owner",
]


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
    #: When the circuit breaker ended the fetch: ``(origin, the epoch time it half-opens)``.
    circuit: tuple[str, float] | None = None

    def to_json(self) -> str:
        """Everything but the body, as JSON."""
        d: dict[str, Any] = {
            "identity": self.identity,
            "method": self.method,
            "url": self.url,
            "status": self.status,
            "headers": [list(h) for h in self.headers],
            "attempts": list(self.attempts),
            "reason": self.reason,
        }
        if self.circuit is not None:
            d["circuit"] = list(self.circuit)
        return json.dumps(d)

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
            circuit=_circuit_of(d.get("circuit")),
        )


def _circuit_of(value: Any) -> tuple[str, float] | None:
    """A stored ``circuit`` field (``None`` in results stored before it existed)."""
    if isinstance(value, list) and len(value) == 2:
        return str(value[0]), float(value[1])
    return None


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
                _use_wal(db)
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


#: How long opening a store keeps trying to switch a new file to WAL while other
#: processes open it too (SQLite answers "database is locked" at once, without its busy
#: handler, when another connection holds a lock during the switch).
_WAL_PATIENCE_S = 30.0


def _use_wal(db: sqlite3.Connection) -> None:
    """Put the store's file in WAL mode, retrying the switch while another process holds a
    lock on the file (several fetchers opening one new store at once)."""
    give_up = time.monotonic() + _WAL_PATIENCE_S
    pause = 0.005
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() >= give_up:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)
