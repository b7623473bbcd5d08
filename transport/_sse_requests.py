"""``sse=on`` for ``RetryAdapter`` (requests and niquests): read an event stream ahead.

The event parsing is ``_sse.Reader``'s (pure).  The bytes come from the response's
``raw`` (urllib3's ``HTTPResponse``, read with ``read1`` so a read returns what has
arrived) and go back in front of it: ``response.raw`` is replaced by ``PrefixedRaw``,
whose ``stream``/``read``/``read1`` serve the bytes read ahead first (decoded, as
``iter_content`` asks for them), so ``iter_content``, ``iter_lines``, ``content`` and
``text`` see every byte once; anything else (``release_conn``, ``headers``...) is the
original's.

Bounded by the attempt's end: each read's socket timeout is lowered to the time left
(and the caller's read timeout, lowered to the attempt's limit, bounds it anyway), and
no read starts past the end.  A server that never sends its first event is a
``timeout``, like a dripped head: the library's ``ReadTimeout``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import policy

from ._sse import MAX_AHEAD, Reader, is_event_stream

__all__ = ["PrefixedRaw", "read_ahead", "wants_read_ahead"]

_INF = float("inf")


def wants_read_ahead(p: policy.Policy, response: Any) -> bool:
    """``sse=on``, a 2xx, and a ``text/event-stream`` body not read yet."""
    return (
        p.sse
        and 200 <= response.status_code < 300
        and response.raw is not None
        and is_event_stream(response.headers.get("content-type"))
    )


def read_ahead(
    lib: Any, request: Any, response: Any, outcome: policy.Response, limit: float
) -> tuple[policy.Outcome, Exception | None]:
    """Read until a verdict, ``MAX_AHEAD`` bytes, the stream's end or ``limit`` seconds;
    put the bytes back in front.  The outcome (an error event's status, else
    ``outcome``) and no error; or the failure's outcome and the library's exception,
    the response closed."""
    raw = response.raw
    end = time.monotonic() + limit
    reader, chunks, status = Reader(), [], None
    sock = _socket(raw) if limit != _INF else None
    own = sock.gettimeout() if sock is not None else None
    # A chunked body is read through urllib3's own chunk reader, kept for the rest (its
    # state is the generator's); any other body with ``read1``, what has arrived.
    rest: Iterator[bytes] | None = None
    if getattr(raw, "chunked", False) and callable(getattr(raw, "read_chunked", None)):
        rest = raw.read_chunked(None, decode_content=True)
    try:
        while reader.read < MAX_AHEAD:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError("no first event within the attempt's timeout")
            if sock is not None:
                sock.settimeout(left if own is None else min(own, left))
            if rest is not None:
                chunk = next(rest, b"")
            else:
                chunk = raw.read1(MAX_AHEAD - reader.read, decode_content=True)
            if not chunk:
                break
            chunks.append(chunk)
            status = reader.feed(chunk)
            if status is not None:
                break
    except Exception as e:
        failed = _failure(e)
        if failed is None:
            raise
        response.close()
        response.raw = PrefixedRaw(b"", None)
        error = (
            lib.ReadTimeout(e, request=request)
            if type(failed) is policy.Timeout
            else lib.ConnectionError(e, request=request)
        )
        return failed, error
    finally:
        if sock is not None:
            _restore(sock, own)  # the rest of the body is read under the caller's timeout
    response.raw = PrefixedRaw(b"".join(chunks), raw, rest)
    if status:
        return policy.Response(status, outcome.headers), None
    return outcome, None


def _socket(raw: Any) -> Any:
    """The socket under ``raw`` (``None`` when it cannot be reached)."""
    conn = getattr(raw, "connection", None) or getattr(raw, "_connection", None)
    sock = getattr(conn, "sock", None)
    return sock if callable(getattr(sock, "settimeout", None)) else None


def _restore(sock: Any, timeout: float | None) -> None:
    with contextlib.suppress(OSError):  # closed meanwhile
        sock.settimeout(timeout)


def _failure(exc: BaseException) -> policy.Outcome | None:
    """A read's failure: a timeout or a broken connection (urllib3's or urllib3-future's
    classes, known by name: neither is imported here); ``None``: not one."""
    names = {c.__name__ for c in type(exc).__mro__}
    if isinstance(exc, TimeoutError) or names & {"ReadTimeoutError", "TimeoutError"}:
        return policy.Timeout()
    if isinstance(exc, OSError) or names & {"ProtocolError", "HTTPError", "IncompleteRead"}:
        return policy.ConnectionReset()
    return None


class PrefixedRaw:
    """A ``raw`` response whose first (decoded) bytes are ``prefix``, then the original's
    (from ``rest``, the chunk reader the read ahead began, when there is one)."""

    def __init__(self, prefix: bytes, original: Any, rest: Iterator[bytes] | None = None) -> None:
        self._prefix = prefix
        self._original = original
        self._rest = rest
        if rest is not None:  # the chunk reader is the body's only way on
            self._original_reads = False
        else:
            self._original_reads = original is not None

    def __getattr__(self, name: str) -> Any:
        if self._original is None:
            raise AttributeError(name)
        return getattr(self._original, name)

    def _take(self, n: int | None) -> bytes:
        out = self._prefix if n is None or n < 0 else self._prefix[:n]
        self._prefix = self._prefix[len(out) :]
        return out

    def _fill(self) -> bool:
        """Move the next chunk of ``rest`` into the prefix; False at its end."""
        if self._rest is None:
            return False
        chunk = next(self._rest, None)
        if chunk is None:
            self._rest = None
            return False
        self._prefix += chunk
        return True

    def stream(
        self, amt: int | None = 2**16, decode_content: bool | None = None
    ) -> Iterator[bytes]:
        while self._prefix or self._fill():
            yield self._take(amt)
        if self._original_reads:
            yield from self._original.stream(amt, decode_content=decode_content)

    def read(self, amt: int | None = None, *args: Any, **kwargs: Any) -> bytes:
        if not self._original_reads:
            while (amt is None or amt < 0 or len(self._prefix) < amt) and self._fill():
                pass
            return self._take(amt)
        if not self._prefix:
            return bytes(self._original.read(amt, *args, **kwargs))
        if amt is None or amt < 0:
            return self._take(None) + bytes(self._original.read(None, *args, **kwargs))
        return self._take(amt)

    def read1(self, amt: int | None = None, *args: Any, **kwargs: Any) -> bytes:
        if not self._prefix:
            self._fill()
        if self._prefix or not self._original_reads:
            return self._take(amt)
        return bytes(self._original.read1(amt, *args, **kwargs))

    def close(self) -> None:
        if self._original is not None:
            self._original.close()

    def release_conn(self) -> None:
        if self._original is not None:
            self._original.release_conn()

    @property
    def closed(self) -> bool:
        return self._original is None or bool(self._original.closed)
