"""Guards on the socket under an attempt: a deadline for all of it, and a strict head parser.

A socket timeout bounds each ``recv``, not an attempt: a server that drips its head a byte
every 0.4 s, streams ``100 Continue`` forever, or never ends a chunked trailer or a gzip
header keeps every single read short and the attempt endless.  Two guards close that gap:

* **One watchdog thread for the process.**  Each attempt puts its absolute deadline (a
  ``Watch``) in a set; the thread sleeps until the earliest deadline and, for a watch
  past it, shuts the attempt's socket down (``shutdown(SHUT_RDWR)`` makes the blocked
  read or send in the other thread return at once).  The attempt then sees the watch
  ``fired`` and counts as a timeout, whatever error the shut socket produced.
  Registering and ending a watch cost a set add and discard and an uncontended lock --
  no thread and, with the usual equal timeouts, no wake-up per attempt.  The same
  mechanism stops an attempt on request (``fire``): ``BackgroundFetcher.close()``
  uses it.
* **A strict response head.**  Connections handed out by a guarded pool parse their
  responses with ``StrictResponse``: interim ``1xx`` responses (http.client skips only
  ``100``) are skipped, so a ``103 Early Hints`` is never taken as the final response
  (whose real answer would otherwise wait on the connection for the next request); an
  unsolicited ``101``, or a status above 599, is a broken response; and a head that ends
  without its blank line (the connection closed inside the headers) is an error, not a
  short success.

The watch reaches the connection through ``hook_pool``: the pool's ``_get_conn`` is
wrapped (on the instance) so the connection an attempt gets is attached to the calling
thread's current watch before anything is sent on it.  Outside an attempt the wrapper only
installs ``StrictResponse``.
"""

from __future__ import annotations

import http.client
import os
import socket
import threading
import time
from typing import Any

from urllib3.connectionpool import HTTPConnectionPool

__all__ = ["THREAD_NAME", "StrictResponse", "Watch", "hook_pool", "local", "watchdog"]

#: The name of the watchdog thread (one per process, a daemon, started on first use).
THREAD_NAME = "policy-attempt-watchdog"

_MAXLINE = 65536  # http.client's own line limit


class TruncatedHead(http.client.HTTPException):
    """The connection closed inside the response head (before its blank line)."""


class _HeadReader:
    """Wraps the response's file while its head is read: every line must end in LF."""

    __slots__ = ("_fp", "_readline")

    def __init__(self, fp: Any) -> None:
        self._fp = fp
        self._readline = fp.readline

    def readline(self, limit: int = -1) -> bytes:
        line: bytes = self._readline(limit)
        if line[-1:] != b"\n" and len(line) <= _MAXLINE:
            # the peer closed inside the head (b"": before a status line or the blank
            # line); a longer line is http.client's own LineTooLong
            raise TruncatedHead("the connection closed inside the response head")
        return line

    def close(self) -> None:
        self._fp.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fp, name)


class StrictResponse(http.client.HTTPResponse):
    """http.client's response, skipping every interim 1xx and refusing a cut-off head.

    It also hands its socket to the thread's watch: a response that will close the
    connection takes the socket over (``HTTPConnection.sock`` is then ``None``).
    """

    def __init__(self, sock: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        w = getattr(_local, "watch", None)
        if w is not None:
            w.sock = sock

    def _read_status(self) -> tuple[str, int, str]:
        version, status, reason = super()._read_status()  # type: ignore[misc]
        if 102 <= status <= 199:
            return version, 100, reason  # begin() skips an interim response's headers
        if status == 101 or status > 599:
            raise http.client.BadStatusLine(f"unexpected status {status} (not 100-599)")
        return version, status, reason

    def begin(self) -> None:
        fp = self.fp
        if fp is None or self.headers is not None:
            return super().begin()
        reader = _HeadReader(fp)
        self.fp = reader
        try:
            super().begin()
        finally:
            if self.fp is reader:  # begin() may have closed it (and set None)
                self.fp = fp


class Watch:
    """One attempt's deadline, its owner and the connection it is using (see ``watchdog``)."""

    __slots__ = ("at", "conn", "done", "fired", "owner", "sock")

    def __init__(self, at: float, owner: object) -> None:
        self.at = at
        self.owner = owner
        self.conn: Any = None
        self.sock: Any = None  # the response's socket, once its head is being read
        self.done = False
        self.fired = False


def _shut(w: Watch) -> None:
    conn = w.conn
    if conn is None or getattr(conn, "_policy_watch", None) is not w:
        # urllib3 hands a connection back to its pool as soon as its response is fully
        # read, before the attempt detaches it: once another user has taken it (and its
        # tag), it is not this attempt's to shut.
        return
    sock = w.sock
    if sock is None:
        sock = getattr(conn, "sock", None)
    if sock is None:
        return
    try:
        if isinstance(sock, socket.socket):
            # the plain socket's shutdown, also for an SSLSocket (whose own method would
            # drop its SSL object under the reading thread)
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        else:
            sock.shutdown(socket.SHUT_RDWR)
    except (OSError, ValueError, AttributeError):
        pass


#: How long the watchdog waits with no attempt running before it parks (sleeps until the
#: next attempt wakes it).
IDLE_S = 5.0


class _Watchdog:
    """The process's one deadline thread.

    Attempts put their ``Watch`` in the ``live`` set and take it out when they end.  The
    thread sleeps until the earliest deadline it knows of (``_next``); a new watch wakes
    it only when its deadline is earlier than that, which with the usual equal timeouts
    is almost never: each attempt costs a set add and discard and one uncontended lock,
    no thread and no wake-up.  The thread fires the watches past their deadline, and
    firing and detaching hold the lock, so a connection is never shut after it went back
    to its pool.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self.live: set[Watch] = set()
        self._next = float("inf")  # the thread wakes by then (under _lock)
        self._thread: threading.Thread | None = None

    def start(self, seconds: float, owner: object) -> Watch:
        """A watch that fires ``seconds`` from now, unless cancelled first."""
        w = Watch(time.monotonic() + seconds, owner)
        self.live.add(w)
        with self._lock:
            if w.at < self._next:
                self._next = w.at
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
                    self._thread.start()
                self._cond.notify()
        return w

    def detach(self, w: Watch) -> bool:
        """Stop watching ``w``'s connection (about to be reused); ``True`` if it fired."""
        with self._lock:
            w.conn = w.sock = None
            return w.fired

    def cancel(self, w: Watch) -> None:
        """End ``w`` (its connection must be detached or discarded already)."""
        w.done = True
        self.live.discard(w)

    def attach(self, w: Watch, conn: Any) -> bool:
        """``w`` now guards ``conn``; ``True`` if it already fired (do not use ``conn``)."""
        w.conn = conn
        w.sock = None
        return w.fired

    def fire(self, w: Watch) -> None:
        """Fire ``w`` now: shut its socket; the attempt then counts as timed out (or
        stopped)."""
        with self._lock:
            self._fire(w)

    def _fire(self, w: Watch) -> None:
        if w.done:
            return
        w.fired = True
        _shut(w)

    def fire_all(self, owner: object) -> None:
        """Fire every running watch of ``owner``."""
        for w in list(self.live):
            if w.owner is owner:
                self.fire(w)

    def _run(self) -> None:
        with self._cond:
            idle = False
            while True:
                now = time.monotonic()
                nxt = float("inf")
                for w in list(self.live):
                    if w.at <= now:
                        # again on every wake while the attempt runs: a socket connected
                        # after the first firing (the deadline passed during connect)
                        # is shut too
                        self._fire(w)
                        nxt = min(nxt, now + 0.05)
                    elif w.at < nxt:
                        nxt = w.at
                if nxt == float("inf") and not idle:
                    nxt = now + IDLE_S  # nothing running: look again later, then park
                    idle = True
                elif nxt != float("inf"):
                    idle = False
                self._next = nxt
                self._cond.wait(None if nxt == float("inf") else nxt - now)

    def _after_fork(self) -> None:
        self.__init__()  # type: ignore[misc]


watchdog = _Watchdog()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=watchdog._after_fork)

#: ``local.watch``: the calling thread's running attempt's ``Watch`` (``None`` between
#: attempts); set by the attempt, read where the connection and its socket appear.
local = threading.local()
_local = local


def hook_pool(cp: HTTPConnectionPool) -> HTTPConnectionPool:
    """Guard ``cp``'s connections: a strict head parser, and the current watch attached."""
    if "_get_conn" in cp.__dict__:
        return cp
    with _hook_lock:  # two threads meeting a new pool wrap it once
        if "_get_conn" not in cp.__dict__:
            _wrap(cp)
    return cp


_hook_lock = threading.Lock()


def _wrap(cp: HTTPConnectionPool) -> None:
    get_conn = cp._get_conn
    strict = StrictResponse
    local = _local
    dog = watchdog

    def _get_conn(timeout: float | None = None) -> Any:
        conn = get_conn(timeout)
        conn.response_class = strict  # type: ignore[attr-defined]
        w = getattr(local, "watch", None)
        conn._policy_watch = w  # type: ignore[attr-defined]  # whose it is now (see _shut)
        if w is not None and dog.attach(w, conn):
            # stopped before anything was sent: urlopen puts the slot back (as None)
            conn.close()
            raise TimeoutError("the attempt was stopped")
        return conn

    cp._get_conn = _get_conn  # type: ignore[method-assign]
