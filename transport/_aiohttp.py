"""aiohttp: ``aiohttp_middleware(policy)``, a client middleware around the one loop.

aiohttp (3.12 and later) lets a ``ClientSession`` run client middlewares around every
request it sends; a middleware may call the handler more than once, which is a retry::

    async with aiohttp.ClientSession(middlewares=[transport.aiohttp_middleware(p)]) as s:
        async with s.get(url) as response: ...

Each attempt -- connecting, sending, the response headers and reading the body -- runs
under one ``asyncio.timeout`` of the per-attempt limit (the policy's ``timeout=``, else
the middleware's ``timeout=``; shrunk to the time left before the deadline).  With
neither, only the deadline bounds an attempt: the session's and the request's own
``ClientTimeout`` apply, never a middleware default.  The body is read inside the
attempt (``read_body=True``, the default), so a connection that breaks mid-body is a
``reset`` that can be retried, and a retried response's body is read and released
before the wait, so keep-alive reuses the connection.  Exceptions map, most specific
first (aiohttp's classes inherit from each other and from the built-ins, so the order
matters):

=============================================  ============
aiohttp                                        outcome
=============================================  ============
``ClientConnectorError`` (DNS, refused, TLS,   ``connect``
proxy), ``ConnectionTimeoutError``
``ServerTimeoutError`` (``SocketTimeoutError``  ``timeout``
= ``sock_read``), ``asyncio.TimeoutError``
``ServerDisconnectedError``,                   ``reset``
``ClientPayloadError``, ``ClientOSError``
(after sending)
anything else                                  raised at once, never retried
=============================================  ============
"""

from __future__ import annotations

import asyncio
import functools
import random
import time
from collections.abc import Awaitable, Callable
from typing import Final

import aiohttp

import policy
from policy.loop._loop import Attempt, Call, Done, Wait, as_policy
from policy.loop._state import LocalState, State

from ._check import callable_or_none, positive_seconds, required_callable
from ._circuit import circuit_error
from ._redact import mask_url

__all__ = ["aiohttp_middleware", "aiohttp_outcome"]

_INF: Final = float("inf")

Hook = Callable[[Attempt], object]


def aiohttp_outcome(exc: BaseException) -> policy.Outcome | None:
    """The outcome of an aiohttp (or asyncio) exception; ``None``: not a transport failure."""
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
        return policy.ConnectFailure()
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return policy.Timeout()
    if isinstance(
        exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | aiohttp.ClientOSError
    ):
        return policy.ConnectionReset()
    if isinstance(exc, aiohttp.ClientResponseError):
        status = exc.status
        if type(status) is int and 100 <= status <= 599:
            return policy.Response(status, exc.headers if exc.headers is not None else ())
        return None
    if isinstance(exc, aiohttp.ClientConnectionResetError):
        return policy.ConnectionReset()
    if isinstance(exc, TimeoutError):
        return policy.Timeout()
    return None


class _Middleware:
    """The middleware ``aiohttp_middleware`` returns (a callable aiohttp accepts)."""

    def __init__(
        self,
        p: policy.Policy,
        *,
        sleep: Callable[[float], Awaitable[object]],
        clock: Callable[[], float],
        rand: Callable[[], float] | None,
        on_retry: Hook | None,
        on_giveup: Hook | None,
        state: State | None,
        timeout: float | None,
        read_body: bool,
    ) -> None:
        own = _INF if timeout is None else positive_seconds("timeout", timeout)
        self.policy = p
        t = p.timeout_ms
        self._timeout = t / 1000 if t is not None else own
        self._sleep = required_callable("sleep", sleep)
        self._clock = required_callable("clock", clock)
        self._offset = time.time() - clock()
        self._rand = callable_or_none("rand", rand) or random.random
        self._on_retry = callable_or_none("on_retry", on_retry)
        self._on_giveup = callable_or_none("on_giveup", on_giveup)
        self._state: State = state if state is not None else LocalState()
        self._read_body = read_body

    async def __call__(
        self,
        request: aiohttp.ClientRequest,
        handler: Callable[[aiohttp.ClientRequest], Awaitable[aiohttp.ClientResponse]],
    ) -> aiohttp.ClientResponse:
        clock, offset, sleep, read_body = self._clock, self._offset, self._sleep, self._read_body
        url = request.url
        call = Call(
            self.policy,
            method=request.method,
            now=offset + clock(),
            timeout=self._timeout,
            origin=f"{url.scheme}://{url.host}:{url.port}",
            display=functools.partial(_masked, url),
            state=self._state,
            rand=self._rand,
            on_retry=self._on_retry,
            on_giveup=self._on_giveup,
        )
        while True:
            step = call.before(offset + clock())
            if type(step) is Wait:
                if step.seconds > 0:
                    await sleep(step.seconds)
                continue
            if type(step) is Done:
                err = circuit_error(
                    call,
                    request.method,
                    mask_url(str(url)),
                    step.reason,
                    aiohttp.ClientConnectionError,
                ) or aiohttp.ClientConnectionError(f"not sent: {step.reason}")
                _give_up(err, call, step.reason)
                raise err
            response: aiohttp.ClientResponse | None = None
            limit = step.timeout  # type: ignore[union-attr]
            try:
                async with asyncio.timeout(None if limit == _INF else limit):
                    response = await handler(request)
                    if read_body:
                        await response.read()
            except (aiohttp.ClientError, TimeoutError) as e:
                if response is not None:
                    response.close()  # broken or cut short: never back into the pool
                outcome = aiohttp_outcome(e)
                if outcome is None:
                    raise
                body = request.body
                replayable = not getattr(body, "consumed", False)
                after = call.after(outcome, offset + clock(), replayable=replayable)
                if type(after) is Done:
                    _give_up(e, call, after.reason)
                    raise
                wait = after.seconds  # type: ignore[union-attr]
            else:
                outcome = policy.Response(response.status, response.headers)  # line by line
                replayable = not getattr(request.body, "consumed", False)
                after = call.after(outcome, offset + clock(), replayable=replayable)
                if type(after) is Done:
                    response.retry_attempts = tuple(call.attempts)  # type: ignore[attr-defined]
                    return response
                if not read_body:
                    await _drain(response, None if limit == _INF else limit)
                response.release()
                wait = after.seconds  # type: ignore[union-attr]
            if wait > 0:
                await sleep(wait)


def _masked(url: object) -> str:
    return mask_url(str(url))


async def _drain(response: aiohttp.ClientResponse, limit: float | None) -> None:
    try:
        async with asyncio.timeout(limit):
            await response.read()
    except (aiohttp.ClientError, TimeoutError):
        response.close()


def _give_up(exc: BaseException, call: Call, reason: str) -> None:
    exc.add_note(f"retry policy: {reason}")
    exc.retry_attempts = tuple(call.attempts)  # type: ignore[attr-defined]


def aiohttp_middleware(
    policy: policy.Policy | str,
    *,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    rand: Callable[[], float] | None = None,
    on_retry: Hook | None = None,
    on_giveup: Hook | None = None,
    state: State | None = None,
    timeout: float | None = None,
    read_body: bool = True,
) -> Callable[..., Awaitable[aiohttp.ClientResponse]]:
    """A client middleware that retries as a policy says:
    ``aiohttp.ClientSession(middlewares=[transport.aiohttp_middleware(p)])``.

    ``timeout``: the per-attempt limit (seconds) when the policy has no ``timeout=``; by
    default none, so the session's ``ClientTimeout`` applies (shrunk to the deadline).
    ``read_body``: read each response's body inside the attempt (default), so the
    per-attempt timeout covers it and a connection broken mid-body is retried; pass
    ``False`` to stream accepted responses yourself (their body is then neither bounded
    nor retried).  The attempts are on ``response.retry_attempts`` (or on the raised
    exception).  ``sleep``/``clock``/``rand``/``on_retry``/``on_giveup``/``state`` are
    as for every adapter.  Needs aiohttp 3.12 or later (``retry-policy[aiohttp]``).
    """
    return _Middleware(
        as_policy(policy),
        sleep=sleep,
        clock=clock,
        rand=rand,
        on_retry=on_retry,
        on_giveup=on_giveup,
        state=state,
        timeout=timeout,
        read_body=read_body,
    )
