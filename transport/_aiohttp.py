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
(after sending), a response aiohttp cannot
parse, a status outside 100-599
anything else                                  raised at once, never retried
=============================================  ============

With ``sse=on`` a 2xx ``text/event-stream`` is read ahead to its first content or error
event instead of read whole (an error event is decided as its status; the response's
``content`` yields the bytes read ahead, then the rest).
A redirect hop the policy has no rule for is the hop's accepted answer (never a give-up);
a redirect from https to http is refused; a body read here stops at 64 MiB (decoded).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

import aiohttp
import yarl
from aiohttp.http_exceptions import BadStatusLine, HttpProcessingError
from multidict import CIMultiDict, CIMultiDictProxy

import policy
from policy.loop import Attempt, Call, Done, Wait, as_policy
from policy.loop._state import LocalState, State

from ._check import callable_or_none, positive_seconds, required_callable
from ._circuit import circuit_error
from ._costs import CostFn, check_cost_fn, cost_of
from ._edge import MAX_BODY, REDIRECTS, downgrade, pass_hop, redirect_hop, too_big, usable_status
from ._redact import mask_url
from ._sse_aiohttp import read_ahead as sse_read_ahead

__all__ = ["aiohttp_middleware", "aiohttp_outcome"]

_INF: Final = float("inf")
_SECRET_WORDS: Final = ("auth", "cookie", "key", "token", "secret", "session", "signature")

Hook = Callable[[Attempt], object]

#: The give-up a middleware raised last in this task, with the request's trace list (one
#: per ``ClientSession._request`` call): aiohttp sends an idempotent request once more
#: when it ends in ``ServerDisconnectedError`` / ``ClientOSError``; that second run is
#: the same call, already decided, so it re-raises the give-up without sending.
_GAVE_UP: Final[contextvars.ContextVar[tuple[object, BaseException] | None]] = (
    contextvars.ContextVar("retry_policy_aiohttp_gave_up", default=None)
)


def aiohttp_outcome(exc: BaseException) -> policy.Outcome | None:
    """The outcome of an aiohttp (or asyncio) exception; ``None``: not a transport failure.

    A response aiohttp could not parse (a bad status line, too many headers, a header
    line too long: ``ClientResponseError`` raised from an ``HttpProcessingError``) is a
    broken connection (``reset``), not the status aiohttp gives it (400).
    """
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
        if isinstance(exc.__cause__, HttpProcessingError) or not usable_status(status):
            return policy.ConnectionReset()
        return policy.Response(status, exc.headers if exc.headers is not None else ())
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
        cost: CostFn | None = None,
    ) -> None:
        self._cost = check_cost_fn(cost)
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
        traces = getattr(request, "_traces", None)
        gone = _GAVE_UP.get()
        if gone is not None:
            _GAVE_UP.set(None)
            if traces is not None and gone[0] is traces:
                raise gone[1]  # aiohttp's own second run of a call already given up
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
            cost=cost_of(self._cost, request),
        )
        try:
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
                        if _hop(self.policy, call, request, response, offset + clock()):
                            return response
                        ahead = await sse_read_ahead(self.policy, response)  # sse=on
                        if ahead is None and read_body and usable_status(response.status):
                            await _read(call, response, offset + clock())
                except (aiohttp.ClientError, TimeoutError) as e:
                    if response is not None:
                        response.close()  # broken or cut short: never back into the pool
                    outcome = aiohttp_outcome(e)
                    if outcome is None or getattr(e, "retry_attempts", None) is not None:
                        _mask_error(e)
                        raise
                    body = request.body
                    replayable = not getattr(body, "consumed", False)
                    after = call.after(outcome, offset + clock(), replayable=replayable)
                    if type(after) is Done:
                        _give_up(e, call, after.reason)
                        _mask_error(e)
                        if traces is not None and isinstance(
                            e, aiohttp.ClientOSError | aiohttp.ServerDisconnectedError
                        ):
                            _GAVE_UP.set((traces, e))
                        raise
                    wait = after.seconds  # type: ignore[union-attr]
                else:
                    status = response.status
                    if usable_status(status):
                        outcome = policy.Response(ahead or status, response.headers)
                    else:  # a broken response, as urllib3 sees it
                        outcome = policy.ConnectionReset()
                    replayable = not getattr(request.body, "consumed", False)
                    after = call.after(outcome, offset + clock(), replayable=replayable)
                    if type(after) is Done:
                        if type(outcome) is not policy.Response:
                            response.close()
                            bad = _bad_status(response)
                            _give_up(bad, call, after.reason)
                            raise bad
                        response.retry_attempts = tuple(call.attempts)  # type: ignore[attr-defined]
                        return response
                    if not read_body or type(outcome) is not policy.Response:
                        await _drain(response, None if limit == _INF else limit)
                    response.release()
                    wait = after.seconds  # type: ignore[union-attr]
                if wait > 0:
                    await sleep(wait)
        except BaseException:
            call.abandon(offset + clock())  # a probe without an answer: its place back
            raise


def _masked(url: object) -> str:
    return mask_url(str(url))


def _hop(
    p: policy.Policy, call: Call, request: Any, response: aiohttp.ClientResponse, now: float
) -> bool:
    """A redirect hop the session follows: True (accepted, no give-up); one from https
    to http is refused (``InvalidUrlRedirectClientError``)."""
    status = response.status
    if status not in REDIRECTS:
        return False
    location = response.headers.get("Location")
    if downgrade(request.url.scheme, location):
        reason = "refused a redirect from https to http"
        pass_hop(call, policy.Response(status, response.headers), now, reason)
        response.close()
        err = aiohttp.InvalidUrlRedirectClientError(mask_url(location or ""), reason)
        _give_up(err, call, reason)
        raise err
    if not redirect_hop(p, status, location):
        return False
    pass_hop(call, policy.Response(status, response.headers), now)
    response.retry_attempts = tuple(call.attempts)  # type: ignore[attr-defined]
    return True


async def _read(call: Call, response: aiohttp.ClientResponse, now: float) -> None:
    """Read the body, at most ``MAX_BODY`` decoded bytes: past it the call ends (the
    connection is closed), as ``RetryingPool`` ends it."""
    length = response.content_length
    if length is not None and length <= MAX_BODY and "Content-Encoding" not in response.headers:
        await response.read()
        return
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_any():
        size += len(chunk)
        reason = too_big(size)
        if reason is not None:
            pass_hop(call, policy.Response(response.status, response.headers), now, reason)
            response.close()
            err = aiohttp.ClientPayloadError(reason)
            _give_up(err, call, reason)
            raise err
        chunks.append(chunk)
    response._body = b"".join(chunks)
    await response.read()  # the body is kept; this waits for the connection's release


def _bad_status(response: aiohttp.ClientResponse) -> aiohttp.ClientResponseError:
    """What a give-up on a status outside 100-599 raises: aiohttp's own shape for a
    response it cannot parse (a ``ClientResponseError`` from a ``BadStatusLine``)."""
    cause = BadStatusLine(str(response.status), "status outside 100-599")
    err = aiohttp.ClientResponseError(
        response.request_info, response.history, status=response.status, message=cause.message
    )
    err.__cause__ = cause
    _mask_error(err)
    return err


def _mask_error(exc: BaseException) -> None:
    """Mask the URL (query values, userinfo) and the secret headers an aiohttp error carries
    in ``request_info``: its ``str()`` names the URL, its ``repr()`` the headers."""
    if not isinstance(exc, aiohttp.ClientResponseError):
        return
    info = exc.request_info
    headers: CIMultiDict[str] = CIMultiDict()
    for name, value in info.headers.items():
        secret = any(word in name.lower() for word in _SECRET_WORDS)
        headers.add(name, "***" if secret else value)
    exc.request_info = aiohttp.RequestInfo(
        yarl.URL(mask_url(str(info.url))),
        info.method,
        CIMultiDictProxy(headers),
        yarl.URL(mask_url(str(info.real_url))),
    )


async def _drain(response: aiohttp.ClientResponse, limit: float | None) -> None:
    try:
        async with asyncio.timeout(limit):
            size = 0
            async for chunk in response.content.iter_any():
                size += len(chunk)
                if too_big(size) is not None:
                    response.close()
                    return
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
    cost: CostFn | None = None,
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
        cost=cost,
    )
