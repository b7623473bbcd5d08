"""What the httpx shells take from the client library in use: httpx or httpx2.

The retry transports are written once (``_httpx_shell``); everything that differs between
httpx and its continuation httpx2 -- the exception classes, the replayable request
streams, the default inner transports and the connection pool underneath -- is read from
the library module handed to ``Lib``.  Nothing here imports either library: a ``Lib`` is
built by ``transport.httpx`` / ``transport.httpx2``, which import theirs.

The head watchdog.  A sync client cannot interrupt a blocking read, and httpx bounds each
socket read on its own (a server dripping its head a byte a second never trips a 1 s
read timeout).  So the pool's network backend of the inner transport is wrapped: every
read and write of a connection is bounded by what is left of the current attempt's head
(``HEAD_END``, a context variable the shell sets while it waits for the status line and
headers, and while it reads a retried body itself).  Outside those, reads keep the
caller's own timeouts: the body handed back is the caller's.
"""

from __future__ import annotations

import contextvars
import sys
import time
from types import ModuleType
from typing import Any, Final

import policy

__all__ = ["HEAD_END", "Lib"]

#: The monotonic time by which the current attempt's head must have arrived (None: unbounded).
HEAD_END: Final[contextvars.ContextVar[float | None]] = contextvars.ContextVar(
    "retry_policy_head_end", default=None
)


class Lib:
    """The parts of ``http`` (the httpx or httpx2 module) a shell uses."""

    def __init__(self, http: ModuleType) -> None:
        self.name: str = http.__name__
        self.http = http
        self.TransportError: type[Exception] = http.TransportError
        self.ConnectError: Any = http.ConnectError
        self.ReadTimeout: Any = http.ReadTimeout
        self.TimeoutException: Any = http.TimeoutException
        self.HTTPStatusError: type[Exception] = http.HTTPStatusError
        self.HTTPTransport: Any = http.HTTPTransport
        self.AsyncHTTPTransport: Any = http.AsyncHTTPTransport
        self._connect = (http.ConnectError, http.ConnectTimeout)
        self._timeout = (http.ReadTimeout, http.WriteTimeout, http.PoolTimeout)
        self._reset = (http.RemoteProtocolError, http.ReadError, http.WriteError)
        replayable: list[type] = [http.ByteStream]
        multipart = getattr(getattr(http, "_multipart", None), "MultipartStream", None)
        if isinstance(multipart, type):  # re-reads (and seeks) its files on every iteration
            replayable.append(multipart)
        self.replayable: tuple[type, ...] = tuple(replayable)

    def outcome(self, exc: BaseException) -> policy.Outcome | None:
        """The outcome of one of the library's exceptions (``None``: do not retry)."""
        if isinstance(exc, self._connect):
            return policy.ConnectFailure()
        if isinstance(exc, self._timeout):
            return policy.Timeout()
        if isinstance(exc, self._reset):
            return policy.ConnectionReset()
        return None

    def timed_out(self, request: Any, limit: float, during: str) -> Exception:
        """The library's timeout exception for an attempt cut short by the policy."""
        cls: Any = self.ReadTimeout if during == "body" else self.TimeoutException
        where = "reading the body" if during == "body" else "before the response"
        error: Exception = cls(
            f"the attempt took longer than {limit:.3g}s (the retry policy's per-attempt "
            f"timeout) {where}",
            request=request,
        )
        return error


def watch(inner: object) -> bool:
    """Bound the head of every attempt through ``inner`` (a library ``HTTPTransport``):
    wrap its pool's network backend.  False when ``inner`` has no such pool (a custom
    transport): the shell then lowers the request's read timeout instead."""
    pool = getattr(inner, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if backend is None or not hasattr(backend, "connect_tcp"):
        return False
    if isinstance(backend, _WatchedBackend):
        return True
    core = sys.modules.get(type(pool).__module__.partition(".")[0])
    read_timeout = getattr(core, "ReadTimeout", None)
    write_timeout = getattr(core, "WriteTimeout", None)
    if not (isinstance(read_timeout, type) and isinstance(write_timeout, type)):
        return False
    pool._network_backend = _WatchedBackend(backend, read_timeout, write_timeout)  # type: ignore[union-attr]
    return True


class _WatchedBackend:
    """A network backend whose connections honour ``HEAD_END``."""

    def __init__(self, inner: Any, read_timeout: type, write_timeout: type) -> None:
        self._inner = inner
        self._errors = (read_timeout, write_timeout)

    def connect_tcp(self, *args: Any, **kwargs: Any) -> _WatchedStream:
        return _WatchedStream(self._inner.connect_tcp(*args, **kwargs), self._errors)

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> _WatchedStream:
        return _WatchedStream(self._inner.connect_unix_socket(*args, **kwargs), self._errors)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _bound(timeout: float | None, error: type) -> float | None:
    end = HEAD_END.get()
    if end is None:
        return timeout
    left = end - time.monotonic()
    if left <= 0:
        raise error("the retry policy's per-attempt timeout passed before the response")
    return left if timeout is None or timeout > left else timeout


class _WatchedStream:
    """A connection's stream: each read and write bounded by the attempt's head end."""

    __slots__ = ("_errors", "_inner")

    def __init__(self, inner: Any, errors: tuple[type, type]) -> None:
        self._inner = inner
        self._errors = errors

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data: bytes = self._inner.read(max_bytes, _bound(timeout, self._errors[0]))
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bound(timeout, self._errors[1]))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, *args: Any, **kwargs: Any) -> _WatchedStream:
        return _WatchedStream(self._inner.start_tls(*args, **kwargs), self._errors)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
