"""httpx: ``RetryTransport`` and ``AsyncRetryTransport``, thin shells around the one loop.

httpx lets a *transport* see every request a ``Client`` sends, which is exactly where a
retry layer belongs: below redirects, auth and cookies (so a redirect is never a retry)
and above connection pooling (so a retry can reuse the keep-alive connection)::

    client = httpx.Client(transport=transport.RetryTransport("5xx:backoff(3)"))
    aclient = httpx.AsyncClient(transport=transport.AsyncRetryTransport(p))

Each attempt goes to the inner transport (``httpx.HTTPTransport()`` /
``httpx.AsyncHTTPTransport()`` by default); what happened becomes a ``policy`` outcome:

==========================================  ==========
httpx                                       outcome
==========================================  ==========
a response                                  ``Response(status, headers)`` (``multi_items()``)
``ConnectError``, ``ConnectTimeout``        ``connect``
``ReadTimeout``, ``WriteTimeout``,          ``timeout``
``PoolTimeout``, the attempt's own bound
``RemoteProtocolError``, ``ReadError``,     ``reset``
``WriteError``
anything else                               raised at once, never retried
==========================================  ==========

Timeouts.  Each attempt gets ``min(timeout, time left before the deadline)`` seconds
(``timeout``: the policy's ``timeout=``, else the transport's ``timeout=``, 120 s by
default).  Every timeout in ``request.extensions["timeout"]`` (connect, read, write,
pool) is lowered to it.  Async: the whole attempt -- pool, connect, send, response
headers -- runs under one ``asyncio.timeout``, and so does every chunk of the body read
after it, against the same end.  Sync: each network operation is bounded by what was
left when the attempt started, and the body is read under a check of the attempt's end
between chunks, so a server dripping its body is cut off at most one read timeout after
the end (the sync client cannot interrupt a blocking read).

A retried response's body is read and closed before the wait, so keep-alive reuses the
connection; the response given back (accepted, or the last one when the policy gives
up) is streamed to the caller as usual.  Giving up on an error re-raises httpx's own
exception with the policy's reason added as a note (``add_note``).
"""

from __future__ import annotations

import asyncio
import functools
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, Final

import httpx

import policy
from policy.loop._loop import Attempt, Call, Done, Wait, as_policy
from policy.loop._state import LocalState, State

from ._check import callable_or_none, positive_seconds, required_callable
from ._redact import mask_url

__all__ = ["AsyncRetryTransport", "RetryTransport", "httpx_outcome"]

#: The per-attempt timeout when neither the policy nor the transport gives one (seconds).
DEFAULT_TIMEOUT: Final = 120.0
_PORTS: Final = {"http": 80, "https": 443}
_TIMEOUT_KEYS: Final = ("connect", "read", "write", "pool")
_MISSING: Final = object()

Hook = Callable[[Attempt], object]


def httpx_outcome(exc: BaseException) -> Any:
    """The outcome of an httpx exception (``None``: not a transport failure, do not retry)."""
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return policy.ConnectFailure()
    if isinstance(exc, httpx.ReadTimeout | httpx.WriteTimeout | httpx.PoolTimeout):
        return policy.Timeout()
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return policy.ConnectionReset()
    return None


def _replayable_types() -> tuple[type, ...]:
    types: list[type] = [httpx.ByteStream]
    multipart = getattr(getattr(httpx, "_multipart", None), "MultipartStream", None)
    if isinstance(multipart, type):  # re-reads (and seeks) its files on every iteration
        types.append(multipart)
    return tuple(types)


_REPLAYABLE: Final = _replayable_types()


class _Base:
    """What the sync and async transports share: settings, the call set-up, the timeouts."""

    def __init__(
        self,
        policy: policy.Policy | str,
        *,
        sleep: Any,
        clock: Callable[[], float],
        rand: Callable[[], float] | None,
        on_retry: Hook | None,
        on_giveup: Hook | None,
        state: State | None,
        timeout: float,
    ) -> None:
        self.policy = as_policy(policy)
        self._timeout = positive_seconds("timeout", timeout)
        self._own_timeout = self._attempt_timeout(self.policy)
        self._sleep = required_callable("sleep", sleep)
        self._clock = required_callable("clock", clock)
        self._rand = callable_or_none("rand", rand) or random.random
        self._on_retry = callable_or_none("on_retry", on_retry)
        self._on_giveup = callable_or_none("on_giveup", on_giveup)
        self._state: State = state if state is not None else LocalState()
        self._offset = time.time() - clock()  # now = wall0 + clock() - clock0

    def _policy_of(self, request: httpx.Request) -> policy.Policy | None:
        """The request's own ``retry_policy`` extension, else this transport's policy."""
        own = request.extensions.get("retry_policy", _MISSING)
        if own is _MISSING:
            return self.policy
        if own is None:
            return None
        return as_policy(own)

    def _attempt_timeout(self, p: policy.Policy) -> float:
        t = p.timeout_ms
        return t / 1000 if t is not None else self._timeout

    def _call(self, p: policy.Policy, request: httpx.Request, now: float) -> Call:
        url = request.url
        scheme = url.scheme
        return Call(
            p,
            method=request.method,
            now=now,
            timeout=self._own_timeout if p is self.policy else self._attempt_timeout(p),
            origin=f"{scheme}://{url.host}:{url.port or _PORTS.get(scheme, 0)}",
            display=functools.partial(_masked, url),
            state=self._state,
            rand=self._rand,
            on_retry=self._on_retry,
            on_giveup=self._on_giveup,
        )


def _masked(url: httpx.URL) -> str:
    return mask_url(str(url))


def _shrink(timeouts: Any, limit: float) -> dict[str, float]:
    """The request's timeouts (connect, read, write, pool), none above ``limit``.

    A timeout that is not a number at most ``limit`` (``None``, NaN, infinite) is ``limit``.
    """
    out = {}
    for key in _TIMEOUT_KEYS:
        v = timeouts.get(key) if isinstance(timeouts, dict) else None
        out[key] = v if isinstance(v, int | float) and 0 <= v <= limit else limit
    return out


def _outcome_of_response(response: httpx.Response) -> policy.Response:
    return policy.Response(response.status_code, response.headers.multi_items())


def _give_up(exc: BaseException, call: Call, reason: str) -> BaseException:
    exc.add_note(f"retry policy: {reason}")
    exc.retry_attempts = tuple(call.attempts)  # type: ignore[attr-defined]
    return exc


def _timed_out(request: httpx.Request, limit: float, during: str) -> httpx.TimeoutException:
    cls = httpx.ReadTimeout if during == "body" else httpx.TimeoutException
    return cls(
        f"the attempt took longer than {limit:.3g}s (the retry policy's per-attempt "
        f"timeout) {'reading the body' if during == 'body' else 'before the response'}",
        request=request,
    )


class RetryTransport(_Base, httpx.BaseTransport):
    """An ``httpx`` transport that retries as a policy says: ``Client(transport=...)``.

    ``transport`` is the inner transport (default ``httpx.HTTPTransport()``; closed with
    this one).  ``timeout`` is the per-attempt timeout (seconds) when the policy has no
    ``timeout=``.  ``sleep``/``clock``/``rand``, ``on_retry``/``on_giveup`` and
    ``state`` are as for every adapter.  A request's ``extensions["retry_policy"]``
    overrides the policy for that request (a string, a ``Policy``, or ``None``: no
    retries).  The attempts are on ``response.extensions["retry_attempts"]``, or on the
    raised exception as ``retry_attempts``.
    """

    def __init__(
        self,
        policy: policy.Policy | str,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], object] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] | None = None,
        on_retry: Hook | None = None,
        on_giveup: Hook | None = None,
        state: State | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        super().__init__(
            policy,
            sleep=sleep,
            clock=clock,
            rand=rand,
            on_retry=on_retry,
            on_giveup=on_giveup,
            state=state,
            timeout=timeout,
        )
        self.transport = transport if transport is not None else httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        p = self._policy_of(request)
        inner = self.transport
        if p is None:
            return inner.handle_request(request)
        clock, offset, sleep = self._clock, self._offset, self._sleep
        call = self._call(p, request, offset + clock())
        timeouts = request.extensions.get("timeout", {})
        replayable = isinstance(request.stream, _REPLAYABLE)
        last_limit = -1.0
        while True:
            step = call.before(offset + clock())
            if type(step) is Wait:
                if step.seconds > 0:
                    sleep(step.seconds)
                continue
            if type(step) is Done:  # gave up before sending (a pacing hold)
                raise _give_up(
                    httpx.ConnectError("not sent: " + step.reason, request=request),
                    call,
                    step.reason,
                )
            limit = step.timeout  # type: ignore[union-attr]
            if limit != last_limit:
                request.extensions["timeout"] = _shrink(timeouts, limit)
                last_limit = limit
            end = clock() + limit
            error: Exception | None = None
            response: httpx.Response | None = None
            try:
                response = inner.handle_request(request)
            except httpx.TransportError as e:
                outcome = httpx_outcome(e)
                if outcome is None:
                    raise
                error = e
            else:
                outcome = _outcome_of_response(response)
            after = call.after(outcome, offset + clock(), replayable=replayable)
            if type(after) is Wait:
                if response is not None:
                    _discard(response, end, clock)
                if after.seconds > 0:
                    sleep(after.seconds)
                continue
            if error is not None:
                raise _give_up(error, call, after.reason)  # type: ignore[union-attr]
            assert response is not None
            response.extensions["retry_attempts"] = tuple(call.attempts)
            response.stream = _BoundedStream(response.stream, request, end, limit, clock)
            return response

    def close(self) -> None:
        self.transport.close()


def _discard(response: httpx.Response, end: float, clock: Callable[[], float]) -> None:
    """Read a retried response's body (so its connection is reused) and close it."""
    try:
        for _ in response.stream:  # type: ignore[union-attr]
            if clock() > end:
                break
    except httpx.TransportError:
        pass
    finally:
        response.close()


class _BoundedStream(httpx.SyncByteStream):
    """The response body, cut off with ``ReadTimeout`` once the attempt's time is up."""

    __slots__ = ("_clock", "_end", "_inner", "_limit", "_request")

    def __init__(
        self,
        inner: Any,
        request: httpx.Request,
        end: float,
        limit: float,
        clock: Callable[[], float],
    ) -> None:
        self._inner = inner
        self._request = request
        self._end = end
        self._limit = limit
        self._clock = clock

    def __iter__(self) -> Iterator[bytes]:
        end, clock = self._end, self._clock
        for chunk in self._inner:
            if clock() > end:
                self._inner.close()
                raise _timed_out(self._request, self._limit, "body")
            yield chunk

    def close(self) -> None:
        self._inner.close()


class AsyncRetryTransport(_Base, httpx.AsyncBaseTransport):
    """An async ``httpx`` transport that retries as a policy says: ``AsyncClient(transport=...)``.

    As ``RetryTransport``, with ``httpx.AsyncHTTPTransport()`` as the default inner
    transport and an awaitable ``sleep`` (default ``asyncio.sleep``).  Each attempt runs
    under ``asyncio.timeout`` of its per-attempt timeout, body included.
    """

    def __init__(
        self,
        policy: policy.Policy | str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] | None = None,
        on_retry: Hook | None = None,
        on_giveup: Hook | None = None,
        state: State | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        super().__init__(
            policy,
            sleep=sleep,
            clock=clock,
            rand=rand,
            on_retry=on_retry,
            on_giveup=on_giveup,
            state=state,
            timeout=timeout,
        )
        self.transport = transport if transport is not None else httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        p = self._policy_of(request)
        inner = self.transport
        if p is None:
            return await inner.handle_async_request(request)
        clock, offset, sleep = self._clock, self._offset, self._sleep
        call = self._call(p, request, offset + clock())
        timeouts = request.extensions.get("timeout", {})
        replayable = isinstance(request.stream, _REPLAYABLE)
        loop = asyncio.get_running_loop()
        last_limit = -1.0
        while True:
            step = call.before(offset + clock())
            if type(step) is Wait:
                if step.seconds > 0:
                    await sleep(step.seconds)
                continue
            if type(step) is Done:
                raise _give_up(
                    httpx.ConnectError("not sent: " + step.reason, request=request),
                    call,
                    step.reason,
                )
            limit = step.timeout  # type: ignore[union-attr]
            if limit != last_limit:
                request.extensions["timeout"] = _shrink(timeouts, limit)
                last_limit = limit
            end = loop.time() + limit
            error: Exception | None = None
            response: httpx.Response | None = None
            try:
                async with asyncio.timeout_at(end):
                    response = await inner.handle_async_request(request)
            except httpx.TransportError as e:
                outcome = httpx_outcome(e)
                if outcome is None:
                    raise
                error = e
            except TimeoutError:
                outcome = policy.Timeout()
                error = _timed_out(request, limit, "headers")
            else:
                outcome = _outcome_of_response(response)
            after = call.after(outcome, offset + clock(), replayable=replayable)
            if type(after) is Wait:
                if response is not None:
                    await _adiscard(response, end)
                if after.seconds > 0:
                    await sleep(after.seconds)
                continue
            if error is not None:
                raise _give_up(error, call, after.reason)  # type: ignore[union-attr]
            assert response is not None
            response.extensions["retry_attempts"] = tuple(call.attempts)
            response.stream = _AsyncBoundedStream(response.stream, request, end, limit)
            return response

    async def aclose(self) -> None:
        await self.transport.aclose()


async def _adiscard(response: httpx.Response, end: float) -> None:
    """Read a retried response's body within the attempt's time, then close it."""
    try:
        async with asyncio.timeout_at(end):
            async for _ in response.stream:  # type: ignore[union-attr]
                pass
    except (httpx.TransportError, TimeoutError):
        pass
    finally:
        await response.aclose()


class _AsyncBoundedStream(httpx.AsyncByteStream):
    """The response body, each chunk read under the attempt's remaining time."""

    __slots__ = ("_end", "_inner", "_limit", "_request")

    def __init__(self, inner: Any, request: httpx.Request, end: float, limit: float) -> None:
        self._inner = inner
        self._request = request
        self._end = end
        self._limit = limit

    async def __aiter__(self) -> AsyncIterator[bytes]:
        it = self._inner.__aiter__()
        end = self._end
        while True:
            try:
                async with asyncio.timeout_at(end):
                    chunk = await it.__anext__()
            except StopAsyncIteration:
                return
            except TimeoutError:
                await self._inner.aclose()
                raise _timed_out(self._request, self._limit, "body") from None
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()
