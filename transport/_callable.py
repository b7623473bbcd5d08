"""Any callable, sync or async: ``retrying`` and ``outcome_from_exception``.

The one attempt loop (``_loop.Call``) does not care what an attempt is; here an attempt
is a call of the user's function.  What happened becomes an outcome, in this order:

1. an exception that carries an HTTP response (``raise_for_status()``:
   ``requests.HTTPError``, ``httpx.HTTPStatusError``, ``aiohttp.ClientResponseError``)
   is ``Response(status, headers)``, even when listed in ``on=``: so ``429:headers()``
   waits what the server's ``Retry-After`` says even for code that only raises;
2. an exception listed in ``on=`` becomes ``Error(kind=<class name>)`` (the ``error``
   matcher), even one the library knows (``on=(TimeoutError,)`` makes a timeout an
   ``error``);
3. an exception that ``outcome_from_exception`` knows -- a urllib3, requests, httpx or
   aiohttp error, or a built-in ``TimeoutError`` / ``ConnectionError`` -- becomes
   ``timeout``, ``connect`` or ``reset`` (so ``connect:``/``timeout:`` rules work for
   code that calls a client library);
4. any other exception propagates at once, untouched, with no retry;
* a return value is accepted, unless ``result=`` classifies it into an outcome (say, a
  response object with a 503).

The libraries are never imported here: an exception can only be an ``httpx.HTTPError``
if ``httpx`` is already in ``sys.modules``, so that is checked first and costs nothing.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import random
import time
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

import policy
from policy.loop import Attempt, Call, Done, Wait, as_policy, fleet_settings, guard_of
from policy.loop._state import LocalState, State

from ._circuit import not_called
from ._costs import ArgsCost, args_cost
from ._exceptions import outcome_from_exception, response_from_exception
from ._keywords import check_keywords, give_up

__all__ = ["Settings", "check_keywords", "give_up", "outcome_from_exception", "retrying"]

_F = TypeVar("_F", bound=Callable[..., Any])
_INF: Final = float("inf")
_UNKNOWN: Final[Any] = object()

Hook = Callable[[Attempt], object]


# -- the decorator ------------------------------------------------------------------------


class Settings:
    __slots__ = (
        "cache",
        "classifier",
        "clock",
        "cost",
        "display",
        "lazy",
        "method",
        "offset",
        "on",
        "on_giveup",
        "on_retry",
        "origin",
        "p",
        "rand",
        "result",
        "sleep",
        "state",
        "timeout",
    )

    p: policy.Policy
    on: tuple[type[BaseException], ...]
    classifier: Callable[[BaseException], policy.Outcome | None] | None
    cost: ArgsCost | None
    result: Callable[[Any], policy.Outcome | None] | None
    method: str
    sleep: Callable[[float], Any]
    clock: Callable[[], float]
    offset: float
    rand: Callable[[], float]
    on_retry: Hook | None
    on_giveup: Hook | None
    state: State | None
    origin: str
    display: str
    cache: dict[type, policy.Outcome | None]
    timeout: float
    lazy: bool

    def __init__(self, **kw: Any) -> None:
        self.cost = None
        for k, v in kw.items():
            setattr(self, k, v)
        self.cache = {}
        t = self.p.timeout_ms
        self.timeout = t / 1000 if t is not None else _INF
        pace, budget = fleet_settings(self.p)
        self.lazy = not pace and budget is None and guard_of(self.p) is None
        if not self.lazy and self.state is None:
            # One state for every call of the decorated function, as an adapter keeps
            # one for every request through it: its budget counts all the calls' first
            # attempts and retries, and a hold one call learns holds the others.
            self.state = LocalState()

    def call(self, now: float | None = None, cost: Mapping[str, float] | None = None) -> Call:
        return Call(
            self.p,
            method=self.method,
            now=self.offset + self.clock() if now is None else now,
            timeout=self.timeout,
            origin=self.origin,
            display=self.display,
            state=self.state,
            rand=self.rand,
            on_retry=self.on_retry,
            on_giveup=self.on_giveup,
            cost=cost,
        )

    def cost_of(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Mapping[str, float] | None:
        """This call's cost (``cost=``), ``None`` without one."""
        return None if self.cost is None else self.cost(args, kwargs)

    def classify(self, exc: BaseException) -> policy.Outcome | None:
        """The outcome of ``exc``; remembered per class when the class alone decides it."""
        t = type(exc)
        cache = self.cache
        if t in cache:
            return cache[t]
        if self.classifier is not None:
            own = self.classifier(exc)
            if own is not None:
                return own
        out: policy.Outcome | None = response_from_exception(exc)
        if out is None:
            if self.on and isinstance(exc, self.on):
                out = policy.Error(t.__name__)
            else:
                out = outcome_from_exception(exc)
        if (
            self.classifier is None
            and getattr(exc, "response", None) is None
            and _by_class_alone(t)
            and len(cache) < 256
        ):
            cache[t] = out
        return out


_LIBRARIES: Final = frozenset(
    ("requests", "httpx", "httpx2", "aiohttp", "urllib3", "niquests", "urllib3_future")
)


def _by_class_alone(t: type) -> bool:
    """Whether the class decides the outcome: no client library's class is among its bases
    (those may look at the instance: a response's status, a wrapped reason)."""
    return not any(c.__module__.partition(".")[0] in _LIBRARIES for c in t.__mro__)


def retrying(
    policy: policy.Policy | str,
    *,
    on: tuple[type[BaseException], ...] | type[BaseException] = (),
    classify: Callable[[BaseException], policy.Outcome | None] | None = None,
    result: Callable[[Any], policy.Outcome | None] | None = None,
    method: str = "GET",
    sleep: Callable[[float], Any] | None = None,
    clock: Callable[[], float] = time.monotonic,
    rand: Callable[[], float] | None = None,
    on_retry: Hook | None = None,
    on_giveup: Hook | None = None,
    state: State | None = None,
    cost: Mapping[str, float] | Callable[..., Mapping[str, float] | None] | None = None,
) -> Callable[[_F], _F]:
    """Retry a function, sync or async, as a policy says: ``@retrying("error:backoff(3)", on=...)``.

    ``on``: exception classes that become ``Error(kind=<class name>)`` (the ``error``
    matcher), checked before ``outcome_from_exception``'s ``timeout``/``connect``/
    ``reset`` (only an exception carrying an HTTP response stays that response); an
    exception neither listed nor known propagates at once.  Every keyword is checked
    here: a hook that is not callable is a ``TypeError`` now, not at the first call.
    ``classify``: ``fn(exc) -> Outcome | None``, consulted first for every exception (its
    ``None`` falls through to the rules above).  A policy without an ``error`` rule cannot
    retry what ``on=`` lists: that is a ``ValueError`` here.
    ``result``: classifies a return value into an
    outcome (``None``: accept it).  ``method``: the HTTP method the policy's
    ``methods=`` and ``[...]`` limits see (``GET`` by default; say ``POST`` for work
    that must not run twice).  ``sleep`` defaults to ``time.sleep`` / ``asyncio.sleep``.
    An async function's attempts run under ``asyncio.timeout`` of the policy's
    ``timeout=`` (shrunk to the deadline); a sync function cannot be interrupted, so
    only the deadline's check before each retry applies to it.

    Giving up re-raises the last exception unchanged, with the policy's reason added
    as a note and the attempts on ``transport.attempts_of(exc)``, or returns the
    last result.

    With ``pace=on`` or a ``budget=``, every call of the decorated function shares one
    ``state`` (a new ``LocalState`` unless one is given): the budget counts all its
    calls, and a hold one call learns holds the others.  ``cost``: what one call spends
    per rate-limit family (``{"tokens": 900}``), or ``fn(*args, **kwargs)`` giving it
    from the call's arguments; ``pace=on`` learns the quota from the responses the
    policy sees (an exception's response, or ``result=`` returning a ``Response``).
    """
    p = as_policy(policy)
    cost_fn = args_cost(cost)
    on_types = check_keywords(
        p,
        on=on,
        classify=classify,
        result=result,
        method=method,
        sleep=sleep,
        clock=clock,
        rand=rand,
        on_retry=on_retry,
        on_giveup=on_giveup,
    )

    def decorate(fn: _F) -> _F:
        name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", repr(fn))
        module = getattr(fn, "__module__", None)
        display = f"{module}.{name}" if module else name
        is_async = inspect.iscoroutinefunction(fn)
        s = Settings(
            p=p,
            on=on_types,
            classifier=classify,
            result=result,
            method=method.upper(),
            sleep=sleep if sleep is not None else (asyncio.sleep if is_async else time.sleep),
            clock=clock,
            offset=time.time() - clock(),
            rand=rand if rand is not None else random.random,
            on_retry=on_retry,
            on_giveup=on_giveup,
            state=state,
            origin=f"call:{display}",
            display=display,
            cost=cost_fn,
        )
        if is_async:

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                return await _run_async(s, fn, args, kwargs)

            async_wrapper.retry_policy = p  # type: ignore[attr-defined]
            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return _run(s, fn, args, kwargs)

        wrapper.retry_policy = p  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def _run(s: Settings, fn: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    clock, offset, sleep, classify, result = s.clock, s.offset, s.sleep, s.classify, s.result
    cache = s.cache
    start = now = offset + clock()
    cost = s.cost_of(args, kwargs)
    # Without pacing or a budget, nothing needs the call before a first failure: a call
    # that succeeds at once costs one function call more (no Call, no state).
    call = None if s.lazy else s.call(start, cost)
    try:
        while True:
            if call is not None:
                step = call.before(now)
                if type(step) is Wait:
                    if step.seconds > 0:
                        sleep(step.seconds)
                    now = offset + clock()
                    continue
                if type(step) is Done:
                    raise not_called(call, s.method, s.display, step.reason)
            try:
                value = fn(*args, **kwargs)
            except Exception as e:
                outcome = cache.get(type(e), _UNKNOWN)
                if outcome is _UNKNOWN:
                    outcome = classify(e)
                if outcome is None:
                    raise
                if call is None:
                    call = s.call(start, cost)
                    call.before(start)  # the attempt just made
                now = offset + clock()
                after = call.after(outcome, now)
                if isinstance(after, Done):
                    give_up(e, call, after.reason)
                    raise
                wait = after.seconds
            else:
                outcome = result(value) if result is not None else None
                if outcome is None:
                    if call is not None and call._res is not None:  # the breaker hears of it
                        call.after(_SUCCESS, offset + clock())
                    return value
                if call is None:
                    call = s.call(start, cost)
                    call.before(start)
                now = offset + clock()
                after = call.after(outcome, now)
                if isinstance(after, Done):
                    return value
                wait = after.seconds
            if wait > 0:
                sleep(wait)
                now = offset + clock()
    except BaseException:
        if call is not None:  # a probe that ends without an answer gives its place back
            call.abandon(offset + clock())
        raise


async def _run_async(s: Settings, fn: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    call = s.call(cost=s.cost_of(args, kwargs))
    clock, offset, sleep, classify, result = s.clock, s.offset, s.sleep, s.classify, s.result
    bounded = s.p.timeout_ms is not None or s.p.deadline_ms is not None
    try:
        while True:
            step = call.before(offset + clock())
            if type(step) is Wait:
                if step.seconds > 0:
                    await sleep(step.seconds)
                continue
            if type(step) is Done:
                raise not_called(call, s.method, s.display, step.reason)
            bound: asyncio.Timeout | None = None
            try:
                if bounded:
                    async with asyncio.timeout(step.timeout) as bound:  # type: ignore[union-attr]
                        value = await fn(*args, **kwargs)
                else:
                    value = await fn(*args, **kwargs)
            except Exception as e:
                # the attempt's own bound fired: a timeout, whatever on= lists
                expired = bound is not None and bound.expired() and isinstance(e, TimeoutError)
                outcome = policy.Timeout() if expired else classify(e)
                if outcome is None:
                    raise
                after = call.after(outcome, offset + clock())
                if isinstance(after, Done):
                    give_up(e, call, after.reason)
                    raise
                wait = after.seconds
            else:
                outcome = result(value) if result is not None else None
                if outcome is None:
                    if call._res is not None:  # the breaker and the bucket hear of it
                        call.after(_SUCCESS, offset + clock())
                    return value
                after = call.after(outcome, offset + clock())
                if isinstance(after, Done):
                    return value
                wait = after.seconds
            if wait > 0:
                await sleep(wait)
    except BaseException:
        call.abandon(offset + clock())  # a probe without an answer: its place back
        raise


#: What a call that returned stands for, for the breaker: a success.
_SUCCESS: Final = policy.Response(200, ())
