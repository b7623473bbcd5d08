"""Run by tests/test_niquests.py inside a venv of its own that has niquests (and so
urllib3-future in place of urllib3): transport.niquests.RetryAdapter, attempts_of,
retrying and outcome_from_exception on niquests, against a loopback server started
here.  Prints one JSON object.  Usage: python niquests_check.py REPOSITORY_ROOT
"""

from __future__ import annotations

import http.server
import json
import socket
import sys
import threading
from typing import Any, ClassVar

sys.path.insert(0, sys.argv[1])

import niquests  # type: ignore[import-not-found,unused-ignore]

import transport
import transport.niquests


class Handler(http.server.BaseHTTPRequestHandler):
    """/flaky: 503 twice, then 200; /limited: 429 with Retry-After: 2 once, then 200."""

    protocol_version = "HTTP/1.1"
    seen: ClassVar[dict[str, int]] = {}

    def do_GET(self) -> None:
        n = self.seen[self.path] = self.seen.get(self.path, 0) + 1
        headers: dict[str, str] = {}
        if self.path == "/flaky":
            status = 200 if n >= 3 else 503
        elif self.path == "/limited":
            status = 200 if n >= 2 else 429
            if status == 429:
                headers["Retry-After"] = "2"
        else:
            status = 503
        body = b"ok" if status == 200 else b"busy"
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def main() -> dict[str, Any]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    out: dict[str, Any] = {}
    p = "5xx:backoff(3,100ms..1s,x2) connect:backoff(2,10ms)"
    cost = {"requests": 1.0}  # the shared constructor takes cost= (as requests' adapter does)
    with transport.testing() as waits, niquests.Session() as session:
        session.mount("http://", transport.niquests.RetryAdapter(p, cost=lambda r: cost))
        r = session.get(base + "/flaky", timeout=5)
        labels = [a.label for a in transport.attempts_of(r)]
        out["flaky"] = [r.status_code, r.text, labels, list(waits)]
        try:
            session.get(f"http://127.0.0.1:{closed}/", timeout=5)
        except niquests.ConnectionError as e:
            out["refused"] = [[a.label for a in transport.attempts_of(e)], e.__notes__]

    @transport.retrying("429:headers()")
    def get() -> int:
        r = niquests.get(base + "/limited", timeout=5)
        r.raise_for_status()
        return int(r.status_code)

    with transport.testing() as waits:
        out["retrying"] = [get(), list(waits)]
    out["timeout"] = repr(transport.outcome_from_exception(niquests.exceptions.ReadTimeout()))
    out["seen"] = Handler.seen
    server.shutdown()
    server.server_close()
    return out


if __name__ == "__main__":
    print(json.dumps(main()))
