"""requests: ``RetryAdapter``, an ``HTTPAdapter`` that runs the one attempt loop.

``PolicyRetry`` lives inside urllib3's own retry protocol, which sends before it asks and
cannot hold a request back: no pacing, no retry budget, no per-attempt timeout, a
deadline counted from the first failure.  ``RetryAdapter`` sits one level up, around
``HTTPAdapter.send``, so each attempt is one ``send`` and the whole ``policy.loop.Call``
applies: pacing holds and quotas (``pace=on``), budgets, the deadline, the per-attempt
timeout, hooks, logging and test mode::

    session = requests.Session()
    adapter = transport.RetryAdapter("429:headers() 5xx:backoff(3) pace=on")
    session.mount("http://", adapter)
    session.mount("https://", adapter)

urllib3's own retries are off (``max_retries=0``).  Timeouts belong to the caller: the
request's ``timeout=`` (a number or a ``(connect, read)`` pair) is kept, each part lowered
to the attempt's limit (the policy's ``timeout=``, else the adapter's ``timeout=``,
shrunk to the deadline); like urllib3, they bound each socket operation.  A retried
response's body is read and closed before the wait (keep-alive); the response handed
back is the caller's, with the attempts on ``response.retry_attempts``.  Giving up on an
error re-raises requests' own exception with the policy's reason as a note.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable
from typing import Any, Final

import requests
from requests.adapters import HTTPAdapter

import policy
from policy.loop._loop import Attempt, Call, Done, Wait, as_policy
from policy.loop._state import LocalState, State

from ._check import callable_or_none, positive_seconds, required_callable
from ._circuit import circuit_error
from ._exceptions import _requests_outcome
from ._redact import mask_url

__all__ = ["RetryAdapter"]

Hook = Callable[[Attempt], object]
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


def _replayable(request: requests.PreparedRequest) -> bool:
    body = request.body
    return body is None or isinstance(body, bytes | str)


class RetryAdapter(HTTPAdapter):
    """A ``requests`` adapter that retries as a policy says: ``session.mount(prefix, ...)``.

    ``policy``: a policy string or ``Policy``.  ``timeout``: the per-attempt limit
    (seconds) when the policy has no ``timeout=`` (default: none; the request's own
    ``timeout=`` applies, shrunk to the deadline).  ``sleep``/``clock``/``rand``,
    ``on_retry``/``on_giveup`` and ``state`` are as for every adapter; other keywords go
    to ``HTTPAdapter`` (``pool_connections``, ``pool_maxsize``, ``pool_block``).
    """

    def __init__(
        self,
        policy: policy.Policy | str,
        *,
        sleep: Callable[[float], object] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] | None = None,
        on_retry: Hook | None = None,
        on_giveup: Hook | None = None,
        state: State | None = None,
        timeout: float | None = None,
        **adapter: Any,
    ) -> None:
        adapter.pop("max_retries", None)
        super().__init__(max_retries=0, **adapter)
        self.policy = as_policy(policy)
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
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
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
        )
        replayable = _replayable(request)
        send = super().send
        while True:
            step = call.before(offset + clock())
            if type(step) is Wait:
                if step.seconds > 0:
                    sleep(step.seconds)
                continue
            if type(step) is Done:
                err = circuit_error(
                    call, call.method, mask_url(url), step.reason, requests.ConnectionError
                ) or requests.ConnectionError(f"not sent: {step.reason}", request=request)
                err.request = request  # type: ignore[union-attr]
                raise _give_up(err, call, step.reason)
            limit = step.timeout  # type: ignore[union-attr]
            error: Exception | None = None
            response: requests.Response | None = None
            try:
                response = send(
                    request,
                    stream=stream,
                    timeout=_shrink(timeout, limit),
                    verify=verify,
                    cert=cert,
                    proxies=proxies,
                )
            except requests.RequestException as e:
                outcome = _requests_outcome(e, requests)
                if outcome is None:
                    raise
                error = e
            else:
                raw = response.raw
                headers = raw.headers if raw is not None else response.headers
                outcome = policy.Response(response.status_code, headers)
            after = call.after(outcome, offset + clock(), replayable=replayable)
            if type(after) is Wait:
                if response is not None:
                    _discard(response)
                if after.seconds > 0:
                    sleep(after.seconds)
                continue
            if error is not None:
                raise _give_up(error, call, after.reason)  # type: ignore[union-attr]
            assert response is not None
            response.retry_attempts = tuple(call.attempts)  # type: ignore[attr-defined]
            return response


def _discard(response: requests.Response) -> None:
    """Read a retried response's body (keep-alive reuses the connection) and close it."""
    try:
        _ = response.content
    except requests.RequestException:
        pass
    finally:
        response.close()


def _give_up(exc: BaseException, call: Call, reason: str) -> BaseException:
    exc.add_note(f"retry policy: {reason}")
    exc.retry_attempts = tuple(call.attempts)  # type: ignore[attr-defined]
    return exc
