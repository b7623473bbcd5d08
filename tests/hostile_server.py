"""A raw-socket server on 127.0.0.1 that misbehaves at the byte level, for the hostile suite.

``tests/httpserver.py`` speaks correct HTTP with scripted statuses and timings; this one
does what ``http.server`` cannot: stall after the headers, close in the middle of a body,
send 10 000 header lines or a 1 MB one, answer with a status line that is not HTTP,
redirect forever or send a gzip bomb; drip the head a byte every 0.4 s, stream
``100 Continue`` or trailer lines or a gzip header forever, answer ``103 Early Hints``
before each response on a kept-alive connection, cut the head off, send any status, an
unusable ``Location``, a bad gzip body or conflicting ``Content-Length`` headers.  Each
behaviour is a function that gets the client socket, the request head it sent and a stop
event, and writes whatever it likes.

``close()`` sets the stop event (stalled behaviours wait on it), shuts every client socket
and joins every thread, so nothing outlives the test (the suite runs with
``filterwarnings = error``).
"""

from __future__ import annotations

import contextlib
import gzip
import selectors
import socket
import threading
import zlib
from collections.abc import Callable, Iterator

import pytest

__all__ = [
    "Behaviour",
    "HostileServer",
    "bad_gzip",
    "bad_status_line",
    "big_gzip",
    "close_mid_body",
    "conflicting_lengths",
    "cut_in_head",
    "drip_body",
    "drip_head",
    "early_hints",
    "endless_continue",
    "endless_early_hints",
    "endless_gzip_header",
    "endless_redirect",
    "endless_trailer",
    "gzip_bomb",
    "hang_up",
    "hostile_server",
    "huge_header_line",
    "many_headers",
    "redirect_to",
    "stall_after_headers",
    "stall_before_headers",
    "status",
]

Behaviour = Callable[[socket.socket, bytes, threading.Event], None]


def _send(sock: socket.socket, data: bytes) -> None:
    with contextlib.suppress(OSError):
        sock.sendall(data)


def stall_after_headers(sock: socket.socket, head: bytes, stop: threading.Event) -> None:
    """Headers promising 100 bytes, then nothing until the server stops."""
    _send(sock, b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
    stop.wait()


def hang_up(sock: socket.socket, head: bytes, stop: threading.Event) -> None:
    """Read the request, close the connection without a byte of answer."""


def stall_before_headers(sock: socket.socket, head: bytes, stop: threading.Event) -> None:
    """Read the request, answer nothing."""
    stop.wait()


def drip_body(sock: socket.socket, head: bytes, stop: threading.Event) -> None:
    """A 1 MB body sent one byte every 20 ms: every read succeeds, the whole never ends."""
    _send(sock, b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
    while not stop.wait(0.02):
        try:
            sock.sendall(b"x")
        except OSError:
            return


def close_mid_body(sock: socket.socket, head: bytes, stop: threading.Event) -> None:
    """Promise 1000 bytes, send 10, close."""
    _send(sock, b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789")


def many_headers(sock: socket.socket, head: bytes, stop: threading.Event) -> None:
    """10 000 header lines."""
    lines = b"".join(b"X-Filler-%d: %d\r\n" % (i, i) for i in range(10_000))
    _send(sock, b"HTTP/1.1 200 OK\r\n" + lines + b"Content-Length: 2\r\n\r\nok")


def huge_header_line(sock: socket.socket, head: bytes, stop: threading.Event) -> None:
    """One header line of 1 MB."""
    _send(
        sock, b"HTTP/1.1 200 OK\r\nX-Huge: " + b"a" * 1_000_000 + b"\r\nContent-Length: 0\r\n\r\n"
    )


def bad_status_line(sock: socket.socket, head: bytes, stop: threading.Event) -> None:
    """A status line that is not HTTP at all."""
    _send(sock, b"SPDY/9 banana\r\nContent-Length: 0\r\n\r\n")


def endless_redirect(sock: socket.socket, head: bytes, stop: threading.Event) -> None:
    """Redirect to a new path, forever (``/r/1`` → ``/r/2`` → ...)."""
    path = head.split(b" ", 2)[1] if head.count(b" ") >= 2 else b"/"
    n = int(path.rsplit(b"/", 1)[-1]) if path.rsplit(b"/", 1)[-1].isdigit() else 0
    _send(
        sock,
        b"HTTP/1.1 302 Found\r\nLocation: /r/%d\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        % (n + 1),
    )


def drip_head(sock: socket.socket, head: bytes, stop: threading.Event) -> None:
    """A valid 200 whose status line and headers arrive one byte every 0.4 s."""
    reply = b"HTTP/1.1 200 OK\r\nX-Pad: " + b"p" * 200 + b"\r\nContent-Length: 2\r\n\r\nok"
    for i in range(len(reply)):
        if stop.wait(0.4):
            return
        _send(sock, reply[i : i + 1])


def endless_continue(sock: socket.socket, head: bytes, stop: threading.Event) -> None:
    """``100 Continue`` interim responses, one every 20 ms, never a final one."""
    while not stop.wait(0.02):
        try:
            sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        except OSError:
            return


def endless_early_hints(sock: socket.socket, head: bytes, stop: threading.Event) -> None:
    """``103 Early Hints`` interim responses, one every 20 ms, never a final one."""
    while not stop.wait(0.02):
        try:
            sock.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n")
        except OSError:
            return


def endless_trailer(sock: socket.socket, head: bytes, stop: threading.Event) -> None:
    """A chunked body whose trailer section never ends (a trailer line every 20 ms)."""
    _send(sock, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n")
    while not stop.wait(0.02):
        try:
            sock.sendall(b"X-Trailer: more\r\n")
        except OSError:
            return


def endless_gzip_header(sock: socket.socket, head: bytes, stop: threading.Event) -> None:
    """A gzip body whose header's file name never ends (FNAME set, no NUL), dripped."""
    _send(
        sock,
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nConnection: close\r\n\r\n"
        b"\x1f\x8b\x08\x08\0\0\0\0\0\xff",
    )
    while not stop.wait(0.02):
        try:
            sock.sendall(b"n" * 64)
        except OSError:
            return


def _read_head(sock: socket.socket, stop: threading.Event) -> bytes | None:
    """The next request head on a kept-alive connection (``None``: closed or stopped)."""
    data = b""
    sock.settimeout(0.05)
    while b"\r\n\r\n" not in data:
        if stop.is_set() or len(data) > 65536:
            return None
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            continue
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
    return data


def _path(head: bytes) -> bytes:
    parts = head.split(b" ", 2)
    return parts[1] if len(parts) > 2 else b"/"


def early_hints(sock: socket.socket, head: bytes, stop: threading.Event) -> None:
    """Keep-alive; each request gets ``103 Early Hints``, then 50 ms later a 200 whose body
    is the request path without its slash (``/alice`` -> ``alice``)."""
    while True:
        body = _path(head).lstrip(b"/")
        _send(sock, b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
        if stop.wait(0.05):
            return
        _send(sock, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        nxt = _read_head(sock, stop)
        if nxt is None:
            return
        head = nxt


def cut_in_head(sock: socket.socket, head: bytes, stop: threading.Event) -> None:
    """A response cut off inside its headers: ``HTTP/1.1 200 OK\\r\\nContent-Len``, close."""
    _send(sock, b"HTTP/1.1 200 OK\r\nContent-Len")


def status(code: int) -> Behaviour:
    """A response with status ``code`` (any three digits) and an empty body."""

    def behaviour(sock: socket.socket, head: bytes, stop: threading.Event) -> None:
        _send(sock, b"HTTP/1.1 %d Odd\r\nContent-Length: 0\r\nConnection: close\r\n\r\n" % code)

    behaviour.__name__ = f"status_{code}"
    return behaviour


def redirect_to(location: bytes) -> Behaviour:
    """A 302 to ``location``, verbatim."""

    def behaviour(sock: socket.socket, head: bytes, stop: threading.Event) -> None:
        _send(
            sock,
            b"HTTP/1.1 302 Found\r\nLocation: " + location + b"\r\nContent-Length: 0\r\n\r\n",
        )

    behaviour.__name__ = "redirect_to_" + location.decode("latin-1")
    return behaviour


def bad_gzip(sock: socket.socket, head: bytes, stop: threading.Event) -> None:
    """``Content-Encoding: gzip`` over bytes that are not gzip."""
    body = b"this is not gzip at all"
    _send(
        sock,
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(body)
        + body,
    )


def conflicting_lengths(sock: socket.socket, head: bytes, stop: threading.Event) -> None:
    """Two ``Content-Length`` headers that disagree (a request-smuggling shape)."""
    _send(sock, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\nokokok")


BOMB_SIZE = 64 * 1024 * 1024
_bomb: list[bytes] = []


def gzip_bomb(sock: socket.socket, head: bytes, stop: threading.Event) -> None:
    """A gzip body of ~64 kB that inflates to 64 MB of zeros (``BOMB_SIZE``)."""
    if not _bomb:
        _bomb.append(gzip.compress(b"\0" * BOMB_SIZE, compresslevel=9))
    body = _bomb[0]
    _send(
        sock,
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(body)
        + body,
    )


_big: dict[int, bytes] = {}


def big_gzip(size: int, code: int = 200) -> Behaviour:
    """A response ``code`` whose gzip body inflates to ``size`` zero bytes (made once per
    size, streamed through ``zlib`` a MiB at a time)."""
    if size not in _big:
        z = zlib.compressobj(9, zlib.DEFLATED, 31)
        block = b"\0" * (1 << 20)
        parts = [z.compress(block) for _ in range(size >> 20)]
        parts.append(z.compress(b"\0" * (size & ((1 << 20) - 1))))
        parts.append(z.flush())
        _big[size] = b"".join(parts)
    body = _big[size]

    def behaviour(sock: socket.socket, head: bytes, stop: threading.Event) -> None:
        _send(
            sock,
            b"HTTP/1.1 %d X\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n"
            % (code, len(body))
            + body,
        )

    behaviour.__name__ = f"big_gzip_{size}_{code}"
    return behaviour


class HostileServer:
    """A TCP server on 127.0.0.1 answering every connection with one ``Behaviour``.

    ``behaviour`` may be changed between requests; ``heads`` logs the request heads
    received.  After the behaviour returns, the connection is closed.  ``listeners``
    opens that many ports (``ports``; ``url(path, i)`` names the i-th), served by one
    acceptor thread: many hosts for the price of one server.  ``close()`` may be called
    more than once (a test's watchdog closes the server to unblock a hung call).
    """

    def __init__(self, behaviour: Behaviour = bad_status_line, listeners: int = 1) -> None:
        self.behaviour = behaviour
        self.heads: list[bytes] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._clients: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._listeners: list[socket.socket] = []
        self._selector = selectors.DefaultSelector()
        for _ in range(listeners):
            ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            ls.bind(("127.0.0.1", 0))
            ls.listen(64)
            ls.setblocking(False)
            self._listeners.append(ls)
            self._selector.register(ls, selectors.EVENT_READ)
        self.ports: list[int] = [ls.getsockname()[1] for ls in self._listeners]
        self.port: int = self.ports[0]
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    def url(self, path: str = "/", i: int = 0) -> str:
        return f"http://127.0.0.1:{self.ports[i]}{path}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._selector.select(0.05):
                listener = key.fileobj
                assert isinstance(listener, socket.socket)
                try:
                    sock, _ = listener.accept()
                except OSError:
                    continue
                sock.setblocking(True)
                with self._lock:
                    self._clients.add(sock)
                    t = threading.Thread(target=self._serve, args=(sock,), daemon=True)
                    self._threads.append(t)
                t.start()

    def _serve(self, sock: socket.socket) -> None:
        try:
            sock.settimeout(5)
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                chunk = sock.recv(4096)
                if not chunk:
                    return
                head += chunk
            with self._lock:
                self.heads.append(head)
            self.behaviour(sock, head, self._stop)
        except OSError:
            pass
        finally:
            with self._lock:
                self._clients.discard(sock)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        """Wake stalled behaviours, shut every client socket, join every thread."""
        self._stop.set()
        with self._lock:
            clients = list(self._clients)
        for s in clients:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
        self._acceptor.join()
        for ls in self._listeners:
            ls.close()
        self._selector.close()
        with self._lock:
            threads = list(self._threads)
        for t in threads:
            t.join()

    def __enter__(self) -> HostileServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture
def hostile_server() -> Iterator[HostileServer]:
    """A ``HostileServer``, closed after the test."""
    with HostileServer() as server:
        yield server
