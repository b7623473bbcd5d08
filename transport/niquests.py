"""The retry adapter for ``niquests``: ``session.mount("https://", RetryAdapter(p))``.

niquests is a maintained continuation of requests with the same adapter interface;
``RetryAdapter`` here subclasses ``niquests.adapters.HTTPAdapter`` and runs the same
attempt loop as ``transport.RetryAdapter`` does for requests (pacing, budgets, the
deadline, the per-attempt timeout, hooks, test mode), with niquests' own exceptions.
Importing this module imports niquests (extra ``[niquests]``).  niquests depends on
``urllib3-future``, which takes the place of the ``urllib3`` package in the environment
it is installed in; this library's urllib3 adapters work on it too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import niquests  # type: ignore[import-not-found,unused-ignore]
from niquests.adapters import HTTPAdapter  # type: ignore[import-not-found,unused-ignore]

import policy
from policy.loop import Attempt, State

from ._adapter_loop import AdapterLoop

__all__ = ["RetryAdapter"]

Hook = Callable[[Attempt], object]


class RetryAdapter(HTTPAdapter):  # type: ignore[misc,unused-ignore]
    """A ``niquests`` adapter that retries as a policy says: ``session.mount(prefix, ...)``.

    The keywords are ``transport.RetryAdapter``'s; other keywords go to niquests'
    ``HTTPAdapter``.  The attempts are on ``transport.attempts_of(response)`` (or of
    the exception raised on a give-up).
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
        self._loop = AdapterLoop(
            policy,
            sleep=sleep,
            clock=clock,
            rand=rand,
            on_retry=on_retry,
            on_giveup=on_giveup,
            state=state,
            timeout=timeout,
        )
        self.policy = self._loop.policy

    def send(self, request: Any, stream: bool = False, timeout: Any = None, **kwargs: Any) -> Any:
        return self._loop.send(niquests, super().send, request, stream, timeout, kwargs)
