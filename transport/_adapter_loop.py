"""The attempt loop around an ``HTTPAdapter.send``, shared by requests' and niquests'
``RetryAdapter``: the library module is a parameter (its ``RequestException``,
``ConnectionError`` and the outcome of its exceptions), so neither is imported here.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable
from typing import Any, Final

import policy
from policy.loop import Attempt, Call, Done, Wait, as_policy
from policy.loop._state import LocalState, State

from ._check import callable_or_none, positive_seconds, required_callable
from ._circuit import circuit_error
from ._costs import CostFn, check_cost_fn, cost_of
from ._exceptions import requests_outcome
from ._redact import mask_url
from ._sse_requests import PrefixedRaw, read_ahead, wants_read_ahead

__all__ = ["AdapterLoop"]

Hook = Callable[[Attempt], object]
_Policy = policy.Policy
_INF: Final = float("inf")
_PORTS: Final = {"http": 80, "https": 443}


def _origin(url: str) -> str:
    from urllib.parse import urlsplit

    u = urlsplit(url)
    scheme = u.scheme or "http"
    return f"{scheme}://{u.hostname}:{u.port or _PORTS.get(scheme, 0)}"


def _shrink(timeout: Any, limit: float) -> Any:
    """The caller's ``timeout`` (None, a number, a (connect, read) pair), each part at most
    ``limit`` (no limit: as given)."""
    if limit == _INF:
        return timeout
    if isinstance(timeout, tuple) and len(timeout) == 2:
        return tuple(_cap(t, limit) for t in timeout)
    return _cap(timeout, limit)


def _cap(t: Any, limit: float) -> float:
    return t if isinstance(t, int | float) and 0 < t <= limit else limit


def _replayable(request: Any) -> bool:
    body = request.body
    return body is None or isinstance(body, bytes | str)


class AdapterLoop:
    """The attempt loop around an ``HTTPAdapter.send``, for requests and niquests alike
    (``lib`` is the library module: its exceptions and its ``ConnectionError``)."""

    def __init__(
        self,
        policy: policy.Policy | str,
        *,
        sleep: Callable[[float], object],
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
        own = _INF if timeout is None else positive_seconds("timeout", timeout)
        t = self.policy.timeout_ms
        self._timeout = t / 1000 if t is not None else own
        self._sleep = required_callable("sleep", sleep)
        self._clock = required_callable("clock", clock)
        self._offset = time.time() - clock()
        self._rand = callable_or_none("rand", rand) or random.random
        self._on_retry = callable_or_none("on_retry", on_retry)
        self._on_giveup = callable_or_none("on_giveup", on_giveup)
        self._state: State = state if state is not None else LocalState()

    def send(
        self,
        lib: Any,
        send: Callable[..., Any],
        request: Any,
        stream: bool,
        timeout: Any,
        kwargs: dict[str, Any],
    ) -> Any:
        """``send(request, stream=, timeout=, **kwargs)`` once per attempt, as the policy says."""
        clock, offset, sleep = self._clock, self._offset, self._sleep
        url = request.url or ""
        call = Call(
            self.policy,
            method=request.method or "GET",
            now=offset + clock(),
            timeout=self._timeout,
            origin=_origin(url),
            display=functools.partial(mask_url, url),
            state=self._state,
            rand=self._rand,
            on_retry=self._on_retry,
            on_giveup=self._on_giveup,
            cost=cost_of(self._cost, request),
        )
        replayable = _replayable(request)
        try:
            while True:
                step = call.before(offset + clock())
                if type(step) is Wait:
                    if step.seconds > 0:
                        sleep(step.seconds)
                    continue
                if type(step) is Done:
                    err: Any = circuit_error(
                        call, call.method, mask_url(url), step.reason, lib.ConnectionError
                    ) or lib.ConnectionError(f"not sent: {step.reason}", request=request)
                    err.request = request
                    raise _give_up(err, call, step.reason)
                limit = step.timeout  # type: ignore[union-attr]
                error: Exception | None = None
                response: Any = None
                try:
                    response = send(
                        request, stream=stream, timeout=_shrink(timeout, limit), **kwargs
                    )
                except lib.RequestException as e:
                    outcome = requests_outcome(e, lib)
                    if outcome is None:
                        raise
                    error = e
                else:
                    raw = response.raw
                    headers = raw.headers if raw is not None else response.headers
                    outcome = policy.Response(response.status_code, headers)
                    if wants_read_ahead(self.policy, response):  # sse=on
                        outcome, error = read_ahead(lib, request, response, outcome, limit)
                after = call.after(outcome, offset + clock(), replayable=replayable)
                if type(after) is Wait:
                    if response is not None:
                        _discard(response, lib)
                    if after.seconds > 0:
                        sleep(after.seconds)
                    continue
                if error is not None:
                    raise _give_up(error, call, after.reason)  # type: ignore[union-attr]
                assert response is not None
                response.retry_attempts = tuple(call.attempts)
                return response
        except BaseException:
            call.abandon(offset + clock())  # a probe without an answer: its place back
            raise


def _discard(response: Any, lib: Any) -> None:
    """Read a retried response's body (keep-alive reuses the connection) and close it; an
    event stream read ahead is closed unread (it may never end)."""
    if isinstance(response.raw, PrefixedRaw):
        response.close()
        return
    try:
        _ = response.content
    except lib.RequestException:
        pass
    finally:
        response.close()


def _give_up(exc: BaseException, call: Call, reason: str) -> BaseException:
    exc.add_note(f"retry policy: {reason}")
    exc.retry_attempts = tuple(call.attempts)  # type: ignore[attr-defined]
    return exc


class LoopAdapter:
    """The constructor of ``RetryAdapter`` for requests and for niquests, written once: the
    adapter's own keywords build its ``AdapterLoop``; the rest go to the library's
    ``HTTPAdapter`` (which comes after this class in the adapter's bases), never retrying
    on its own (``max_retries=0``)."""

    _loop: AdapterLoop
    policy: _Policy

    def __init__(
        self,
        policy: _Policy | str,
        *,
        sleep: Callable[[float], object] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] | None = None,
        on_retry: Hook | None = None,
        on_giveup: Hook | None = None,
        state: State | None = None,
        timeout: float | None = None,
        cost: CostFn | None = None,
        **adapter: Any,
    ) -> None:
        adapter.pop("max_retries", None)
        super().__init__(max_retries=0, **adapter)  # type: ignore[call-arg]
        self._loop = AdapterLoop(
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
        self.policy = self._loop.policy
