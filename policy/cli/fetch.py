"""``policy fetch``: one real request through the retrying transport.

It goes through ``transport`` (and so urllib3), imported inside the functions: the rest of
the CLI, and ``import policy``, never load it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import IO, TYPE_CHECKING, Any, Protocol

from ..language._errors import PolicyError
from ..language._parse import parse
from ..language._words import seconds_text
from ._io import UsageError, err, out
from ._sources import Source, parse_or_report

if TYPE_CHECKING:
    import argparse

    from ..loop import Attempt

__all__ = ["Countdown", "run"]


class Sink(Protocol):
    """Where progress is printed: a text stream."""

    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...


class Countdown:
    """A ``sleep`` that shows the wait ticking down on ``stream`` (``3s… 2s… 1s…``).

    ``sleep`` does the actual waiting in steps of at most ``tick`` seconds; tests pass a
    recorder instead of ``time.sleep``.
    """

    def __init__(
        self,
        stream: Sink,
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


def _show_attempt(a: Attempt, stream: Sink) -> None:
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
            # never echo the argument: a header is where tokens go
            raise UsageError("-H: expected 'Name: value' (an argument has no name and colon)")
        key = name.strip()
        found[key] = f"{found[key]}, {value.strip()}" if key in found else value.strip()
    return found


_DURATION = r"(?:\d+(?:\.\d*)?|\.\d+)(?:ms|s|m|h)"


def _timeout(text: str | None) -> float | None:
    """``--timeout``: one duration (1s to 2m), checked before the policy parser sees it."""
    if text is None:
        return None
    import re

    word = text.strip()
    if re.fullmatch(r"\d+(?:\.\d*)?|\.\d+", word):
        n = float(word)
        fix = f"{word}s" if 1 <= n <= 120 else f"{word}ms" if 1000 <= n <= 120_000 else "10s"
        raise UsageError(
            f"--timeout {text!r}: missing unit: the timeout is a duration between 1s and 2m "
            f"(write {fix})"
        )
    if not re.fullmatch(_DURATION, word):
        raise UsageError(
            f"--timeout {text!r}: not a duration: write a number and a unit (ms, s, m), "
            "e.g. 10s or 1500ms, between 1s and 2m"
        )
    try:
        ms = parse(f"timeout={word}").timeout_ms
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


# --- secrets ----------------------------------------------------------------------------------

#: A piece of a URL shorter than this is not masked on its own (it would garble the text);
#: the whole user part and the whole query always are.
_SHORTEST_SECRET = 6


def _secrets(url: str) -> list[tuple[str, str]]:
    """``(secret, mask)`` pairs for ``url``, longest first: the URL itself (shown as
    ``transport.mask_url`` shows it, with the whole user part ``***``), its user part
    (raw, and as ``mask_url`` leaves it), its name and password, its query and every
    query value, raw and percent-decoded."""
    from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

    from transport import mask_url

    masked = mask_url(url)
    pairs: list[tuple[str, str]] = []
    try:
        shown = urlsplit(masked)
        parts = urlsplit(url)
    except ValueError:
        return [(url, masked)]
    if "@" in shown.netloc:
        userinfo_shown, _, hostport = shown.netloc.rpartition("@")
        pairs.append((userinfo_shown + "@", "***@"))
        masked = urlunsplit(shown._replace(netloc=f"***@{hostport}"))
    pairs.append((url, masked))
    pieces: list[str] = []
    if "@" in parts.netloc:
        userinfo = parts.netloc.rpartition("@")[0]
        pairs.append((userinfo + "@", "***@"))
        name, _, password = userinfo.partition(":")
        pieces += [userinfo, name, password, unquote(name), unquote(password)]
    if parts.query:
        pairs.append(
            ("?" + parts.query, "?" + urlsplit(mask_url("http://h/?" + parts.query)).query)
        )
        for _k, value in parse_qsl(parts.query, keep_blank_values=True):
            pieces.append(value)
        pieces += [piece.partition("=")[2] for piece in parts.query.split("&")]
    pairs += [(piece, "***") for piece in pieces if len(piece) >= _SHORTEST_SECRET]
    return sorted(set(pairs), key=lambda pair: -len(pair[0]))


class _Masked:
    """A text stream that writes through to ``stream`` with every secret of the URL masked.

    Everything ``fetch`` tells people (progress, reasons, errors, and whatever a library
    prints to stderr meanwhile) goes through it; the response body on stdout does not.
    """

    def __init__(self, stream: IO[str], secrets: list[tuple[str, str]]) -> None:
        self._stream = stream
        self._secrets = secrets

    def mask(self, text: str) -> str:
        for secret, masked in self._secrets:
            if secret in text:
                text = text.replace(secret, masked)
        return text

    def write(self, text: str) -> int:
        self._stream.write(self.mask(text))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def fileno(self) -> int:
        return self._stream.fileno()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


# --- the command ------------------------------------------------------------------------------


def run(args: argparse.Namespace, *, sleep: Callable[[float], object] = time.sleep) -> int:
    """One call through ``RetryingPool`` (or ``background_fetch`` with ``--cache-key``).

    Progress goes to stderr, the body of the final response to stdout.  No URL is printed
    as given: its user part and query values are masked (the request is sent in full).
    """
    import sys

    if args.old_key is not None:
        if args.key is not None:
            raise UsageError("--key is the old spelling of --cache-key: give one of them")
        print("policy fetch: note: --key is now --cache-key (--key still works)", file=err())
        args.key = args.old_key
    if args.store is not None and args.key is None:
        raise UsageError("--store keeps results by key: give --cache-key KEY with it")
    if args.key is not None and not args.key.strip():
        raise UsageError("--cache-key: give a non-empty key")
    stream = _Masked(err(), _secrets(args.url))
    saved = sys.stderr
    sys.stderr = stream  # what libraries print is masked too
    try:
        return _run(args, stream, sleep)
    finally:
        sys.stderr = saved


def _run(args: argparse.Namespace, stream: _Masked, sleep: Callable[[float], object]) -> int:
    p = parse_or_report(Source("--retry", args.retry))
    if p is None:
        return 2
    headers = _headers(args.headers)
    timeout = _timeout(args.timeout)
    body = args.data.encode("utf-8") if args.data is not None else None
    method = (args.method or ("POST" if body is not None else "GET")).upper()
    if p.rules:
        what = f"retry: {p}"
    else:
        settings = f"{p}; " if str(p) else ""
        what = f"no retries ({settings}give --retry POLICY to retry)"
    print(f"{method} {stream.mask(args.url)}  {what}", file=stream)
    if args.key is not None:
        return _fetch_keyed(args, p, method, headers, body, timeout, stream)

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
    except Exception as exc:  # a URL or a response urllib3 cannot use: never a traceback
        print(f"failed: {_error_text(exc)}", file=stream)
        return 1
    attempts = transport.attempts_of(resp)
    _show_attempt(attempts[-1], stream)
    if not 200 <= resp.status <= 299:
        print(f"failed: HTTP {resp.status}: {attempts[-1].reason}", file=stream)
        _body_out(resp.data, out())
        return 1
    _body_out(resp.data, out())
    return 0


def _error_text(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, ValueError) else f"{type(exc).__name__}: {text}"


def _fetch_keyed(
    args: argparse.Namespace,
    p: Any,
    method: str,
    headers: dict[str, str],
    body: bytes | None,
    timeout: float | None,
    stream: _Masked,
) -> int:
    import transport

    store = transport.SqliteStore(args.store) if args.store else None
    where = f"in {args.store}" if args.store else "in this process"
    with transport.BackgroundFetcher(store=store) as fetcher:
        stored = fetcher.store.get(args.key)
        try:
            fut = fetcher.fetch_response(
                args.key,
                args.url,
                method=method,
                headers=headers,
                body=body,
                retry=p,
                timeout=None if timeout is None else f"{round(timeout * 1000)}ms",
            )
        except ValueError:
            if stored is None:  # another process is fetching another request with this key
                raise UsageError(
                    f"key {args.key!r} already names another request {where} (being fetched "
                    "now); give another --cache-key, or another --store file, to send this one"
                ) from None
            raise UsageError(
                f"key {args.key!r} is already stored {where} for another request "
                f"({stored.method} {stream.mask(stored.url)}); give another --cache-key, or "
                "another --store file, to send this one"
            ) from None
        if stored is not None:
            print(
                f"key {args.key}: answered from the store ({where}), no request sent; "
                f"the stored call made {len(stored.attempts)} attempt"
                f"{'s' * (len(stored.attempts) != 1)}:",
                file=stream,
            )
        try:
            status, _h, data = fut.result()
        except transport.FetchError as exc:
            _show_attempts(exc.attempts, stream, stored is not None)
            print(f"failed: {exc}", file=stream)
            _body_out(exc.body, out())
            return 1
        except Exception as exc:  # never a traceback
            print(f"failed: {_error_text(exc)}", file=stream)
            return 1
        result = fetcher.store.get(args.key)
    if result is not None:
        _show_attempts(
            tuple(transport.Attempt.from_dict(r) for r in result.attempts),
            stream,
            stored is not None,
        )
    print(f"key {args.key}: HTTP {status}{' (stored)' if stored is not None else ''}", file=stream)
    if data is not None:
        json.dump(data, out(), indent=2, ensure_ascii=False)
        out().write("\n")
    return 0


def _show_attempts(attempts: Sequence[Attempt], stream: Sink, from_store: bool) -> None:
    """Each attempt; from the store, marked as a record of an earlier run."""
    for a in attempts:
        if not from_store:
            _show_attempt(a, stream)
            continue
        wait = "" if a.delay is None else f", waited {seconds_text(a.delay)}"
        print(f"    stored attempt {a.number}: {a.label}{wait}: {a.reason}", file=stream)
