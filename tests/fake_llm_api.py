"""A local fake of the OpenAI and Anthropic HTTP APIs, for the real SDKs to talk to.

``FakeLLMAPI`` serves, on 127.0.0.1 (a free port, a thread per connection, keep-alive):

* ``POST /v1/chat/completions`` -- an OpenAI chat completion, or an SSE stream of
  ``chat.completion.chunk`` events ending in ``data: [DONE]`` when ``"stream": true``;
* ``POST /v1/messages`` -- an Anthropic message, or its SSE stream (``message_start``,
  ``content_block_start``, ``content_block_delta``..., ``message_stop``).

It speaks the headers the SDKs and the presets read: every answer carries the quota
headers of its flavour -- OpenAI ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}``
with Go durations (``1.5s``, ``6m0s``, ``250ms``), Anthropic
``anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}`` with RFC 3339 resets --
and a refusal adds ``retry-after`` (seconds) or ``retry-after-ms``.

What goes wrong is either scripted (``fail_next("429", "500", ...)``: the next requests
get these faults, in order) or drawn: a per-window request quota (``requests_per_window``)
answers 429 when spent, and ``error_rate`` answers a 5xx (500; 529 ``overloaded_error``
for Anthropic) at that rate, from a seeded random generator.

Extension points: ``Quota`` is one family's fixed-window quota (requests now; a token
quota is another ``Quota`` spent by a request's token cost); ``FakeLLMAPI.stream_events``
builds the SSE events of a reply, so an error event inside a stream is one more item.
"""

from __future__ import annotations

import http.server
import json
import random
import threading
import time
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

__all__ = ["FakeLLMAPI", "Quota", "go_duration"]

FAULTS = (
    "429",  # rate limited: quota headers, retry-after (s)
    "429-ms",  # rate limited: retry-after-ms only (OpenAI)
    "500",
    "503",
    "529",  # Anthropic overloaded_error
    "500-noretry",  # a 500 with x-should-retry: false
    "sse-error",  # a 200 event stream whose first event is an error (overloaded / server_error)
    "sse-late-error",  # a 200 event stream: one content event, then an error event
    "sse-silent",  # a 200 event stream that never sends its first event (held ~5 s)
)


def go_duration(seconds: float) -> str:
    """A Go ``time.Duration`` string as OpenAI sends it: ``6m0s``, ``1.5s``, ``250ms``."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    minutes, rest = divmod(seconds, 60)
    text = f"{rest:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{int(minutes)}m{text}" if minutes else text


def _rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class Quota:
    """One family's fixed-window quota: ``limit`` units per ``window`` seconds."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._start = 0.0
        self._used = 0
        self._lock = threading.Lock()

    def spend(self, now: float, units: int = 1) -> tuple[bool, int, float]:
        """Spend ``units``: (granted, remaining after, seconds until the window resets)."""
        with self._lock:
            start = now - (now % self.window)
            if start != self._start:
                self._start, self._used = start, 0
            reset = start + self.window - now
            if self._used + units > self.limit:
                return False, max(0, self.limit - self._used), reset
            self._used += units
            return True, self.limit - self._used, reset


class FakeLLMAPI:
    """The fake API (a context manager): ``base_url`` for OpenAI, ``url`` for Anthropic."""

    def __init__(
        self,
        *,
        requests_per_window: int | None = None,
        window: float = 1.0,
        error_rate: float = 0.0,
        seed: int = 0,
        retry_after: bool = True,
        tokens_per_window: int | None = None,
    ) -> None:
        self.quota = Quota(requests_per_window, window) if requests_per_window else None
        #: A token quota: each request spends its prompt characters / 4 + its max_tokens.
        self.tokens = Quota(tokens_per_window, window) if tokens_per_window else None
        self.error_rate = error_rate
        self.retry_after = retry_after
        self._rand = random.Random(seed)
        self._script: deque[str] = deque()
        self._lock = threading.Lock()
        self.seen: list[dict[str, str]] = []  # every request's headers, in order
        self.statuses: list[int] = []
        api = self

        class Handler(_Handler):
            fake = api

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def base_url(self) -> str:
        """OpenAI's ``base_url`` (with ``/v1``)."""
        return self.url + "/v1"

    def fail_next(self, *faults: str) -> None:
        """The next requests get these faults (see ``FAULTS``), in order."""
        for f in faults:
            if f not in FAULTS:
                raise ValueError(f"unknown fault {f!r}")
        with self._lock:
            self._script.extend(faults)

    def count(self, status: int) -> int:
        return sum(1 for s in self.statuses if s == status)

    def __enter__(self) -> FakeLLMAPI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    # -- what a request gets ----------------------------------------------------------

    def decide(self, tokens: int = 1) -> tuple[str | None, dict[str, str]]:
        """(fault or None, quota headers) for the next request (of ``tokens`` tokens)."""
        now = time.time()
        headers: dict[str, str] = {}
        fault: str | None = None
        with self._lock:
            if self._script:
                fault = self._script.popleft()
            elif self.error_rate and self._rand.random() < self.error_rate:
                fault = "5xx"
        if self.quota is not None:
            granted, remaining, reset = self.quota.spend(now)
            headers["_remaining"] = str(remaining)
            headers["_reset"] = repr(reset)
            if not granted and fault is None:
                fault = "429"
        if self.tokens is not None:
            if fault is None:
                granted, remaining, reset = self.tokens.spend(now, tokens)
                if not granted:
                    fault = "429"
            else:  # refused: nothing spent, what is left reported
                _, remaining, reset = self.tokens.spend(now, 0)
            headers["_tokens_remaining"] = str(remaining)
            headers["_tokens_reset"] = repr(reset)
            headers.setdefault("_reset", repr(reset))
        return fault, headers

    def stream_events(self, flavour: str, model: str, text: str) -> Iterator[bytes]:
        """The SSE events of a streamed reply, one ``bytes`` per event."""
        words = [w + " " for w in text.split(" ")]
        if flavour == "openai":
            for w in words:
                chunk = {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": model,
                    "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}],
                }
                yield b"data: " + json.dumps(chunk).encode() + b"\n\n"
            yield b"data: [DONE]\n\n"
            return
        message = _anthropic_message(model, "")
        message["content"] = []
        yield _event("message_start", {"type": "message_start", "message": message})
        yield _event(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        )
        yield b": ping\n\n"
        for w in words:
            delta = {"type": "text_delta", "text": w}
            yield _event(
                "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
            )
        yield _event("content_block_stop", {"type": "content_block_stop", "index": 0})
        yield _event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": len(words)},
            },
        )
        yield _event("message_stop", {"type": "message_stop"})


def request_tokens(body: dict[str, Any]) -> int:
    """The tokens the fake counts for a request: prompt characters / 4 + max_tokens."""
    chars = sum(len(str(m.get("content", ""))) for m in body.get("messages", []) or [])
    budget = body.get("max_completion_tokens") or body.get("max_tokens") or 0
    return -(-chars // 4) + int(budget)


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


def _anthropic_message(model: str, text: str) -> dict[str, Any]:
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 2},
    }


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeLLMAPI

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        flavour = "anthropic" if self.path.rstrip("/").endswith("/messages") else "openai"
        fake = self.fake
        with fake._lock:
            fake.seen.append({k.lower(): v for k, v in self.headers.items()})
        fault, quota = fake.decide(request_tokens(body))
        headers = self._quota_headers(flavour, quota)
        model = str(body.get("model", "fake-model"))
        if fault is not None and fault.startswith("sse-"):
            self._stream_fault(flavour, model, fault, headers)
        elif fault is None:
            self._ok(flavour, model, bool(body.get("stream")), headers)
        else:
            self._fail(flavour, fault, quota, headers)

    def _quota_headers(self, flavour: str, quota: dict[str, str]) -> dict[str, str]:
        q = self.fake.quota
        t = self.fake.tokens
        if t is not None:
            remaining, reset = quota["_tokens_remaining"], float(quota["_tokens_reset"])
            if flavour == "openai":
                return {
                    "x-ratelimit-limit-tokens": str(t.limit),
                    "x-ratelimit-remaining-tokens": remaining,
                    "x-ratelimit-reset-tokens": go_duration(reset),
                }
            return {
                "anthropic-ratelimit-tokens-limit": str(t.limit),
                "anthropic-ratelimit-tokens-remaining": remaining,
                "anthropic-ratelimit-tokens-reset": _rfc3339(time.time() + reset),
            }
        if q is None:
            return {}
        remaining, reset = quota["_remaining"], float(quota["_reset"])
        if flavour == "openai":
            return {
                "x-ratelimit-limit-requests": str(q.limit),
                "x-ratelimit-remaining-requests": remaining,
                "x-ratelimit-reset-requests": go_duration(reset),
                "x-ratelimit-limit-tokens": "1000000",
                "x-ratelimit-remaining-tokens": "999000",
                "x-ratelimit-reset-tokens": "6ms",
            }
        return {
            "anthropic-ratelimit-requests-limit": str(q.limit),
            "anthropic-ratelimit-requests-remaining": remaining,
            "anthropic-ratelimit-requests-reset": _rfc3339(time.time() + reset),
        }

    def _stream_fault(self, flavour: str, model: str, fault: str, headers: dict[str, str]) -> None:
        if fault == "sse-silent":
            with self.fake._lock:
                self.fake.statuses.append(200)
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            self.wfile.flush()
            time.sleep(5)
            return
        if flavour == "anthropic":
            err = _event(
                "error",
                {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
            )
        else:
            payload = {"error": {"message": "boom", "type": "server_error", "code": None}}
            err = b"data: " + json.dumps(payload).encode() + b"\n\n"
        events = list(self.fake.stream_events(flavour, model, "hello"))
        if fault == "sse-error":
            body = (events[0] + events[1] + err) if flavour == "anthropic" else err
        else:  # one content event first
            body = b"".join(events[:4] if flavour == "anthropic" else events[:1]) + err
        self._send(200, headers, body, "text/event-stream")

    def _send(self, status: int, headers: dict[str, str], body: bytes, ctype: str) -> None:
        with self.fake._lock:
            self.fake.statuses.append(status)
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _ok(self, flavour: str, model: str, stream: bool, headers: dict[str, str]) -> None:
        text = "hello from the fake api"
        if stream:
            events = b"".join(self.fake.stream_events(flavour, model, text))
            self._send(200, headers, events, "text/event-stream")
            return
        if flavour == "openai":
            reply: dict[str, Any] = {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": 0,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8},
            }
        else:
            reply = _anthropic_message(model, text)
        self._send(200, headers, json.dumps(reply).encode(), "application/json")

    def _fail(
        self, flavour: str, fault: str, quota: dict[str, str], headers: dict[str, str]
    ) -> None:
        if fault == "5xx":
            fault = "529" if flavour == "anthropic" else "500"
        status = int(fault[:3])
        if status == 429:
            reset = float(quota.get("_reset", "0.05"))
            if fault == "429-ms":
                headers["retry-after-ms"] = str(max(1, round(reset * 1000)))
            elif self.fake.retry_after:
                headers["retry-after"] = str(max(1, round(reset + 0.499)))
        if fault == "500-noretry":
            headers["x-should-retry"] = "false"
        kind = {429: "rate_limit_error", 529: "overloaded_error"}.get(status, "api_error")
        if flavour == "anthropic":
            error: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": kind}}
        else:
            code = "rate_limit_exceeded" if status == 429 else "server_error"
            error = {"error": {"message": code, "type": code, "code": code}}
        self._send(status, headers, json.dumps(error).encode(), "application/json")
