"""The loop form, for code that is not one call: ``transport.attempts(p)``.

::

    for attempt in transport.attempts("error:backoff(3,100ms..1s,jitter)", on=(OSError,)):
        with attempt:
            step_one()
            step_two()

    async for attempt in transport.attempts(p):
        async with attempt:          # or ``with``: ``async with`` also bounds the block
            await something()

Both loops drive the same ``Call`` as ``retrying`` and classify what the block raises the
same way (``classify=``, a carried HTTP response, ``on=``, ``outcome_from_exception``).
``with attempt:`` is what ends an attempt; its ``__exit__`` does the deciding:

* no exception and no ``attempt.outcome``: the block succeeded, the loop ends;
* ``attempt.outcome = policy.Response(...)`` (set instead of raising): the policy decides
  on it; a give-up ends the loop normally (the history is on ``transport.attempts_of``);
* an exception the classification knows: a retry suppresses it (the loop waits and goes
  on), a give-up lets it propagate with the policy's reason as a note and the attempts as
  ``retry_attempts``;
* an exception nothing classifies propagates at once, untouched.

The waits happen between iterations, in the iterator: ``time.sleep`` in a ``for`` loop,
``asyncio.sleep`` in an ``async for`` loop (``sleep=`` replaces either).  ``async with
attempt:`` runs the block under ``asyncio.timeout(attempt.timeout)`` (when the policy has
a ``timeout=`` or a deadline), as ``retrying`` does for an async function: when that
bound cuts it short, the outcome is ``timeout``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from types import TracebackType
from typing import Any, Final

import policy
from policy.loop import Attempt, Call, Done, Wait, as_policy, heard
from policy.loop._state import State

from ._callable import Settings
from ._circuit import circuit_error
from ._costs import fixed_cost
from ._keywords import check_keywords, give_up

__all__ = ["AttemptBlock", "Attempts", "attempts"]

_INF: Final = float("inf")
_SUCCESS: Final = policy.Response(200, ())  # a block that ended without an outcome

Hook = Callable[[Attempt], object]


class AttemptBlock:
    """One attempt of the loop form: enter it with ``with attempt:`` (or, in async code,
    ``async with attempt:``, which also bounds the block by ``timeout``).

    ``number`` counts from 1; ``timeout`` is what this attempt may take in seconds (the
    policy's ``timeout=`` shrunk to the deadline; ``None``: neither is set) -- pass it to
    the client you call.  Set ``outcome`` to a ``policy.Response`` (or any outcome) to
    have the policy decide on it instead of raising.
    """

    __slots__ = (
        "_bound",
        "_done",
        "_exited",
        "_loop",
        "_wait",
        "number",
        "outcome",
        "timeout",
    )

    def __init__(self, loop: Attempts, number: int, timeout: float | None) -> None:
        self._loop = loop
        self.number = number
        self.timeout = timeout
        self.outcome: policy.Outcome | None = None
        self._exited = False
        self._done = False
        self._wait = 0.0
        self._bound: asyncio.Timeout | None = None

    def __repr__(self) -> str:
        return f"<attempt {self.number} of {self._loop._s.display}>"

    def __enter__(self) -> AttemptBlock:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        return self._loop._settle(self, exc)

    async def __aenter__(self) -> AttemptBlock:
        """``async with attempt:`` also bounds the block by ``asyncio.timeout(timeout)``."""
        if self.timeout is not None:
            self._bound = asyncio.timeout(self.timeout)
            await self._bound.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        bound = self._bound
        if bound is not None:
            try:
                await bound.__aexit__(exc_type, exc, tb)
            except TimeoutError as e:
                if not bound.expired():
                    raise
                # the attempt's own bound cut it short: a timeout, whatever on= lists
                if self._loop._settle(self, e, policy.Timeout()):
                    return True
                raise
        return self._loop._settle(self, exc)


class Attempts:
    """What ``transport.attempts(p)`` returns: iterate it with ``for`` or ``async for``.

    Each iteration starts a new call (its own attempt count, deadline and history);
    ``transport.attempts_of(loop)`` reads the history of the latest one.
    """

    __slots__ = ("_call", "_cost", "_last", "_s")

    def __init__(self, settings: Settings, cost: Mapping[str, float] | None = None) -> None:
        self._s = settings
        self._cost = cost
        self._call: Call | None = None
        self._last: BaseException | None = None

    @property
    def started(self) -> bool:
        """Whether a loop has run (or is running) over this object."""
        return self._call is not None

    @property
    def history(self) -> tuple[Attempt, ...]:
        """The attempts the policy decided on in the latest loop (empty before one ran)."""
        return tuple(self._call.attempts) if self._call is not None else ()

    def __iter__(self) -> Iterator[AttemptBlock]:
        s = self._s
        sleep: Callable[[float], Any] = s.sleep if s.sleep is not None else time.sleep
        call = self._start()
        number = 0
        while True:
            step = call.before(s.offset + s.clock())
            if isinstance(step, Wait):
                if step.seconds > 0:
                    sleep(step.seconds)
                continue
            if isinstance(step, Done):
                self._not_sent(call, step.reason)
                return
            number += 1
            block = AttemptBlock(self, number, None if step.timeout == _INF else step.timeout)
            yield block
            if not block._exited:  # the body never entered ``with attempt:``
                self._settle(block, None)
            if block._done:
                return
            if block._wait > 0:
                sleep(block._wait)

    async def _aiter(self) -> AsyncIterator[AttemptBlock]:
        s = self._s
        sleep: Callable[[float], Any] = s.sleep if s.sleep is not None else asyncio.sleep
        call = self._start()
        number = 0
        while True:
            step = call.before(s.offset + s.clock())
            if isinstance(step, Wait):
                if step.seconds > 0:
                    await sleep(step.seconds)
                continue
            if isinstance(step, Done):
                self._not_sent(call, step.reason)
                return
            number += 1
            block = AttemptBlock(self, number, None if step.timeout == _INF else step.timeout)
            yield block
            if not block._exited:
                self._settle(block, None)
            if block._done:
                return
            if block._wait > 0:
                await sleep(block._wait)

    def __aiter__(self) -> AsyncIterator[AttemptBlock]:
        return self._aiter()

    # -- internals ------------------------------------------------------------------------

    def _start(self) -> Call:
        self._last = None
        self._call = call = self._s.call(cost=self._cost)
        return call

    def _not_sent(self, call: Call, reason: str) -> None:
        """``before`` gave up: an open circuit raises ``CircuitOpenError``; a hold or
        quota past the deadline re-raises the last exception, ends normally after an
        outcome, or says no attempt could be made."""
        last = self._last
        found = circuit_error(call, call.method, self._s.display, reason)
        if found is not None:
            give_up(found, call, reason)
            raise found from last
        if last is not None:
            give_up(last, call, reason)
            raise last
        if not call.attempts:
            raise TimeoutError(f"{self._s.display} not attempted: {reason}")

    def _settle(
        self,
        block: AttemptBlock,
        exc: BaseException | None,
        known: policy.Outcome | None = None,
    ) -> bool:
        """Decide on the attempt that just ended; ``True`` suppresses its exception."""
        if block._exited:
            raise RuntimeError(f"{block!r} was already used: enter each attempt once")
        block._exited = True
        call = self._call
        assert call is not None
        s = self._s
        if exc is None:
            outcome = block.outcome
            if outcome is None:
                block._done = True  # the block succeeded: the breaker hears of it
                heard(call, _SUCCESS, s.offset + s.clock())
                return False
        elif not isinstance(exc, Exception):
            block._done = True  # KeyboardInterrupt, CancelledError...: never retried
            call.abandon(s.offset + s.clock())  # (a probe without an answer)
            return False
        else:
            outcome = known if known is not None else s.classify(exc)
            if outcome is None:
                block._done = True  # nothing classifies it: it propagates at once
                call.abandon(s.offset + s.clock())
                return False
        after = call.after(outcome, s.offset + s.clock())
        if isinstance(after, Done):
            block._done = True
            if exc is not None:
                give_up(exc, call, after.reason)
            return False
        self._last = exc
        block._wait = after.seconds
        return exc is not None


def attempts(
    policy: policy.Policy | str,
    *,
    on: tuple[type[BaseException], ...] | type[BaseException] = (),
    classify: Callable[[BaseException], policy.Outcome | None] | None = None,
    method: str = "GET",
    name: str = "attempts",
    sleep: Callable[[float], Any] | None = None,
    clock: Callable[[], float] = time.monotonic,
    rand: Callable[[], float] | None = None,
    on_retry: Hook | None = None,
    on_giveup: Hook | None = None,
    state: State | None = None,
    cost: Mapping[str, float] | None = None,
) -> Attempts:
    """Retry a block of code as a policy says: ``for attempt in attempts(p): with attempt:``.

    The keywords are ``retrying``'s (checked here: a hook that is not callable is a
    ``TypeError`` now; ``on=`` with a policy that has no ``error`` rule a ``ValueError``).
    ``name`` is how log lines name the block (and what pacing holds are kept per).
    ``sleep`` defaults to ``time.sleep`` in a ``for`` loop and ``asyncio.sleep`` in an
    ``async for`` loop (then it must return an awaitable).  With ``pace=on`` or a
    ``budget=``, pass one ``state`` to every loop that should share them.  ``cost``:
    what one loop spends per rate-limit family (``{"tokens": 900}``); ``pace=on`` learns
    the quota from the outcomes the block sets (``attempt.outcome = policy.Response(...)``).
    """
    p = as_policy(policy)
    on_types = check_keywords(
        p,
        on=on,
        classify=classify,
        result=None,
        method=method,
        sleep=sleep,
        clock=clock,
        rand=rand,
        on_retry=on_retry,
        on_giveup=on_giveup,
    )
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty str (got {name!r})")
    fixed = fixed_cost(cost)
    return Attempts(
        Settings(
            p=p,
            on=on_types,
            classifier=classify,
            result=None,
            method=method.upper(),
            sleep=sleep,
            clock=clock,
            offset=time.time() - clock(),
            rand=rand if rand is not None else random.random,
            on_retry=on_retry,
            on_giveup=on_giveup,
            state=state,
            origin=f"call:{name}",
            display=name,
        ),
        fixed,
    )
