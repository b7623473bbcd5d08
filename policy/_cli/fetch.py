"""``policy fetch``: one real request through the retrying transport.

It goes through ``transport`` (and so urllib3), imported inside the functions: the rest of
the CLI, and ``import policy``, never load it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

from .._errors import PolicyError
from .._lint import seconds_text
from .._parse import parse
from ._io import UsageError, err, out
from ._sources import Source, parse_or_report

if TYPE_CHECKING:
    import argparse

    from transport import Attempt

__all__ = ["Countdown", "run"]


class Countdown:
    """A ``sleep`` that shows the wait ticking down on ``stream`` (``3s… 2s… 1s…``).

    ``sleep`` does the actual waiting in steps of at most ``tick`` seconds; tests pass a
    recorder instead of ``time.sleep``.
    """

    def __init__(
        self,
        stream: IO[str],
        sleep: Callable[[float], object] = time.sleep,
        tick: float = 1.0,
    ) -> None:
        self.stream = stream
        self.sleep = sleep
        self.tick = tick
        self.slept: list[float] = []

    def __call__(self, seconds: float) -> None:
        left = seconds
        print("    waiting", end="", file=self.stream, flush=True)
        while left > 1e-9:
            print(f" {seconds_text(left)}…", end="", file=self.stream, flush=True)
            step = min(self.tick, left)
            self.sleep(step)
            self.slept.append(step)
            left -= step
        print(" go", file=self.stream, flush=True)


def _show_attempt(a: Attempt, stream: IO[str]) -> None:
    if a.delay is not None:
        rule = f" by {a.rule}" if a.rule else ""
        print(
            f"attempt {a.number}: {a.label} -> retry in {seconds_text(a.delay)}{rule}",
            file=stream,
        )
        print(f"    {a.reason}", file=stream)
    else:
        print(f"attempt {a.number}: {a.label} -> {a.reason}", file=stream)


def _headers(values: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for h in values:
        name, sep, value = h.partition(":")
        if not sep or not name.strip():
            raise UsageError(f"-H {h!r}: expected 'Name: value'")
        key = name.strip()
        found[key] = f"{found[key]}, {value.strip()}" if key in found else value.strip()
    return found


def _timeout(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        ms = parse(f"timeout={text}").timeout_ms
    except PolicyError as exc:
        raise UsageError(f"--timeout {text!r}: {exc.message}") from None
    return None if ms is None else ms / 1000


def _body_out(data: bytes, stream: IO[str]) -> None:
    if not data:
        return
    try:
        value = json.loads(data)
    except ValueError:
        stream.write(data.decode("utf-8", "replace"))
        if not data.endswith(b"\n"):
            stream.write("\n")
        return
    json.dump(value, stream, indent=2, ensure_ascii=False)
    stream.write("\n")


def run(args: argparse.Namespace, *, sleep: Callable[[float], object] = time.sleep) -> int:
    """One call through ``RetryingPool`` (or ``background_fetch`` with ``--key``)."""
    stream = err()
    p = parse_or_report(Source("--retry", args.retry))
    if p is None:
        return 2
    headers = _headers(args.headers)
    timeout = _timeout(args.timeout)
    body = args.data.encode("utf-8") if args.data is not None else None
    method = (args.method or ("POST" if body is not None else "GET")).upper()
    print(f"{method} {args.url}  retry: {p or '(none)'}", file=stream)
    if args.key is not None:
        return _fetch_keyed(args, p, method, headers, body, timeout)

    import transport

    countdown = Countdown(stream, sleep=sleep)
    try:
        with transport.RetryingPool(
            p, sleep=countdown, on_retry=lambda a: _show_attempt(a, stream)
        ) as pool:
            resp = pool.request(method, args.url, headers=headers, body=body, timeout=timeout)
    except transport.RetryError as exc:
        if exc.attempts:
            _show_attempt(exc.attempts[-1], stream)
        print(f"failed: {exc}", file=stream)
        return 1
    except ValueError as exc:  # a URL urllib3 cannot use
        print(f"failed: {exc}", file=stream)
        return 1
    attempts = resp.attempts  # type: ignore[attr-defined]
    _show_attempt(attempts[-1], stream)
    if not 200 <= resp.status <= 299:
        print(f"failed: HTTP {resp.status}: {attempts[-1].reason}", file=stream)
        return 1
    _body_out(resp.data, out())
    return 0


def _fetch_keyed(
    args: argparse.Namespace,
    p: Any,
    method: str,
    headers: dict[str, str],
    body: bytes | None,
    timeout: float | None,
) -> int:
    import transport

    stream = err()
    store = transport.SqliteStore(args.store) if args.store else None
    with transport.BackgroundFetcher(store=store) as fetcher:
        if fetcher.store.get(args.key) is not None:
            print(f"key {args.key}: a stored result, no request sent", file=stream)
        fut = fetcher.fetch_response(
            args.key,
            args.url,
            method=method,
            headers=headers,
            body=body,
            retry=p,
            timeout=None if timeout is None else f"{round(timeout * 1000)}ms",
        )
        try:
            status, _h, data = fut.result()
        except transport.FetchError as exc:
            for a in exc.attempts:
                _show_attempt(a, stream)
            print(f"failed: {exc}", file=stream)
            return 1
        stored = fetcher.store.get(args.key)
    if stored is not None:
        for record in stored.attempts:
            _show_attempt(transport.Attempt.from_dict(record), stream)
    print(f"key {args.key}: HTTP {status}", file=stream)
    if data is not None:
        json.dump(data, out(), indent=2, ensure_ascii=False)
        out().write("\n")
    return 0
