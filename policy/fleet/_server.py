"""The simulated server: a fixed-window rate limit, and an outage."""

from __future__ import annotations

import math
from typing import Final

from ..language._outcomes import ConnectFailure, Response

__all__ = ["T0", "Server"]

#: The simulated clock starts here (an epoch second; the server's windows align to it).
T0: Final = 1_800_000_000.0
_REFUSED: Final = ConnectFailure()


class Server:
    """A fixed-window rate-limited server (and its outage) in virtual time.

    Windows are the whole seconds after ``T0``; the first ``capacity`` requests arriving
    in a window succeed, the rest are refused.  Refusals are ``429`` with ``Retry-After``
    (whole seconds to the window's end, rounded up, as servers send it) and
    ``X-RateLimit-Limit``/``-Remaining``/``-Reset`` (epoch seconds); every success also
    carries the ``X-RateLimit-*`` headers.  With ``fail=503`` a refusal is a bare ``503``.
    During ``outage`` (seconds from the start, ``[start, end)``) every request gets
    ``fail`` (default 503), or, with ``refuse``, a refused connection.  With
    ``headers=False`` no answer carries a rate-limit header (a bare 429).
    """

    def __init__(
        self,
        capacity: int,
        *,
        fail: int | None = None,
        outage: tuple[float, float] | None = None,
        headers: bool = True,
        refuse: bool = False,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1 request per second (got {capacity})")
        self.capacity = capacity
        self.fail = fail
        self.outage = outage
        self.headers = headers
        self.refuse = refuse
        self._window = -1
        self._used = 0
        # Responses are immutable and a window repeats its refusals: built once each.
        self._made: dict[tuple[int, str, int], Response] = {}

    def down(self, t: float) -> bool:
        """Whether virtual time ``t`` falls in the outage."""
        return self.outage is not None and self.outage[0] <= t - T0 < self.outage[1]

    def outcome(self, t: float) -> Response | ConnectFailure:
        """What a request arriving at virtual time ``t`` gets: ``answer``, or a refused
        connection during the outage of a server that refuses."""
        if self.refuse and self.down(t):
            return _REFUSED
        return self.answer(t)

    def answer(self, t: float) -> Response:
        """The response to a request that arrives at virtual time ``t``."""
        since = t - T0
        if self.outage is not None and self.outage[0] <= since < self.outage[1]:
            return Response(self.fail or 503)
        window = math.floor(since)
        if window != self._window:
            self._window, self._used = window, 0
            self._made.clear()
        reset = T0 + window + 1
        if self._used < self.capacity:
            self._used += 1
            key = (200, "", self.capacity - self._used)
        elif self.fail is not None:
            key = (self.fail, "", 0)
        else:
            key = (429, str(math.ceil(reset - t)), 0)
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = self._make(key, reset)
        return made

    def _make(self, key: tuple[int, str, int], reset: float) -> Response:
        status, retry_after, left = key
        if (status != 200 and status != 429) or not self.headers:
            return Response(status)
        headers = {
            "x-ratelimit-limit": str(self.capacity),
            "x-ratelimit-remaining": str(left),
            "x-ratelimit-reset": str(int(reset)),
        }
        if retry_after:
            headers["retry-after"] = retry_after
        return Response(status, headers)
