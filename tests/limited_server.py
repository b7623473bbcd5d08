"""A real rate limiter nobody here wrote: Flask-Limiter, served on 127.0.0.1 in a thread.

``LimitedServer("5 per second")`` runs a Flask app whose one route (``/``) is limited by
Flask-Limiter with the fixed-window strategy, in-memory storage and its rate-limit headers
on (``X-RateLimit-Limit``/``-Remaining``/``-Reset``, ``Retry-After``), served by
werkzeug's threaded server.  It counts the statuses it answered.  Used by the pacing
tests and by ``bench/bench_fleet.py``.
"""

from __future__ import annotations

import collections
import logging
import threading
from typing import Any

__all__ = ["LimitedServer"]


class LimitedServer:
    """Flask-Limiter at ``limit`` on one route, fixed window, headers on; a context manager."""

    def __init__(self, limit: str = "5 per second", *, headers: bool = True) -> None:
        from flask import Flask
        from flask_limiter import Limiter
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        logging.getLogger("flask-limiter").setLevel(logging.ERROR)
        app = Flask("limited")
        app.config["RATELIMIT_HEADERS_ENABLED"] = headers  # off: bare 429s, no quota told
        app.config["RATELIMIT_STRATEGY"] = "fixed-window"
        self.counts: collections.Counter[int] = collections.Counter()
        self._lock = threading.Lock()

        def key() -> str:
            return "everyone"  # one quota shared by every client, as an API key's would be

        Limiter(key, app=app, default_limits=[limit], storage_uri="memory://")

        @app.route("/")
        def index() -> str:
            return "ok"

        @app.after_request
        def count(response: Any) -> Any:
            with self._lock:
                self.counts[response.status_code] += 1
            return response

        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> LimitedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)
