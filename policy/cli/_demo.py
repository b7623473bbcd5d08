"""The demo behind ``policy demo``: a misbehaving loopback server and policies against it.

It goes through ``transport`` (and so urllib3), imported inside the functions: ``import
policy`` never loads it.  It knows nothing of the command line (the CLI calls it, never
the other way round).

``demo`` starts a ``ThreadingHTTPServer`` on 127.0.0.1 at a free port with endpoints that
misbehave the ways real services do -- a flaky endpoint (503, 503, 200), rate limits that
say when to come back (``Retry-After``; ``x-ratelimit-*`` with an epoch reset and a
``Date`` header), a POST that fails once, a stop signal, a 404 that never heals -- and runs
a few policies against them through ``transport.RetryingPool``, printing every attempt
with the decision and the evaluator's reason.  The waits are real but short: the policies
use millisecond delays and the server asks for fractions of a second (``Retry-After: 0.5``
and fractional epoch resets, both of which the header parsers accept).  The whole demo
takes about two seconds and needs no network.
"""

from __future__ import annotations

import email.utils
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import attrs

from ..check._lint import lint
from ..language._parse import parse
from ..language._words import seconds_text

if TYPE_CHECKING:
    from ..loop import Attempt

__all__ = ["SCENARIOS", "DemoServer", "Scenario", "demo", "run_scenario"]


# --- the demo server --------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: DemoServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # the demo prints its own
        pass

    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response_only(status)
        hs = {"Date": email.utils.formatdate(usegmt=True), **(headers or {})}
        hs["Content-Length"] = str(len(data))
        if data:
            hs["Content-Type"] = "application/json"
        for k, v in hs.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _count(self) -> int:
        run = parse_qs(urlsplit(self.path).query).get("run", ["0"])[0]
        return self.server.hit(f"{self.command} {urlsplit(self.path).path} {run}")

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        n = self._count()
        if path == "/flaky":
            if n <= 2:
                self._send(503, {"error": "overloaded"})
            else:
                self._send(200, {"ok": True, "served_on_attempt": n})
        elif path == "/rate-limited":
            if n == 1:
                now = time.time()
                whole = int(now)
                self._send(
                    429,
                    {"error": "rate limited"},
                    {
                        "Date": email.utils.formatdate(whole, usegmt=True),
                        "x-ratelimit-limit": "60",
                        "x-ratelimit-remaining": "0",
                        # An epoch reset 0.4 s after the server's own clock (its Date).
                        "x-ratelimit-reset": f"{whole + 0.4:.1f}",
                    },
                )
            else:
                self._send(200, {"ok": True, "served_on_attempt": n})
        elif path == "/retry-after":
            if n == 1:
                self._send(429, {"error": "slow down"}, {"Retry-After": self.server.retry_after})
            else:
                self._send(200, {"ok": True, "served_on_attempt": n})
        elif path == "/bare-429":
            if n <= 1:
                self._send(429, {"error": "slow down"})
            else:
                self._send(200, {"ok": True, "served_on_attempt": n})
        elif path == "/come-back-in-an-hour":
            self._send(429, {"error": "quota exhausted"}, {"Retry-After": "3600"})
        else:
            self._send(404, {"error": "no such thing"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        order = json.loads(self.rfile.read(length) or b"null")
        path = urlsplit(self.path).path
        n = self._count()
        if path == "/orders" and n == 1:
            self._send(503, {"error": "try again"})
        elif path == "/orders":
            self._send(201, {"created": order, "served_on_attempt": n})
        elif path == "/payments":
            self._send(503, {"error": "declined upstream"}, {"x-should-retry": "false"})
        else:
            self._send(404, {"error": "no such thing"})


class DemoServer(ThreadingHTTPServer):
    """The demo's loopback server; each ``(method, path, run)`` has its own hit counter."""

    daemon_threads = True

    def __init__(self, retry_after: str = "0.5") -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.retry_after = retry_after
        self._hits: dict[str, int] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    def hit(self, key: str) -> int:
        with self._lock:
            self._hits[key] = n = self._hits.get(key, 0) + 1
            return n

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> DemoServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(5)


# --- the demo ---------------------------------------------------------------------------------


@attrs.frozen
class Scenario:
    """One run of the demo: a policy, a request, what should come of it and why it matters."""

    title: str
    policy: str
    method: str
    path: str
    expect: int | None  # the final status; None: the call gives up without a response
    moral: str
    body: Any = None


SCENARIOS = (
    Scenario(
        "A flaky endpoint: 503, 503, then 200",
        "5xx:backoff(3,100ms..400ms,x2,jitter)",
        "GET",
        "/flaky",
        200,
        "backoff rides out a short outage; jitter spreads the retries of many clients",
    ),
    Scenario(
        "A rate limit with x-ratelimit-* headers (epoch reset, server Date)",
        "429:headers(x-ratelimit-*) 5xx:backoff(3,100ms..400ms,x2,jitter)",
        "GET",
        "/rate-limited",
        200,
        "the wait comes from the server: its reset time, measured against its own Date",
    ),
    Scenario(
        "A rate limit with Retry-After",
        "429:headers() 5xx:backoff(3,100ms..400ms,x2,jitter)",
        "GET",
        "/retry-after",
        200,
        "Retry-After wins over any guess of ours",
    ),
    Scenario(
        "A 429 without any header: the chain falls through to backoff",
        "429:headers()|backoff(2,100ms..200ms,x1,jitter)",
        "GET",
        "/bare-429",
        200,
        "a|b: when headers finds nothing to go on, backoff decides",
    ),
    Scenario(
        "A server that asks for an hour",
        "429:headers(max=1m)",
        "GET",
        "/come-back-in-an-hour",
        429,
        "a wait over max gives up at once instead of hanging",
    ),
    Scenario(
        "A POST when only GET may be retried",
        "5xx:backoff(2,50ms..100ms,x1,jitter) methods=GET",
        "POST",
        "/orders",
        503,
        "methods= keeps non-idempotent requests from running twice",
        {"item": "book", "qty": 1},
    ),
    Scenario(
        "The same POST when every method may be retried",
        "5xx:backoff(2,50ms..100ms,x1,jitter)",
        "POST",
        "/orders",
        201,
        "the body is sent again byte for byte",
        {"item": "book", "qty": 1},
    ),
    Scenario(
        "A server stop signal (x-should-retry: false)",
        "5xx:backoff(3,50ms..100ms,x1,jitter)",
        "POST",
        "/payments",
        503,
        "the server's word beats every rule",
        {"amount": 100},
    ),
    Scenario(
        "A 404 under a sensible policy",
        "429:headers() 5xx:backoff(3,100ms..400ms,x2,jitter)",
        "GET",
        "/missing",
        404,
        "no rule for 404: no time wasted",
    ),
    Scenario(
        "A 404 under 'retry every error'",
        "all:backoff(2,50ms..100ms,x1,jitter)",
        "GET",
        "/missing",
        404,
        "a 404 never heals: retrying every error only costs time (use 5xx, or carve out 4xx:never)",
    ),
)


def _describe(a: Attempt) -> str:
    if a.delay is None:
        return (
            f"{a.label:>7}  {'done' if a.reason.startswith('accept') else 'stop':<14}  {a.reason}"
        )
    return f"{a.label:>7}  {'retry in ' + seconds_text(a.delay):<14}  {a.reason}"


def run_scenario(server: DemoServer, sc: Scenario, run: int, stream: IO[str]) -> bool:
    """Run one scenario, print every attempt; whether it ended as expected."""
    import transport

    p = parse(sc.policy)
    url = f"{server.url}{sc.path}?run={run}"
    print(f"\n{run}. {sc.title}", file=stream)
    print(f"   policy: {p}", file=stream)
    warnings = [d for d in lint(p) if d.severity == "warning"]
    for d in warnings:
        print(f"   policy check: {d.code} {d.message}", file=stream)
    print(f"   {sc.method} {sc.path}", file=stream)
    body = None if sc.body is None else json.dumps(sc.body).encode()
    started = time.monotonic()
    status: int | None
    with transport.RetryingPool(p) as pool:
        try:
            resp = pool.request(sc.method, url, body=body, timeout=5.0)
        except transport.RetryError as exc:
            attempts = exc.attempts
            status = None
            data: Any = None
        else:
            attempts = transport.attempts_of(resp)
            status = resp.status
            data = json.loads(resp.data) if resp.data else None
    took = time.monotonic() - started
    for a in attempts:
        print(f"   attempt {a.number}: {_describe(a)}", file=stream)
    ending = "no response" if status is None else f"HTTP {status} {json.dumps(data)}"
    n = len(attempts)
    print(
        f"   => {ending} after {n} request{'s' * (n != 1)} in {seconds_text(took)}",
        file=stream,
    )
    print(f"   why it matters: {sc.moral}", file=stream)
    ok = status == sc.expect
    if not ok:
        print(f"   UNEXPECTED: wanted {sc.expect}, got {status}", file=stream)
    return ok


def demo(stream: IO[str] | None = None) -> int:
    """``policy demo``: every scenario against a fresh loopback server; 0 if all behaved."""
    out = stream if stream is not None else sys.stdout
    started = time.monotonic()
    print(
        "policy demo: a local server on 127.0.0.1 that fails, rate-limits and recovers,", file=out
    )
    print("and the policies that handle it. Every wait below is real (and short).", file=out)
    ok = True
    with DemoServer() as server:
        print(f"server: {server.url}", file=out)
        for i, sc in enumerate(SCENARIOS, 1):
            ok &= run_scenario(server, sc, i, out)
    print(
        f"\n{len(SCENARIOS)} scenarios in {seconds_text(time.monotonic() - started)}; "
        "try: policy explain '429:headers(x-ratelimit-*) 5xx:backoff(5,1s..30s,x1.8,jitter)'",
        file=out,
    )
    return 0 if ok else 1
