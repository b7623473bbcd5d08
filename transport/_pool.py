"""``RetryingPool``: urllib3 as a thin I/O shell around the one attempt loop.

The evaluator (``policy``) is pure and the attempt loop (``policy.loop.Call``) is sans-IO; this
module is their urllib3 half, in the h11 style: send a request, turn whatever happened
into an outcome (``Response``, ``Timeout``, ``ConnectFailure``, ``ConnectionReset``),
hand it to the call and do what it says (wait, send again, or stop).

Design points, each a lesson from retry bugs in the wild:

* **One retry layer.**  urllib3 is called with ``retries=False`` and ``redirect=False``
  per hop, so it never retries behind the policy's back; redirects are followed by the
  one attempt every urllib3 shell shares (``_attempt.send_attempt``)
  (at most ``max_redirects``, not counted as retries), stripping urllib3's own
  ``Retry.DEFAULT_REMOVE_HEADERS_ON_REDIRECT`` (``Authorization``, ``Cookie``,
  ``Proxy-Authorization``) and every ``Redacted`` header when the host changes, and
  refusing https → http downgrades.
* **The timeout bounds the whole attempt.**  Connecting, waiting for headers and reading
  the body (with ``preload_content=False``, in chunks, the socket timeout set to the time
  left before each read) share one budget, so a server that drips its body still times
  out.  The budget is the call's ``timeout``, else the policy's ``timeout=``, else 120 s,
  shrunk to the time left before the policy's ``deadline``.
* **Clean connections only.**  Every response body is read (drained) before the next
  attempt so its connection goes back to the pool; a connection that broke or timed out
  is closed, never reused.
* **Wall-clock for headers, monotonic for elapsed time.**  ``now`` given to the evaluator
  is ``wall0 + clock() - clock0``: rate-limit resets are absolute wall times, but a
  clock step during a call never shortens or stretches a wait.
* **Cheap attempts.**  The URL is parsed once per call (cached), the connection pool for
  the host is looked up once per call (kept across calls when this object owns the
  ``PoolManager``), ``HTTPConnectionPool.urlopen`` is called directly, and the response
  headers reach ``policy.Response`` as a plain dict read from urllib3's lower-cased
  storage (every line of a repeated header kept), so the per-attempt overhead stays
  close to urllib3's own retry loop.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

import urllib3

import policy
from policy.loop import Attempt, Call, Done, LocalState, State, Wait, as_policy

from ._attempt import (
    DEFAULT_MAX_BODY,
    DEFAULT_TIMEOUT,
    MAX_REDIRECTS,
    SENT_BY,
    AttemptFailed,
    CallEnded,
    Sender,
    after_response,
    send_attempt,
)
from ._check import (
    callable_or_none,
    positive_int,
    positive_seconds,
    required_callable,
)
from ._costs import CostFn, CostRequest, check_cost_fn
from ._redact import mask_url, reveal_headers, url_credentials
from ._wire import Body, Outcome, buffer_body, parse_target, response_outcome

__all__ = [
    "DEFAULT_TIMEOUT",
    "Attempt",
    "Body",
    "PolicyArg",
    "RetryError",
    "RetryingPool",
    "abort",
    "attempts_of",
]

_PORTS = {"http": 80, "https": 443}

PolicyArg: TypeAlias = "policy.Policy | str"


class RetryError(Exception):
    """A call ended without a response to return: connection failure, timeout or redirects.

    ``attempts`` holds every attempt (outcome, delay, reason); the message names the
    method, the URL with query values masked, and the final reason -- never a header.
    """

    def __init__(self, method: str, url: str, attempts: tuple[Attempt, ...], reason: str) -> None:
        self.method = method
        self.url = url  # already masked
        self.attempts = attempts
        self.reason = reason
        n = len(attempts)
        last = attempts[-1].label if attempts else "nothing"
        super().__init__(
            f"{method} {url} failed after {n} attempt{'s' if n != 1 else ''} "
            f"(last: {last}): {reason}"
        )

    def __reduce__(self) -> Any:
        return (type(self), (self.method, self.url, self.attempts, self.reason))


def attempts_of(response: urllib3.BaseHTTPResponse) -> tuple[Attempt, ...]:
    """The history of a response returned by ``RetryingPool.request``: every attempt.

    The typed way to read what the pool attaches as ``response.attempts`` (urllib3's
    response class does not declare that attribute, so ``mypy --strict`` rejects it).
    A response that did not come from ``RetryingPool.request`` has no history: that is a
    ``ValueError``, never an empty tuple that would read as "no attempts were made".
    """
    attempts = getattr(response, "attempts", None)
    if isinstance(attempts, tuple) and all(type(a) is Attempt for a in attempts):
        return attempts
    raise ValueError(
        f"this {type(response).__name__} did not come from RetryingPool.request: "
        "it carries no attempts"
    )


class RetryingPool:
    """Send requests through urllib3 and retry them as a policy says.

    ``policy`` is a ``policy.Policy`` or a policy string (parsed once, here; a bad one
    raises ``policy.PolicyError`` with the position).
    ``pool`` is a ``urllib3.PoolManager`` to share (it is not closed by ``close()``);
    ``sleep``, ``clock`` and ``rand`` can be injected (tests record the delays instead of
    sleeping); ``on_retry`` is called with each ``Attempt`` just before its wait and
    ``on_giveup`` with the last one when the policy gives up.  ``state`` holds the pacing
    holds and retry budgets shared by every call through this pool (a ``LocalState`` of
    its own by default; pass one to share it with other adapters).
    ``timeout`` is the default per-attempt timeout of this pool (seconds), used when a call
    gives none and the policy has no ``timeout=``.
    """

    def __init__(
        self,
        policy: PolicyArg,
        *,
        pool: urllib3.PoolManager | None = None,
        sleep: Callable[[float], object] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] | None = None,
        on_retry: Callable[[Attempt], object] | None = None,
        on_giveup: Callable[[Attempt], object] | None = None,
        state: State | None = None,
        max_redirects: int = MAX_REDIRECTS,
        timeout: float = DEFAULT_TIMEOUT,
        max_body: int | None = DEFAULT_MAX_BODY,
        cost: CostFn | None = None,
    ) -> None:
        self._cost = check_cost_fn(cost)
        positive_int("max_redirects", max_redirects, minimum=0)
        if max_redirects > MAX_REDIRECTS:
            raise ValueError(f"max_redirects must be between 0 and {MAX_REDIRECTS}")
        if max_body is not None:
            positive_int("max_body", max_body, minimum=0)
        own_timeout = positive_seconds("timeout", timeout)
        self.policy = policy = as_policy(policy)
        self._sleep = required_callable("sleep", sleep)
        self._clock = required_callable("clock", clock)
        self._rand = callable_or_none("rand", rand) or random.random
        self._on_retry = callable_or_none("on_retry", on_retry)
        self._on_giveup = callable_or_none("on_giveup", on_giveup)
        self._sender = Sender(
            pool if pool is not None else urllib3.PoolManager(),
            own_pool=pool is None,
            clock=self._clock,
            max_redirects=max_redirects,
            max_body=max_body,
        )
        # Pacing holds and retry budgets, shared by every call through this pool.
        self._state: State = state if state is not None else LocalState()
        self._clock0 = clock()
        self._wall0 = time.time()
        t = policy.timeout_ms
        self._timeout = t / 1000 if t is not None else own_timeout
        self._closed = False

    # -- public API --------------------------------------------------------------------

    def now(self) -> float:
        """Wall-clock seconds, advanced by the monotonic clock (what the evaluator sees)."""
        return self._wall0 + self._clock() - self._clock0

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, Any] | None = None,
        body: Body = None,
        timeout: float | None = None,
    ) -> urllib3.BaseHTTPResponse:
        """Send ``method url`` until the policy accepts or gives up; return the response.

        The response is fully read (``.data``); ``transport.attempts_of(response)`` is its
        history (also set as an ``attempts`` attribute, untyped).  Credentials in the URL
        (``http://user:pw@host/``) are sent as Basic auth unless ``headers`` has an
        ``Authorization``, and never shown.  Raises ``RetryError`` when the last outcome
        is a connection failure, a timeout, too many redirects or a refused https → http
        redirect.
        """
        if self._closed:
            raise RuntimeError("this RetryingPool is closed")
        method = method.upper()
        data = buffer_body(body)
        url, headers = url_credentials(url, headers)  # user:pw@ -> Basic auth, Redacted
        send_headers, secret = reveal_headers(headers)
        budget = self._timeout if timeout is None else positive_seconds("timeout", timeout)
        clock, wall = self._clock, self._wall0 - self._clock0
        target = parse_target(url)
        call = Call(
            self.policy,
            method=method,
            now=wall + clock(),
            timeout=budget,
            origin=f"{target[0]}://{target[1]}:{target[2] or _PORTS[target[0]]}",
            display=functools.partial(mask_url, url),
            state=self._state,
            rand=self._rand,
            on_retry=self._on_retry,
            on_giveup=self._on_giveup,
            cost=None
            if self._cost is None
            else self._cost(CostRequest(method, mask_url(url), headers or {}, data)),
        )
        sender = self._sender
        cp = sender.pool_for(target)
        sleep = self._sleep
        try:
            while True:
                step = call.before(wall + clock())
                if type(step) is Wait:
                    if step.seconds > 0:
                        sleep(step.seconds)
                    continue
                if type(step) is Done:  # gave up before sending (a pacing hold, an open circuit)
                    raise not_sent(call, method, mask_url(url), step.reason)
                resp: urllib3.BaseHTTPResponse | None
                try:
                    resp = send_attempt(
                        sender,
                        cp,
                        target,
                        url,
                        method,
                        data,
                        send_headers,
                        secret,
                        step.timeout,  # type: ignore[union-attr]
                    )
                except AttemptFailed as f:
                    outcome: Outcome = f.outcome
                    resp = None
                except CallEnded as e:
                    n = len(call.attempts) + 1
                    call.attempts.append(Attempt(n, e.outcome, None, e.reason, None))
                    raise RetryError(
                        method, mask_url(url), tuple(call.attempts), e.reason
                    ) from None
                else:
                    outcome = response_outcome(resp.status, resp.headers)
                sent_by = getattr(resp, SENT_BY, None)
                step = after_response(call, outcome, wall + clock(), sent_by)
                if type(step) is Wait:
                    if step.seconds > 0:
                        sleep(step.seconds)
                    continue
                if resp is None:
                    reason = step.reason if step.gave_up else "failed"  # type: ignore[union-attr]
                    raise RetryError(method, mask_url(url), tuple(call.attempts), reason)
                resp.attempts = tuple(call.attempts)  # type: ignore[attr-defined]
                return resp
        except BaseException:
            call.abandon(wall + clock())  # a probe without an answer: its place back
            raise

    def close(self) -> None:
        """Close the connections (of a pool this object created)."""
        self._closed = True
        self._sender.close()

    def __enter__(self) -> RetryingPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def abort(pool: RetryingPool, error: BaseException) -> None:
    """Stop every attempt of ``pool`` now and later: each raises ``error``.

    The running attempts' sockets are shut down by the watchdog, so a call blocked in
    any phase of an attempt returns at once (``BackgroundFetcher.close()``).
    """
    pool._sender.abort(error)


#: ``_circuit.circuit_error``, set when that module is imported (it subclasses RetryError,
#: so this module cannot import it).
CIRCUIT_ERROR: list[Callable[..., RetryError | None]] = []


def not_sent(call: Call, method: str, url: str, reason: str) -> RetryError:
    """The error of a call that gave up before sending: ``CircuitOpenError`` when an open
    circuit ended it, else ``RetryError``."""
    found = CIRCUIT_ERROR[0](call, method, url, reason) if CIRCUIT_ERROR else None
    return found if found is not None else RetryError(method, url, tuple(call.attempts), reason)
