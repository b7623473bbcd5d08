"""Submit a fetch to Celery workers and watch it: ``python -m transport.celery_fetch``.

::

    python -m transport.celery_fetch myproject.tasks:app order-42 https://api.example/orders/42 \\
        --retry '429:headers() 5xx:backoff(5,1s..30s,jitter)' \\
        --header 'Authorization: Bearer ${API_KEY}'

``APP`` is ``module:name`` naming a Celery app that has a ``CeleryFetcher`` (or the
fetcher itself); the module is imported as the workers import it.  A header value or a
URL with ``${VAR}`` is sent as ``Redacted.env``: the workers read ``VAR`` from their
environment, and the secret never travels through the broker.  Each attempt is printed as it is
recorded, then the outcome: the status and the JSON body on stdout.

Exit status: 0 for a 2xx, 1 when the fetch ended without one (``FetchError``), 2 for a
usage error or when Redis or the broker cannot be reached (nothing was sent), 3 when
``--wait`` seconds pass without an outcome (the fetch goes on; run the same command
again to keep watching -- the key joins it).
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
import time
from typing import Any

__all__ = ["main"]

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _fetcher(spec: str) -> Any:
    from ._celery import CeleryFetcher

    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise SystemExit(f"APP must be module:name (got {spec!r})")
    if "." not in sys.path and "" not in sys.path:
        sys.path.insert(0, "")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    if isinstance(obj, CeleryFetcher):
        return obj
    try:
        return CeleryFetcher.of(obj)
    except LookupError:
        return CeleryFetcher(obj)


def _secret(value: str) -> Any:
    """``value``, or ``Redacted.env`` when it names environment variables as ``${VAR}``."""
    from ._redact import Redacted

    names = _ENV.findall(value)
    if not names:
        return value
    pieces = _ENV.split(value)  # literal, name, literal, name, ..., literal
    literals = [p.replace("{", "{{").replace("}", "}}") for p in pieces[::2]]
    return Redacted.env("{}".join(literals), *names)


def _header(text: str) -> tuple[str, Any]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise SystemExit(f"--header takes 'Name: value' (got {text!r})")
    return name.strip(), _secret(value.strip())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m transport.celery_fetch",
        description="Submit a fetch to Celery workers (CeleryFetcher) and watch it.",
    )
    ap.add_argument("app", metavar="APP", help="module:name of the Celery app or its fetcher")
    ap.add_argument("key", metavar="KEY", help="the stable key of the fetch")
    ap.add_argument("url", metavar="URL")
    ap.add_argument("-X", "--method", default="GET")
    ap.add_argument(
        "-H", "--header", action="append", default=[], help="'Name: value'; ${VAR} is secret"
    )
    ap.add_argument("-d", "--data", default=None, help="the request body")
    ap.add_argument("--retry", default=None, help="the policy (default: no retries)")
    ap.add_argument("--timeout", default=None, help="per-attempt timeout, e.g. 10s")
    ap.add_argument(
        "--wait", type=float, default=None, help="seconds to watch (default: until done)"
    )
    ap.add_argument("--forget", action="store_true", help="drop the key's stored outcome first")
    args = ap.parse_args(argv)

    from ._fetch import FetchError

    fetcher = _fetcher(args.app)
    headers = dict(_header(h) for h in args.header)
    if args.forget:
        fetcher.forget(args.key)
    try:
        handle = fetcher.fetch_response(
            args.key,
            _secret(args.url),
            method=args.method,
            headers=headers,
            body=args.data,
            retry=args.retry,
            timeout=args.timeout,
        )
    except (ValueError, TypeError, ConnectionError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"submitted {args.key!r}", file=sys.stderr)
    end = None if args.wait is None else time.monotonic() + args.wait
    shown = 0
    while True:
        done = handle.done()
        attempts = fetcher.attempts(args.key)
        for a in attempts[shown:]:
            wait = "" if a["delay"] is None else f", then wait {a['delay']:.3g}s"
            print(f"attempt {a['number']}: {a['outcome']}{wait} ({a['reason']})", file=sys.stderr)
        shown = max(shown, len(attempts))
        if done:
            break
        if end is not None and time.monotonic() > end:
            print(f"no outcome yet for {args.key!r}; it goes on", file=sys.stderr)
            return 3
        time.sleep(0.1)
    try:
        status, _headers, data = handle.result(timeout=0)
    except FetchError as e:
        print(f"failed: {e}", file=sys.stderr)
        print(json.dumps({"status": e.status, "error": str(e)}))
        return 1
    print(json.dumps({"status": status, "data": data}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
