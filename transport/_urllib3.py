"""``PolicyRetry``: a policy inside urllib3's own retry loop (and so inside requests).

urllib3 drives retries through a ``Retry`` object: ``is_retry`` (should this status be
retried?), ``increment`` (record the attempt, return a *new* ``Retry`` or raise
``MaxRetryError``) and ``sleep`` (wait before the next attempt).  ``PolicyRetry`` fills
those in from the evaluator:

* ``is_retry`` is true when a rule of the policy could match the status (and the method
  may be retried), so urllib3 calls ``increment`` -- the decision itself needs the
  response headers, which only ``increment`` receives;
* ``increment`` turns the response or the error into an outcome, calls
  ``Policy.decide`` and returns ``new(state=..., delay=...)``, or raises
  ``MaxRetryError`` when the policy gives up (urllib3 then returns the final response,
  because ``raise_on_status`` is false, or re-raises the error);
* ``sleep`` waits the delay the decision carried;
* redirects stay urllib3's business (its ``redirect`` budget and header stripping).

The decide step is the one attempt loop's (``_loop.Call``): the same outcomes, the same
``Attempt`` history, INFO log lines, ``on_retry``/``on_giveup`` hooks and test mode
(``transport.testing()``) as every other adapter.  urllib3 shares one ``Retry`` object as
the template for every request, so the template holds no state: a request's ``Call``
starts at its first failure and is handed from each ``Retry`` to the next by ``new()``.
What the protocol cannot give: urllib3 sends before the loop is asked, so the
per-attempt timeout and its deadline shrinking, pacing holds before a first attempt and
the accepted attempt's own record (``increment`` never sees a 2xx) are ``RetryingPool``'s
alone; the deadline counts from the first failure.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from urllib3.exceptions import MaxRetryError, ResponseError
from urllib3.util.retry import RequestHistory, Retry

import policy
from policy.loop import Attempt, Call, Done, as_policy

from ._check import callable_or_none, required_callable
from ._exceptions import _builtin_outcome, _urllib3_outcome
from ._pool import PolicyArg
from ._redact import mask_url

__all__ = ["PolicyRetry"]


def _error_outcome(err: Exception) -> Any:
    """The outcome of an error urllib3 hands ``increment`` (unknown: ``reset``, the safe guess)."""
    return _urllib3_outcome(err) or _builtin_outcome(err) or policy.ConnectionReset()


class PolicyRetry(Retry):
    """A ``urllib3.util.Retry`` that follows a policy: ``PoolManager(retries=PolicyRetry(p))``.

    ``policy`` is a ``policy.Policy`` or a policy string (parsed once, here).
    Extra keyword arguments go to ``Retry`` (``redirect`` defaults to 10 and
    ``raise_on_status`` to ``False``, so giving up on a status returns the response).
    ``sleep``, ``rand``, ``on_retry``, ``on_giveup`` and ``state`` are as for every
    adapter.  ``attempts`` is the request's history so far (retries and the give-up;
    urllib3 keeps the last ``PolicyRetry`` on ``response.retries``, requests on
    ``response.raw.retries``).
    """

    def __init__(
        self,
        policy: PolicyArg,
        total: bool | int | None = None,
        connect: int | None = None,
        read: int | None = None,
        redirect: bool | int | None = 10,
        status: int | None = None,
        other: int | None = None,
        *,
        raise_on_status: bool = False,
        state: policy.AttemptState | None = None,
        delay: float = 0.0,
        sleep: Callable[[float], object] = time.sleep,
        rand: Callable[[], float] | None = None,
        on_retry: Callable[[Attempt], object] | None = None,
        on_giveup: Callable[[Attempt], object] | None = None,
        _statuses: frozenset[int] | None = None,
        _call: Call | None = None,
        **kwargs: Any,
    ) -> None:
        if "cost" in kwargs:
            _refuse_cost()
        kwargs.setdefault("allowed_methods", None)
        super().__init__(
            total=total,
            connect=connect,
            read=read,
            redirect=redirect,
            status=status,
            other=other,
            raise_on_status=raise_on_status,
            **kwargs,
        )
        self.policy = policy = as_policy(policy)
        if _call is None and (policy.pace or policy.budget is not None):
            _refuse_fleet(policy)
        self.state = state
        self.delay = delay
        self._sleep = required_callable("sleep", sleep)
        self._rand = callable_or_none("rand", rand) or random.random
        self._on_retry = callable_or_none("on_retry", on_retry)
        self._on_giveup = callable_or_none("on_giveup", on_giveup)
        self._statuses = _statuses if _statuses is not None else _retryable_statuses(policy)
        self._call = _call

    @property
    def attempts(self) -> tuple[Attempt, ...]:
        """The attempts the policy decided on so far in this request (empty: none failed)."""
        return tuple(self._call.attempts) if self._call is not None else ()

    def new(self, **kw: Any) -> PolicyRetry:
        """A copy with ``kw`` changed (the policy, state, delay and hooks carried over)."""
        kw.setdefault("policy", self.policy)
        kw.setdefault("state", self.state)
        kw.setdefault("delay", self.delay)
        kw.setdefault("sleep", self._sleep)
        kw.setdefault("rand", self._rand)
        kw.setdefault("on_retry", self._on_retry)
        kw.setdefault("on_giveup", self._on_giveup)
        kw.setdefault("_statuses", self._statuses)
        kw.setdefault("_call", self._call)
        return super().new(**kw)

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        """Whether a rule of the policy matches ``status_code`` for ``method``."""
        if status_code not in self._statuses:
            return False
        methods = self.policy.methods
        return methods is None or method.upper() in methods

    def get_backoff_time(self) -> float:
        """The wait the last decision asked for (seconds)."""
        return self.delay

    def sleep_for_retry(self, response: Any = None) -> bool:
        # Redirects are not retries: urllib3 calls this between redirect hops.
        return False

    def sleep(self, response: Any = None) -> None:
        """Wait the delay the policy decided."""
        if self.delay > 0:
            self._sleep(self.delay)

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: TracebackType | None = None,
    ) -> PolicyRetry:
        """Decide on ``response`` or ``error``; a new ``PolicyRetry`` or ``MaxRetryError``."""
        if response is not None and error is None and response.get_redirect_location():
            try:
                new = super().increment(method, url, response, error, _pool, _stacktrace)
            except MaxRetryError as e:  # too many redirects: urllib3's text has the URL
                raise MaxRetryError(_pool, mask_url(url or ""), e.reason) from e.reason
            return new._masked_history()
        now = time.time()
        upper = (method or "GET").upper()
        call = self._call
        if call is None:  # the first failure of a request: its call starts here
            call = Call(
                self.policy,
                method=upper,
                now=now,
                display=mask_url(_full_url(_pool, url)),
                rand=self._rand,
                on_retry=self._on_retry,
                on_giveup=self._on_giveup,
            )
        call.before(now)  # the attempt urllib3 just made
        status = None
        if error is not None:
            outcome = _error_outcome(error)
        elif response is not None:
            status = response.status
            outcome = policy.Response(status, response.headers)
        else:
            outcome = policy.ConnectionReset()
        step = call.after(outcome, now)
        shown = mask_url(url or "")
        history = (*self.history, RequestHistory(method, shown, error, status, None))
        if not isinstance(step, Done):
            return self.new(state=call.state, delay=step.seconds, history=history, _call=call)
        if response is not None:
            response.retry_attempts = tuple(call.attempts)  # what requests users can read
        cause: Exception = error if error is not None else ResponseError(step.reason)
        # urllib3 (and requests, which wraps it) show the URL: query values and userinfo
        # are masked here, where the error is made.
        err = MaxRetryError(_pool, shown, cause)
        err.retry_attempts = tuple(call.attempts)  # type: ignore[attr-defined]
        raise err from cause

    def _masked_history(self) -> PolicyRetry:
        """This retry with the URLs of its history masked (urllib3 records them raw)."""
        if not any(h.url and ("?" in h.url or "@" in h.url) for h in self.history):
            return self
        self.history = tuple(
            h._replace(url=mask_url(h.url) if h.url else h.url) for h in self.history
        )
        return self

    def __repr__(self) -> str:
        return f"PolicyRetry({str(self.policy)!r}, redirect={self.redirect}, delay={self.delay})"


def _full_url(pool: Any, url: str | None) -> str:
    """The request's absolute URL for log lines (urllib3 hands ``increment`` the path)."""
    url = url or ""
    if pool is None or "://" in url:
        return url
    return f"{pool.scheme}://{pool.host}:{pool.port}{url}"


def _retryable_statuses(p: policy.Policy) -> frozenset[int]:
    """Every status some rule of ``p`` matches (1xx..5xx, never 2xx)."""
    out: set[int] = set()
    for rule in p.rules:
        for m in rule.matchers:
            covers = getattr(m, "covers", None)
            if covers is None:
                continue
            out.update(s for s in range(100, 600) if not 200 <= s <= 299 and covers(s))
    return frozenset(out)


def _refuse_fleet(p: policy.Policy) -> None:
    """``pace=on`` and ``budget=`` cannot work in a urllib3 ``Retry``: refuse them."""
    said = " and ".join(w for w in str(p).split() if w.startswith(("pace=on", "budget=")))
    raise ValueError(
        f"PolicyRetry cannot apply {said}: urllib3 asks a Retry only after a request "
        "has failed, so it can neither hold nor count first attempts. Use "
        "transport.RetryingPool (urllib3), RetryTransport (httpx), aiohttp_middleware or "
        "retrying for them, or leave them out of the policy given to PolicyRetry."
    )


def _refuse_cost() -> None:
    """``cost=`` needs pacing, and a urllib3 ``Retry`` cannot hold a request: refuse it."""
    raise TypeError(
        "PolicyRetry cannot apply cost=: urllib3 asks a Retry only after a request has "
        "failed, shows it neither the request's body nor a way to hold it back, so a "
        "cost could never be counted or paced. Use transport.RetryAdapter (requests), "
        "transport.RetryingPool (urllib3), RetryTransport (httpx) or aiohttp_middleware."
    )
