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

from collections.abc import Callable
from typing import Any

import niquests  # type: ignore[import-not-found,unused-ignore]
from niquests.adapters import HTTPAdapter  # type: ignore[import-not-found,unused-ignore]

from policy.loop import Attempt

from ._adapter_loop import LoopAdapter

__all__ = ["RetryAdapter"]

Hook = Callable[[Attempt], object]


class RetryAdapter(LoopAdapter, HTTPAdapter):  # type: ignore[misc,unused-ignore]
    """A ``niquests`` adapter that retries as a policy says: ``session.mount(prefix, ...)``.

    The keywords are ``transport.RetryAdapter``'s; other keywords go to niquests'
    ``HTTPAdapter``.  The attempts are on ``transport.attempts_of(response)`` (or of
    the exception raised on a give-up).
    """

    def send(self, request: Any, stream: bool = False, timeout: Any = None, **kwargs: Any) -> Any:
        return self._loop.send(niquests, super().send, request, stream, timeout, kwargs)
