"""``sse=on`` for the aiohttp middleware: read an event stream ahead, hand it back whole.

The event parsing is ``_sse.Reader``'s (pure).  The bytes come from the response's
``content`` (a ``StreamReader``) and go back in front of it: ``response.content`` is
replaced by ``PrefixedContent``, which serves the bytes read ahead first and then reads
the original stream, through every reading method a ``StreamReader`` offers (``read``,
``readany``, ``readline``, ``readuntil``, ``readexactly``, ``readchunk``,
``read_nowait``, the ``iter_*`` iterators and line iteration); anything else
(``exception``, ``at_eof`` after the prefix, ``total_bytes``...) is the original's.

The read ahead runs inside the middleware's per-attempt ``asyncio.timeout``: a server
that never sends its first event is a ``timeout``, like a dripped head.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp

import policy

from ._sse import MAX_AHEAD, Reader, is_event_stream

__all__ = ["PrefixedContent", "read_ahead"]


async def read_ahead(p: policy.Policy, response: aiohttp.ClientResponse) -> int | None:
    """``None`` when ``sse=`` is off or this is not a 2xx event stream (read the body as
    usual); else the status to decide: an error event's, or the response's own (content
    first, ``MAX_AHEAD`` bytes without a verdict, the stream's end)."""
    if not (
        p.sse
        and 200 <= response.status < 300
        and is_event_stream(response.headers.get("Content-Type"))
    ):
        return None
    content = response.content
    reader, chunks, status = Reader(), [], None
    while reader.read < MAX_AHEAD:
        chunk = await content.readany()
        if not chunk:
            break
        chunks.append(chunk)
        status = reader.feed(chunk)
        if status is not None:
            break
    response.content = PrefixedContent(b"".join(chunks), content)  # type: ignore[assignment]
    return status or response.status


class PrefixedContent:
    """A ``StreamReader`` whose first bytes are ``prefix``, then the original's."""

    def __init__(self, prefix: bytes, original: aiohttp.StreamReader) -> None:
        self._prefix = prefix
        self._original = original

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original, name)

    def __repr__(self) -> str:
        return f"<PrefixedContent {len(self._prefix)} bytes ahead of {self._original!r}>"

    def _take(self, n: int = -1) -> bytes:
        out = self._prefix if n < 0 else self._prefix[:n]
        self._prefix = self._prefix[len(out) :]
        return out

    def at_eof(self) -> bool:
        return not self._prefix and self._original.at_eof()

    def is_eof(self) -> bool:
        return not self._prefix and self._original.is_eof()

    async def read(self, n: int = -1) -> bytes:
        if not self._prefix:
            return await self._original.read(n)
        if n < 0:
            return self._take() + await self._original.read()
        return self._take(n)

    async def readany(self) -> bytes:
        return self._take() if self._prefix else await self._original.readany()

    def read_nowait(self, n: int = -1) -> bytes:
        return self._take(n) if self._prefix else self._original.read_nowait(n)

    async def readchunk(self) -> tuple[bytes, bool]:
        return (self._take(), False) if self._prefix else await self._original.readchunk()

    async def readexactly(self, n: int) -> bytes:
        head = self._take(n)
        return head + await self._original.readexactly(n - len(head)) if len(head) < n else head

    async def readline(self) -> bytes:
        return await self.readuntil(b"\n")

    async def readuntil(self, separator: bytes = b"\n") -> bytes:
        if not self._prefix:
            return await self._original.readuntil(separator)
        at = self._prefix.find(separator)
        while at < 0:  # the separator is not in what is buffered: read on
            more = await self._original.readany()
            if not more:
                return self._take()
            self._prefix += more
            at = self._prefix.find(separator)
        return self._take(at + len(separator))

    async def iter_any(self) -> AsyncIterator[bytes]:
        while True:
            chunk = await self.readany()
            if not chunk:
                return
            yield chunk

    async def iter_chunked(self, n: int) -> AsyncIterator[bytes]:
        while True:
            chunk = await self.read(n)
            if not chunk:
                return
            yield chunk

    async def iter_chunks(self) -> AsyncIterator[tuple[bytes, bool]]:
        while True:
            chunk = await self.readchunk()
            if chunk == (b"", False):  # the end, as aiohttp's own iterator sees it
                return
            yield chunk

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._lines()

    async def _lines(self) -> AsyncIterator[bytes]:
        while True:
            line = await self.readline()
            if not line:
                return
            yield line
