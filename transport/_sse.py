"""``sse=on``: read a 2xx event stream ahead to its first content or error event (pure).

``Reader`` is fed the bytes of a ``text/event-stream`` body as they arrive and says when
it knows enough: ``CONTENT`` (the first content event: hand the stream over), an error
status (an error event before any content: decide it as that status), or ``None`` (read
on).  It never consumes anything: the shell keeps every byte it read and hands them back
in front of the rest, so no event is lost or duplicated.  The shells bound the read
ahead by the attempt's timeout and ``MAX_AHEAD`` bytes.

Not content: comments (``: ping``), blocks with only ``retry:``/``id:`` fields, an event
named ``ping``, Anthropic's ``message_start`` and ``content_block_start``.  An error:
Anthropic's ``event: error`` (``{"type":"error","error":{"type":T}}``) and an OpenAI
``data:`` object with an ``error`` member (its ``code``, else its ``type``); statuses as
the APIs document them, unknown types 500.  Anything else is content.
"""

from __future__ import annotations

import json
from typing import Final

__all__ = ["CONTENT", "MAX_AHEAD", "Reader", "error_status", "is_event_stream"]

#: The most bytes read ahead of the caller (64 kB).
MAX_AHEAD: Final = 64 * 1024
#: ``Reader.feed``'s answer for a content event.
CONTENT: Final = 0

_STATUSES: Final = {
    "overloaded_error": 529,
    "api_error": 500,
    "rate_limit_error": 429,
    "server_error": 500,
    "rate_limit_exceeded": 429,
}
_NOT_CONTENT_EVENTS: Final = frozenset(("ping", "message_start", "content_block_start"))


def is_event_stream(content_type: str | None) -> bool:
    """Whether a ``Content-Type`` is ``text/event-stream`` (parameters ignored)."""
    return bool(content_type) and content_type.split(";")[0].strip().lower() == "text/event-stream"  # type: ignore[union-attr]


def error_status(kind: object) -> int:
    """The status an API documents for an error type or code (unknown: 500)."""
    return _STATUSES.get(kind, 500) if isinstance(kind, str) else 500


def _block_verdict(block: bytes) -> int | None:
    """A complete event block's verdict: ``CONTENT``, an error status, or ``None`` (not
    content: a comment, ``retry:`` only, ``ping``, a start event)."""
    event = ""
    data: list[str] = []
    for raw in block.decode("utf-8", "replace").splitlines():
        if not raw or raw.startswith(":"):
            continue
        name, _, value = raw.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event = value.strip()
        elif name == "data":
            data.append(value)
    if not data and not event:
        return None  # comments, retry:, id: only
    text = "\n".join(data)
    if event == "error":
        return error_status(_error_kind(text, anthropic=True))
    if event in _NOT_CONTENT_EVENTS:
        return None
    if not event and text.lstrip().startswith("{"):
        try:
            obj = json.loads(text)
        except ValueError:
            return CONTENT
        if isinstance(obj, dict) and isinstance(obj.get("error"), dict):
            err = obj["error"]
            return error_status(err.get("code") or err.get("type"))
        if isinstance(obj, dict) and obj.get("type") in _NOT_CONTENT_EVENTS:
            return None
    return CONTENT


def _error_kind(text: str, *, anthropic: bool) -> object:
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    err = obj.get("error") if isinstance(obj, dict) else None
    if not isinstance(err, dict):
        return None
    return err.get("type") if anthropic else (err.get("code") or err.get("type"))


class Reader:
    """Fed a stream's bytes in order; ``feed`` answers once the first block decides."""

    __slots__ = ("_pending", "read")

    def __init__(self) -> None:
        self._pending = b""
        self.read = 0  # bytes fed so far

    def feed(self, chunk: bytes) -> int | None:
        """``CONTENT``, an error status, or ``None`` (no verdict yet)."""
        self.read += len(chunk)
        buf = (self._pending + chunk).replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        while True:
            end = buf.find(b"\n\n")
            if end < 0:
                self._pending = buf
                return None
            block, buf = buf[:end], buf[end + 2 :]
            verdict = _block_verdict(block)
            if verdict is not None:
                return verdict
