"""The fleet simulator behind ``policy simulate P1 P2 ... --clients N --capacity R/s``.

One policy decides for one call; what a policy does to a *server* only shows when many
clients run it at once.  This is a deterministic discrete-event model of that: ``clients``
clients share a server that serves ``capacity`` requests per second in fixed one-second
windows and answers the rest ``429`` with ``Retry-After`` and ``X-RateLimit-Limit`` /
``-Remaining`` / ``-Reset`` (or a bare ``503`` with ``fail=503``; and every request in an
``outage`` window fails so).  Each client needs ``work`` successes, one call after
another; a call that gives up is issued again by the client after a pause (the
application retrying its job, with a backoff of its own: 1 s after a first give-up, then
2, 4, 8 ... up to 64 s while its calls keep giving up, 1 s again after a success), so
every client gets its work done or the horizon ends.  That pause is what makes a retry
budget pay off when a dependency is down for everyone: a call the budget cuts short
hands its work back to the application, which waits longer each time, where a call
without a budget keeps retrying at its own pace.

It drives the real thing, never a copy: each call is a ``transport`` ``Call`` -- the one
attempt loop every adapter runs -- with the real evaluator behind it, and the clients
share one ``LocalState``, so pacing holds (``pace=on``) and retry budgets (``budget=``)
behave exactly as they do for threads sharing an adapter (or processes sharing a
``RedisState``).  ``Call`` is sans-IO, so virtual time is simply the ``now`` it is handed.
(``transport`` is imported when a simulation runs, not when ``policy`` is imported.)

Time is virtual: a heap of events ordered by (time, sequence number); a request reaches
the server ``latency`` seconds after it is sent and its answer is back ``latency`` later.
Randomness comes from one ``random.Random`` per client seeded from ``seed``, so the same
arguments give the same table, whatever the machine.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Sequence
from typing import Any, Final

import attrs

from ..language._outcomes import Response
from ..language._policy import Policy

__all__ = ["FleetResult", "Server", "simulate_fleet"]

#: The simulated clock starts here (an epoch second; the server's windows align to it).
T0: Final = 1_800_000_000.0
#: The pause before a client issues a call again after the policy gave up on it; it
#: doubles with each give-up in a row, up to ``REISSUE_MAX_S``.
REISSUE_S: Final = 1.0
REISSUE_MAX_S: Final = 64.0
_ORIGIN: Final = "http://server.sim:80"


@attrs.frozen
class FleetResult:
    """What one policy did to the server.

    ``calls`` counts the calls that ended (each a run of the attempt loop: its first
    attempt and its retries), ``requests`` every request sent, ``rejected`` those the
    server refused (429 or 503), ``gave_up`` the calls the policy ended without a
    success; ``done`` is how many
    clients finished their work before the horizon.  ``makespan`` is the time (seconds
    from the start) at which the last client finished, ``p50``/``p99`` the clients'
    completion times (``inf`` for a client that did not finish).  ``per_second`` is the
    number of requests sent in each second of the run.
    """

    policy: str
    clients: int
    calls: int
    requests: int
    rejected: int
    gave_up: int
    done: int
    makespan: float
    p50: float
    p99: float
    per_second: tuple[int, ...] = attrs.field(repr=False)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able summary (``inf`` as ``None``), without the per-second series."""
        d = attrs.asdict(self)
        d["per_second"] = list(self.per_second)
        for key in ("makespan", "p50", "p99"):
            if math.isinf(d[key]):
                d[key] = None
        return d


class Server:
    """A fixed-window rate-limited server (and its outage) in virtual time.

    Windows are the whole seconds after ``T0``; the first ``capacity`` requests arriving
    in a window succeed, the rest are refused.  Refusals are ``429`` with ``Retry-After``
    (whole seconds to the window's end, rounded up, as servers send it) and
    ``X-RateLimit-Limit``/``-Remaining``/``-Reset`` (epoch seconds); every success also
    carries the ``X-RateLimit-*`` headers.  With ``fail=503`` a refusal is a bare ``503``.
    During ``outage`` (seconds from the start, ``[start, end)``) every request gets
    ``fail`` (default 503).
    """

    def __init__(
        self,
        capacity: int,
        *,
        fail: int | None = None,
        outage: tuple[float, float] | None = None,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1 request per second (got {capacity})")
        self.capacity = capacity
        self.fail = fail
        self.outage = outage
        self._window = -1
        self._used = 0
        # Responses are immutable and a window repeats its refusals: built once each.
        self._made: dict[tuple[int, str, int], Response] = {}

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
        if status != 200 and status != 429:
            return Response(status)
        headers = {
            "x-ratelimit-limit": str(self.capacity),
            "x-ratelimit-remaining": str(left),
            "x-ratelimit-reset": str(int(reset)),
        }
        if retry_after:
            headers["retry-after"] = retry_after
        return Response(status, headers)


def simulate_fleet(
    policies: Sequence[Policy],
    *,
    clients: int,
    capacity: int,
    work: int = 1,
    seed: int = 0,
    fail: int | None = None,
    outage: tuple[float, float] | None = None,
    horizon: float = 600.0,
    latency: float = 0.005,
    trace: list[tuple[str, float, int, float]] | None = None,
) -> list[FleetResult]:
    """Run the fleet once per policy (same seed for each); one ``FleetResult`` per policy.

    ``trace``, when given, receives ``("send", t, seq, 0.0)`` for every request sent and
    ``("hold", t, seq, until)`` for every pacing hold the shared state takes on, in
    event order (tests check that no send falls inside a hold).
    """
    if clients < 1:
        raise ValueError(f"clients must be at least 1 (got {clients})")
    if work < 1:
        raise ValueError(f"work must be at least 1 (got {work})")
    return [
        _run(p, clients, capacity, work, seed, fail, outage, horizon, latency, trace)
        for p in policies
    ]


def _run(
    p: Policy,
    clients: int,
    capacity: int,
    work: int,
    seed: int,
    fail: int | None,
    outage: tuple[float, float] | None,
    horizon: float,
    latency: float,
    trace: list[tuple[str, float, int, float]] | None,
) -> FleetResult:
    from ..loop._loop import Call, Done, Send, Wait
    from ..loop._state import LocalState

    server = Server(capacity, fail=fail, outage=outage)
    state = LocalState()
    end = T0 + horizon
    rands = [random.Random(seed * 1_000_003 + i).random for i in range(clients)]
    live: list[Any] = [None] * clients  # each client's call in progress
    pending: list[Response | None] = [None] * clients  # an answer on its way back
    left = [work] * clients
    streak = [0] * clients  # give-ups in a row
    finished = [math.inf] * clients
    per_second = [0] * (math.ceil(horizon) + 1)
    requests = rejected = gave_up = calls = 0
    hold_seen = 0.0
    seq = 0
    # Every client starts its first call at T0 (the herd), in client order.
    events: list[tuple[float, int, int]] = [(T0, i, i) for i in range(clients)]
    seq = clients
    heapq.heapify(events)
    while events:
        now, _, i = heapq.heappop(events)
        if now > end:
            break
        answer = pending[i]
        if answer is not None:
            pending[i] = None
            step: Any = live[i].after(answer, now)
            if trace is not None:
                until = state.hold_until(_ORIGIN, now)
                if until is not None and until > hold_seen:
                    hold_seen = until
                    trace.append(("hold", now, seq, until))
        else:
            if live[i] is None:
                live[i] = Call(p, now=now, origin=_ORIGIN, state=state, rand=rands[i])
            step = live[i].before(now)
            if type(step) is Send:
                if trace is not None:
                    trace.append(("send", now, seq, 0.0))
                requests += 1
                second = int(now - T0)
                if second < len(per_second):
                    per_second[second] += 1
                response = server.answer(now + latency)
                if response.status != 200:
                    rejected += 1
                pending[i] = response
                heapq.heappush(events, (now + 2 * latency, seq, i))
                seq += 1
                continue
        if type(step) is Wait:
            heapq.heappush(events, (now + step.seconds, seq, i))
            seq += 1
            continue
        assert type(step) is Done
        live[i] = None
        calls += 1
        if step.gave_up:
            gave_up += 1
            pause = min(REISSUE_S * 2.0 ** streak[i], REISSUE_MAX_S)
            streak[i] += 1
            heapq.heappush(events, (now + pause, seq, i))
            seq += 1
            continue
        streak[i] = 0
        left[i] -= 1
        if left[i]:
            heapq.heappush(events, (now, seq, i))
            seq += 1
        else:
            finished[i] = now - T0
    done = sum(1 for f in finished if f != math.inf)
    ranked = sorted(finished)
    return FleetResult(
        policy=str(p),
        clients=clients,
        calls=calls,
        requests=requests,
        rejected=rejected,
        gave_up=gave_up,
        done=done,
        makespan=ranked[-1],
        p50=_percentile(ranked, 0.50),
        p99=_percentile(ranked, 0.99),
        per_second=tuple(per_second[: math.ceil(min(ranked[-1], horizon)) + 1]),
    )


def _percentile(ranked: list[float], q: float) -> float:
    """The nearest-rank percentile of a sorted list (``inf`` entries are unfinished)."""
    k = max(0, math.ceil(q * len(ranked)) - 1)
    return ranked[k]
