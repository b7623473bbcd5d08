"""A scripted, threaded HTTP/1.1 server on 127.0.0.1 for tests (and benchmarks).

Real sockets, no mocks: the transport is tested against what a flaky server really does.
Each path gets a script of ``Reply`` values, served in order (the last one repeats, or
the script cycles with ``cycle=True``); a reply can delay its headers, drip its body,
close the connection mid-body, or reset the connection without answering.  Every
request is logged with its method, path, headers and body.

Usage::

    def test_something(http_server):          # the pytest fixture below
        http_server.route("/flaky", Reply(503), Reply(503), Reply(200, body=b"ok"))
        url = http_server.url("/flaky")
        ...
        assert [r.path for r in http_server.requests] == ["/flaky"] * 3

or, outside pytest, ``with LoopbackServer() as server: ...``.  The server binds an
ephemeral port on 127.0.0.1, speaks keep-alive HTTP/1.1, and ``close()`` wakes every
delayed reply, shuts every open connection and joins every handler thread, so nothing
leaks into the next test (the suite runs with ``filterwarnings = error``).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

__all__ = ["LoopbackServer", "Reply", "Request", "free_port", "http_server"]


@dataclass(frozen=True)
class Reply:
    """One scripted response.

    ``delay``: seconds to wait before sending anything.  ``drip``: seconds to wait between
    body pieces of ``drip_size`` bytes.  ``close_after``: send the headers (with the full
    ``Content-Length``) and this many body bytes, then close the connection.  ``reset``:
    read the request, then abort the connection with a TCP RST and send nothing.
    A ``Content-Length`` header is added unless ``headers`` has one.
    """

    status: int = 200
    headers: Mapping[str, str] | Iterable[tuple[str, str]] = ()
    body: bytes | str = b""
    delay: float = 0.0
    drip: float = 0.0
    drip_size: int = 1
    close_after: int | None = None
    reset: bool = False

    def body_bytes(self) -> bytes:
        return self.body.encode() if isinstance(self.body, str) else self.body

    def header_items(self) -> list[tuple[str, str]]:
        h = self.headers
        return list(h.items()) if isinstance(h, Mapping) else list(h)


@dataclass(frozen=True)
class Request:
    """A request the server received."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    time: float = field(default_factory=time.monotonic)  # when it arrived (monotonic)


Script = Callable[[Request], Reply]


class _Route:
    def __init__(self, replies: tuple[Reply | Script, ...], cycle: bool) -> None:
        self.replies = replies
        self.cycle = cycle
        self.served = 0

    def next(self) -> Reply | Script:
        i = self.served
        self.served += 1
        if self.cycle:
            return self.replies[i % len(self.replies)]
        return self.replies[min(i, len(self.replies) - 1)]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def setup(self) -> None:
        # A TLS server (tests/tls.py) accepts without the handshake, so a client that fails
        # it (an untrusted certificate, plain HTTP) fails here, in this handler's thread.
        handshake = getattr(self.request, "do_handshake", None)
        if handshake is not None:
            self.request.settimeout(10.0)
            handshake()
            self.request.settimeout(None)
        super().setup()
        # Small writes must not wait for delayed ACKs (40 ms stalls on loopback).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (ConnectionError, TimeoutError, OSError):
            self.close_connection = True

    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _serve(self) -> None:
        owner = self.server.owner
        req = Request(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self._read_body(),
        )
        reply = owner._next_reply(req)
        if reply.delay and owner._stopping.wait(reply.delay):
            self.close_connection = True
            return
        if reply.reset:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        body = b"" if self.command == "HEAD" else reply.body_bytes()
        self.send_response_only(reply.status)
        names = set()
        for name, value in reply.header_items():
            names.add(name.lower())
            self.send_header(name, value)
        if "date" not in names:
            self.send_header("Date", self.date_time_string())
        if "content-length" not in names:
            self.send_header("Content-Length", str(len(reply.body_bytes())))
        self.end_headers()
        if reply.close_after is not None:
            self.wfile.write(body[: reply.close_after])
            self.wfile.flush()
            self.close_connection = True
            return
        if reply.drip:
            for i in range(0, len(body), reply.drip_size):
                self.wfile.write(body[i : i + reply.drip_size])
                self.wfile.flush()
                if owner._stopping.wait(reply.drip):
                    self.close_connection = True
                    return
        else:
            self.wfile.write(body)
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True
    owner: LoopbackServer

    def process_request(self, request: Any, client_address: Any) -> None:
        self.owner._track(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.owner._untrack(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up is not a test failure


class LoopbackServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 with scripted replies per path.

    ``route(path, *replies, cycle=False)`` sets a path's script; a reply may be a
    ``Reply`` or a callable taking the ``Request`` and returning one.  Unrouted paths
    answer 404.  ``requests`` is the log, ``requests_to(path)`` one path's part of it.
    """

    def __init__(self) -> None:
        self._routes: dict[str, _Route] = {}
        self._lock = threading.Lock()
        self._log: list[Request] = []
        self._open: set[socket.socket] = set()
        #: TCP connections accepted so far (keep-alive reuse shows as fewer than requests).
        self.connections = 0
        self._stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self.host = "127.0.0.1"
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._started = False

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> LoopbackServer:
        self._thread.start()
        self._started = True
        return self

    def close(self) -> None:
        """Stop serving: wake delayed replies, shut open connections, join the threads."""
        self._stopping.set()
        if self._started:
            self._server.shutdown()
        with self._lock:
            conns = list(self._open)
        for s in conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
        self._server.server_close()
        if self._started:
            self._thread.join()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- scripting and inspection --------------------------------------------------------

    scheme = "http"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def route(self, path: str, *replies: Reply | Script, cycle: bool = False) -> str:
        """Script ``path``; returns its full URL."""
        if not replies:
            raise ValueError("a route needs at least one reply")
        with self._lock:
            self._routes[path] = _Route(replies, cycle)
        return self.url(path)

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._log)

    def requests_to(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    # -- internals -----------------------------------------------------------------------

    def _next_reply(self, req: Request) -> Reply:
        with self._lock:
            self._log.append(req)
            route = self._routes.get(req.path.split("?", 1)[0]) or self._routes.get(req.path)
            reply = route.next() if route is not None else Reply(404, body=b"not found")
        return reply(req) if callable(reply) else reply

    def _track(self, s: socket.socket) -> None:
        with self._lock:
            self._open.add(s)
            self.connections += 1

    def _untrack(self, s: socket.socket) -> None:
        with self._lock:
            self._open.discard(s)


def free_port() -> int:
    """A port on 127.0.0.1 with nothing listening (bound, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def http_server() -> Iterator[LoopbackServer]:
    """A started ``LoopbackServer``, closed after the test."""
    with LoopbackServer() as server:
        yield server
