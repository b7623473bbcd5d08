"""The httpx / httpx2 retry transports, written once: thin shells around the one loop.

httpx (and httpx2) let a *transport* see every request a ``Client`` sends, which is
exactly where a retry layer belongs: below redirects, auth and cookies (so a redirect is
never a retry) and above connection pooling (so a retry can reuse the keep-alive
connection).  ``SyncShell`` and ``AsyncShell`` hold the whole behaviour; the public
classes (``transport.httpx.RetryTransport``, ``transport.httpx2.RetryTransport`` and the
async pair) only add the library's base class and name the library (``_lib``): its
exceptions, replayable streams and default inner transport.

Outcomes: a response is ``Response(status, headers)`` (``multi_items()``);
``ConnectError``/``ConnectTimeout`` -> ``connect``; ``ReadTimeout``/``WriteTimeout``/
``PoolTimeout`` and the attempt's own bound -> ``timeout``; ``RemoteProtocolError``/
``ReadError``/``WriteError`` -> ``reset``; anything else is raised at once.

Timeouts belong to the caller.  The per-attempt limit is the policy's ``timeout=``, else
the transport's ``timeout=``, else none (the request's own timeouts apply), and the
deadline shrinks it.  The limit bounds the head (status line and headers, interim
responses included) as a whole and every body the shell reads itself (retried
responses); the request's connect, write and pool timeouts are lowered to it.  The body
of the response handed back is the caller's, under the caller's read timeout.  Async: the
head runs under ``asyncio.timeout_at``.  Sync: the default inner transport's connections
bound each read and write by the head's end (``_httpx_lib.watch``); a custom inner
transport gets its read timeout lowered instead.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Final

import policy
from policy.loop import Attempt, Call, Done, LocalState, State, Wait, as_policy

from ._check import callable_or_none, positive_seconds, required_callable
from ._costs import CostFn, check_cost_fn, cost_of
from ._httpx_edge import adiscard, discard, not_sent
from ._httpx_edge import broken as _broken
from ._httpx_edge import give_up as _give_up
from ._httpx_edge import hop as _hop
from ._httpx_edge import outcome_of_response as _outcome_of_response
from ._httpx_lib import HEAD_END, Lib, watch
from ._redact import mask_url
from ._sse_httpx import read_ahead, read_ahead_async, wants_read_ahead

__all__ = ["AsyncShell", "SyncShell"]

log = logging.getLogger("policy")

_PORTS: Final = {"http": 80, "https": 443}
_MISSING: Final = object()
_INF: Final = float("inf")
_SDK_COUNTER: Final = "x-stainless-retry-count"

Hook = Callable[[Attempt], object]


class _Base:
    """What the sync and async transports share: settings, the call set-up, the timeouts."""

    _lib: ClassVar[Lib]

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
        timeout: float | None,
        cost: CostFn | None = None,
    ) -> None:
        self.policy = as_policy(policy)
        self._cost = check_cost_fn(cost)
        self._timeout = None if timeout is None else positive_seconds("timeout", timeout)
        self._own_timeout = self._attempt_timeout(self.policy)
        self._sleep = required_callable("sleep", sleep)
        self._clock = required_callable("clock", clock)
        self._rand = callable_or_none("rand", rand) or random.random
        self._on_retry = callable_or_none("on_retry", on_retry)
        self._on_giveup = callable_or_none("on_giveup", on_giveup)
        self._state: State = state if state is not None else LocalState()
        self._offset = time.time() - clock()  # now = wall0 + clock() - clock0
        self._warned = False

    def _policy_of(self, request: Any) -> policy.Policy | None:
        """The request's own ``retry_policy`` extension, else this transport's policy."""
        if not self._warned:
            self._check_sdk(request)
        own = request.extensions.get("retry_policy", _MISSING)
        if own is _MISSING:
            return self.policy
        if own is None:
            return None
        return as_policy(own)

    def _check_sdk(self, request: Any) -> None:
        """One WARNING per transport when an SDK retries on top of the policy."""
        count = request.headers.get(_SDK_COUNTER)
        if count is None or count.strip() in ("", "0"):
            return
        self._warned = True
        log.warning(
            "%s %s carries %s: %s; the SDK is retrying on top of the retry policy "
            "(retries multiply) -- create the SDK client with max_retries=0",
            request.method,
            mask_url(str(request.url)),
            _SDK_COUNTER,
            count,
        )

    def _attempt_timeout(self, p: policy.Policy) -> float:
        t = p.timeout_ms
        if t is not None:
            return t / 1000
        return self._timeout if self._timeout is not None else _INF

    def _call(self, p: policy.Policy, request: Any, now: float) -> Call:
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
            cost=cost_of(self._cost, request),
        )

    def _not_sent(self, request: Any, call: Call, reason: str) -> BaseException:
        return not_sent(self._lib, request, _masked(request.url), call, reason)


def _masked(url: Any) -> str:
    return mask_url(str(url))


def _shrink(timeouts: Any, limit: float, keys: tuple[str, ...]) -> dict[str, Any]:
    """The request's timeouts, those in ``keys`` lowered to ``limit`` (a timeout that is
    not a number at most ``limit`` -- ``None``, NaN, infinite -- becomes ``limit``); the
    others, and all of them with no limit, stay the caller's (one that is no bound at all
    -- NaN, infinite, negative -- becomes ``limit``, or ``None`` with no limit)."""
    out = dict(timeouts) if isinstance(timeouts, dict) else {}
    cap = None if limit == _INF else limit
    for key in _ALL:
        v = out.get(key)
        valid = isinstance(v, int | float) and 0 <= v < _INF
        if cap is not None and key in keys:
            out[key] = v if valid and v <= cap else cap  # type: ignore[operator]
        elif not valid and v is not None:
            out[key] = cap
        else:
            out[key] = v
    return out


_ALL: Final = ("connect", "read", "write", "pool")
_BUT_READ: Final = ("connect", "write", "pool")


class SyncShell(_Base):
    """The sync transport (see ``transport.httpx.RetryTransport``)."""

    def __init__(
        self,
        policy: policy.Policy | str,
        *,
        transport: Any = None,
        sleep: Callable[[float], object] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] | None = None,
        on_retry: Hook | None = None,
        on_giveup: Hook | None = None,
        state: State | None = None,
        timeout: float | None = None,
        cost: CostFn | None = None,
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
            cost=cost,
        )
        self.transport = transport if transport is not None else self._lib.HTTPTransport()
        self._watched = watch(self.transport)

    def handle_request(self, request: Any) -> Any:
        p = self._policy_of(request)
        inner = self.transport
        if p is None:
            return inner.handle_request(request)
        lib = self._lib
        clock, offset, sleep = self._clock, self._offset, self._sleep
        call = self._call(p, request, offset + clock())
        timeouts = request.extensions.get("timeout", {})
        replayable = isinstance(request.stream, lib.replayable)
        keys = _BUT_READ if self._watched else _ALL
        last_limit = -1.0
        try:
            while True:
                step = call.before(offset + clock())
                if type(step) is Wait:
                    if step.seconds > 0:
                        sleep(step.seconds)
                    continue
                if type(step) is Done:  # gave up before sending (a pacing hold)
                    raise self._not_sent(request, call, step.reason)
                limit = step.timeout  # type: ignore[union-attr]
                if limit != last_limit:
                    request.extensions["timeout"] = _shrink(timeouts, limit, keys)
                    last_limit = limit
                end = time.monotonic() + limit
                error: Exception | None = None
                response: Any = None
                token = HEAD_END.set(end) if limit != _INF else None
                try:
                    response = inner.handle_request(request)
                except lib.TransportError as e:
                    outcome = lib.outcome(e)
                    if outcome is None:
                        raise
                    error = e
                else:
                    hop = _hop(lib, p, call, request, response, offset + clock())
                    if hop is True:
                        return response
                    if hop is not False:
                        response.close()
                        raise hop
                    outcome = _outcome_of_response(response)
                    if type(outcome) is policy.Response and wants_read_ahead(p, response):
                        outcome, error = read_ahead(response, lib, end, outcome, request)  # sse=on
                finally:
                    if token is not None:
                        HEAD_END.reset(token)
                after = call.after(outcome, offset + clock(), replayable=replayable)
                if type(after) is Wait:
                    if response is not None:
                        discard(response, end, lib)
                    if after.seconds > 0:
                        sleep(after.seconds)
                    continue
                if error is None and type(outcome) is not policy.Response:
                    response.close()
                    error = _broken(lib, request, response)
                if error is not None:
                    raise _give_up(error, call, after.reason)  # type: ignore[union-attr]
                response.extensions["retry_attempts"] = tuple(call.attempts)
                return response
        except BaseException:
            call.abandon(offset + clock())  # a probe without an answer: its place back
            raise

    def close(self) -> None:
        self.transport.close()


class AsyncShell(_Base):
    """The async transport (see ``transport.httpx.AsyncRetryTransport``)."""

    def __init__(
        self,
        policy: policy.Policy | str,
        *,
        transport: Any = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] | None = None,
        on_retry: Hook | None = None,
        on_giveup: Hook | None = None,
        state: State | None = None,
        timeout: float | None = None,
        cost: CostFn | None = None,
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
            cost=cost,
        )
        self.transport = transport if transport is not None else self._lib.AsyncHTTPTransport()

    async def handle_async_request(self, request: Any) -> Any:
        p = self._policy_of(request)
        inner = self.transport
        if p is None:
            return await inner.handle_async_request(request)
        lib = self._lib
        clock, offset, sleep = self._clock, self._offset, self._sleep
        call = self._call(p, request, offset + clock())
        timeouts = request.extensions.get("timeout", {})
        replayable = isinstance(request.stream, lib.replayable)
        loop = asyncio.get_running_loop()
        last_limit = -1.0
        try:
            while True:
                step = call.before(offset + clock())
                if type(step) is Wait:
                    if step.seconds > 0:
                        await sleep(step.seconds)
                    continue
                if type(step) is Done:
                    raise self._not_sent(request, call, step.reason)
                limit = step.timeout  # type: ignore[union-attr]
                if limit != last_limit:
                    request.extensions["timeout"] = _shrink(timeouts, limit, _BUT_READ)
                    last_limit = limit
                end = loop.time() + limit if limit != _INF else None
                error: Exception | None = None
                response: Any = None
                try:
                    async with asyncio.timeout_at(end):
                        response = await inner.handle_async_request(request)
                except lib.TransportError as e:
                    outcome = lib.outcome(e)
                    if outcome is None:
                        raise
                    error = e
                except TimeoutError:
                    outcome = policy.Timeout()
                    error = lib.timed_out(request, limit, "headers")
                else:
                    hop = _hop(lib, p, call, request, response, offset + clock())
                    if hop is True:
                        return response
                    if hop is not False:
                        await response.aclose()
                        raise hop
                    outcome = _outcome_of_response(response)
                    if type(outcome) is policy.Response and wants_read_ahead(p, response):
                        outcome, error = await read_ahead_async(
                            response, lib, end, outcome, request
                        )
                after = call.after(outcome, offset + clock(), replayable=replayable)
                if type(after) is Wait:
                    if response is not None:
                        await adiscard(response, end, lib)
                    if after.seconds > 0:
                        await sleep(after.seconds)
                    continue
                if error is None and type(outcome) is not policy.Response:
                    await response.aclose()
                    error = _broken(lib, request, response)
                if error is not None:
                    raise _give_up(error, call, after.reason)  # type: ignore[union-attr]
                response.extensions["retry_attempts"] = tuple(call.attempts)
                return response
        except BaseException:
            call.abandon(offset + clock())  # a probe without an answer: its place back
            raise

    async def aclose(self) -> None:
        await self.transport.aclose()
