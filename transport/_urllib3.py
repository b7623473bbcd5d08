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

urllib3 shares one ``Retry`` object as the template for every request, so the template
holds no state: the evaluator's state starts at the first failure of a request.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ProxyError,
    ReadTimeoutError,
    ResponseError,
    SSLError,
)
from urllib3.util.retry import RequestHistory, Retry

import policy

from ._pool import PolicyArg, as_policy
from ._redact import mask_url

__all__ = ["PolicyRetry"]


def _error_outcome(err: Exception) -> Any:
    if isinstance(err, ProxyError):
        return policy.ConnectFailure()
    if isinstance(err, ReadTimeoutError):
        return policy.Timeout()
    if isinstance(err, ConnectTimeoutError | NewConnectionError | SSLError):
        return policy.ConnectFailure()
    if isinstance(err, ProtocolError | OSError):
        return policy.ConnectionReset()
    return policy.ConnectionReset()


class PolicyRetry(Retry):
    """A ``urllib3.util.Retry`` that follows a policy: ``PoolManager(retries=PolicyRetry(p))``.

    ``policy`` is a ``policy.Policy`` or a policy string (parsed once, here).
    Extra keyword arguments go to ``Retry`` (``redirect`` defaults to 10 and
    ``raise_on_status`` to ``False``, so giving up on a status returns the response).
    ``sleep`` and ``rand`` may be injected like in ``RetryingPool``.
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
        _statuses: frozenset[int] | None = None,
        **kwargs: Any,
    ) -> None:
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
        self.state = state
        self.delay = delay
        self._sleep = sleep
        self._rand = rand if rand is not None else random.random
        self._statuses = _statuses if _statuses is not None else _retryable_statuses(policy)

    def new(self, **kw: Any) -> PolicyRetry:
        """A copy with ``kw`` changed (the policy, state, delay and hooks carried over)."""
        kw.setdefault("policy", self.policy)
        kw.setdefault("state", self.state)
        kw.setdefault("delay", self.delay)
        kw.setdefault("sleep", self._sleep)
        kw.setdefault("rand", self._rand)
        kw.setdefault("_statuses", self._statuses)
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
        state = self.state if self.state is not None else self.policy.start(now=now)
        status = None
        if error is not None:
            outcome = _error_outcome(error)
        elif response is not None:
            status = response.status
            outcome = policy.Response(status, response.headers)
        else:
            outcome = policy.ConnectionReset()
        d = self.policy.decide(
            state, outcome, now=now, rand=self._rand, method=(method or "GET").upper()
        )
        shown = mask_url(url or "")
        history = (*self.history, RequestHistory(method, shown, error, status, None))
        if type(d) is policy.Retry:
            return self.new(state=d.state, delay=d.delay, history=history)
        reason = getattr(d, "reason", "accepted")
        cause: Exception = error if error is not None else ResponseError(reason)
        # urllib3 (and requests, which wraps it) show the URL: query values and userinfo
        # are masked here, where the error is made.
        raise MaxRetryError(_pool, shown, cause) from cause

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
