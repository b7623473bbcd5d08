"""``sse=on`` for the httpx/httpx2 transports: read an event stream ahead, hand it back whole.

The event parsing is ``_sse.Reader``'s (pure); here the bytes come from the response's
stream and go back to it: the response's ``stream`` is replaced by one that yields the
chunks read ahead, then the rest, so the caller sees every byte once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import policy

from ._sse import MAX_AHEAD, Reader, is_event_stream

__all__ = ["read_ahead", "read_ahead_async", "wants_read_ahead"]


def wants_read_ahead(p: policy.Policy, response: Any) -> bool:
    """``sse=on``, a 2xx, and a ``text/event-stream`` body."""
    return (
        p.sse
        and 200 <= response.status_code < 300
        and is_event_stream(response.headers.get("content-type"))
    )


def _verdict(outcome: policy.Response, status: int | None) -> policy.Response:
    if status is None or status == 0:
        return outcome
    return policy.Response(status, outcome.headers)


def _timed_out(lib: Any, request: Any) -> Exception:
    error: Exception = lib.ReadTimeout(
        "no first event within the attempt's timeout (sse=on read ahead)", request=request
    )
    return error


Ahead = tuple[policy.Outcome, Exception | None]


def read_ahead(
    response: Any, lib: Any, end: float, outcome: policy.Response, request: Any
) -> Ahead:
    """Read ``response``'s stream until a verdict, ``MAX_AHEAD`` bytes, its end or ``end``
    (monotonic; each read is bounded by it too, ``HEAD_END`` being set); put the bytes
    back in front.  Returns the outcome (an error event's status, else ``outcome``) and
    no error, or -- when ``end`` or a broken connection came first -- the failure's
    outcome and error, the response closed."""
    original = response.stream
    it: Iterator[bytes] = iter(original)
    reader, chunks, status = Reader(), [], None
    try:
        while reader.read < MAX_AHEAD:
            if time.monotonic() >= end:
                return _cut(response, lib, policy.Timeout(), _timed_out(lib, request))
            chunk = next(it, None)
            if chunk is None:
                break
            chunks.append(chunk)
            status = reader.feed(chunk)
            if status is not None:
                break
    except lib.TransportError as e:
        failed = lib.outcome(e)
        if failed is None:
            raise
        return _cut(response, lib, failed, e)

    class Prefixed(lib.http.SyncByteStream):  # type: ignore[misc]
        def __iter__(self) -> Iterator[bytes]:
            yield from chunks
            yield from it

        def close(self) -> None:
            original.close()

    response.stream = Prefixed()
    return _verdict(outcome, status), None


def _cut(response: Any, lib: Any, outcome: policy.Outcome, error: Exception) -> Ahead:
    with contextlib.suppress(lib.TransportError):
        response.stream.close()
    response.stream = lib.http.ByteStream(b"")  # nothing more to read
    return outcome, error


async def read_ahead_async(
    response: Any, lib: Any, end: float | None, outcome: policy.Response, request: Any
) -> Ahead:
    """As ``read_ahead``, for an async stream; ``end`` is the event loop's time (``None``:
    no bound but the stream's own timeouts)."""
    original = response.stream
    it: AsyncIterator[bytes] = original.__aiter__()
    reader, chunks, status = Reader(), [], None
    error: Exception | None = None
    failed: policy.Outcome | None = None
    try:
        async with asyncio.timeout_at(end):
            while reader.read < MAX_AHEAD:
                try:
                    chunk = await it.__anext__()
                except StopAsyncIteration:
                    break
                chunks.append(chunk)
                status = reader.feed(chunk)
                if status is not None:
                    break
    except TimeoutError:
        error, failed = _timed_out(lib, request), policy.Timeout()
    except lib.TransportError as e:
        failed = lib.outcome(e)
        if failed is None:
            raise
        error = e
    if error is not None:
        assert failed is not None
        with contextlib.suppress(lib.TransportError):
            await original.aclose()
        response.stream = lib.http.ByteStream(b"")
        return failed, error

    class Prefixed(lib.http.AsyncByteStream):  # type: ignore[misc]
        async def __aiter__(self) -> AsyncIterator[bytes]:
            for c in chunks:
                yield c
            async for c in it:
                yield c

        async def aclose(self) -> None:
            await original.aclose()

    response.stream = Prefixed()
    return _verdict(outcome, status), None
