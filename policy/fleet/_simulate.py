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

Resilience beyond retries, by the same means: a policy with ``breaker=`` has every
client share the state's circuit breaker (one origin, as a fleet sharing Redis does) and
``pace=adaptive`` its adaptive limiter, exactly as the loop runs them.  A call the open
circuit fails fast (nothing sent: a ``CircuitOpenError`` in a real client) is issued again
by the application when the error's ``retry_after`` says the circuit half-opens; a retry
whose wait ends in the open span waits for half-open (or gives up, past its deadline).
With ``headers=False`` the server's 429s carry no rate-limit header at all.

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

from ..language._outcomes import ConnectFailure, Response
from ..language._policy import Policy
from ._server import T0, Server

__all__ = ["T0", "FleetResult", "Server", "simulate_fleet"]

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
    number of requests sent in each second of the run; ``refused_per_second`` how many of
    them the server refused for being over capacity (429, or ``fail``) and
    ``down_per_second`` how many reached it while it was down (the outage), so the
    requests it served in second ``k`` are ``served_per_second[k]`` = ``per_second[k] -
    refused_per_second[k] - down_per_second[k]``.
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
    #: Requests that reached the server during the outage (0 without one).
    while_down: int = 0
    #: Seconds from the outage's end until every client that still had work then got a
    #: success (``inf``: some never did; ``None``: no outage in the run).
    recover: float | None = None
    #: Calls the circuit breaker failed fast, before anything was sent (a retry the open
    #: circuit ended after attempts counts in ``gave_up`` only).
    failed_fast: int = 0
    #: Of ``per_second``: the requests refused for being over capacity, each second.
    refused_per_second: tuple[int, ...] = attrs.field(default=(), repr=False)
    #: Of ``per_second``: the requests that reached the server while it was down.
    down_per_second: tuple[int, ...] = attrs.field(default=(), repr=False)

    @property
    def served_per_second(self) -> tuple[int, ...]:
        """The requests the server answered ``200``, each second of ``per_second``."""
        return tuple(
            n - r - d
            for n, r, d in zip(
                self.per_second, self.refused_per_second, self.down_per_second, strict=True
            )
        )

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able summary (``inf`` as ``None``), without the per-second series."""
        d = attrs.asdict(self)
        for key in ("per_second", "refused_per_second", "down_per_second"):
            d[key] = list(d[key])
        for key in ("makespan", "p50", "p99", "recover"):
            if d[key] is not None and math.isinf(d[key]):
                d[key] = None
        return d


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
    headers: bool = True,
    refuse: bool = False,
    trace: list[tuple[str, float, int, float]] | None = None,
) -> list[FleetResult]:
    """Run the fleet once per policy (same seed for each); one ``FleetResult`` per policy.

    A policy's own settings say everything: ``breaker=`` gives the fleet one shared
    circuit breaker, ``pace=adaptive`` one shared adaptive limiter, as ``budget=`` and
    ``pace=on`` share a budget and holds.

    ``trace``, when given, receives ``("send", t, seq, 0.0)`` for every request sent and
    ``("hold", t, seq, until)`` for every pacing hold the shared state takes on, in
    event order (tests check that no send falls inside a hold).
    """
    if clients < 1:
        raise ValueError(f"clients must be at least 1 (got {clients})")
    if work < 1:
        raise ValueError(f"work must be at least 1 (got {work})")
    from ..loop._resilience import quiet

    server_args = (capacity, fail, outage, headers, refuse)
    with quiet():  # the circuits are virtual: no log line, span event or listener call
        return [
            _run(p, clients, server_args, work, seed, horizon, latency, trace) for p in policies
        ]


def _run(
    p: Policy,
    clients: int,
    server_args: tuple[int, int | None, tuple[float, float] | None, bool, bool],
    work: int,
    seed: int,
    horizon: float,
    latency: float,
    trace: list[tuple[str, float, int, float]] | None,
) -> FleetResult:
    from ..loop import Call, Done, Send, Wait, circuit_of
    from ..loop._state import LocalState

    capacity, fail, outage, headers, refuse = server_args
    server = Server(capacity, fail=fail, outage=outage, headers=headers, refuse=refuse)
    state = LocalState()
    end = T0 + horizon
    back = T0 + outage[1] if outage is not None else math.inf  # the server is up again
    rands = [random.Random(seed * 1_000_003 + i).random for i in range(clients)]
    live: list[Any] = [None] * clients  # each client's call in progress
    pending: list[Response | ConnectFailure | None] = [None] * clients  # answers on the way
    left = [work] * clients
    streak = [0] * clients  # give-ups in a row
    finished = [math.inf] * clients
    served_again = [math.inf] * clients  # first success after the outage
    per_second = [0] * (math.ceil(horizon) + 1)
    refused_ps = [0] * len(per_second)  # of per_second: over capacity
    down_ps = [0] * len(per_second)  # of per_second: reached the server while down
    requests = rejected = gave_up = calls = while_down = failed_fast = 0
    hold_seen = 0.0
    # Every client starts its first call at T0 (the herd), in client order.
    events: list[tuple[float, int, int]] = [(T0, i, i) for i in range(clients)]
    seq = clients
    heapq.heapify(events)
    while events:
        now, _, i = heapq.heappop(events)
        if now > end:
            break
        answer = pending[i]
        step: Any
        if answer is not None:
            pending[i] = None
            step = live[i].after(answer, now)
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
                second = min(int(now - T0), len(per_second) - 1)
                per_second[second] += 1
                arrives = now + latency
                response = server.outcome(arrives)
                if type(response) is not Response or response.status != 200:
                    rejected += 1
                    if server.down(arrives):
                        while_down += 1
                        down_ps[second] += 1
                    else:
                        refused_ps[second] += 1
                pending[i] = response
                heapq.heappush(events, (now + 2 * latency, seq, i))
                seq += 1
                continue
        if type(step) is Wait:
            heapq.heappush(events, (now + step.seconds, seq, i))
            seq += 1
            continue
        assert type(step) is Done
        circuit = circuit_of(live[i])
        sent_none = not live[i].attempts
        live[i] = None
        calls += 1
        if circuit is not None:
            # Ended by the circuit (CircuitOpenError): the application issues the call
            # again when its retry_after says the circuit lets a probe through.
            failed_fast += sent_none  # refused before sending anything
            gave_up += 1
            heapq.heappush(events, (now + max(circuit[1], _FAST_AGAIN_S), seq, i))
            seq += 1
            continue
        if step.gave_up:
            gave_up += 1
            pause = min(REISSUE_S * 2.0 ** streak[i], REISSUE_MAX_S)
            streak[i] += 1
            heapq.heappush(events, (now + pause, seq, i))
            seq += 1
            continue
        streak[i] = 0
        if now >= back and served_again[i] == math.inf:
            served_again[i] = now
        left[i] -= 1
        if left[i]:
            heapq.heappush(events, (now, seq, i))
            seq += 1
        else:
            finished[i] = now - T0
    done = sum(1 for f in finished if f != math.inf)
    ranked = sorted(finished)
    recover: float | None = None
    if outage is not None and back <= end:
        # every client that still had work when the server came back, served again
        waiting = [served_again[k] for k in range(clients) if finished[k] >= outage[1]]
        recover = max(waiting) - back if waiting else 0.0
    shown = math.ceil(min(ranked[-1], horizon)) + 1
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
        per_second=tuple(per_second[:shown]),
        refused_per_second=tuple(refused_ps[:shown]),
        down_per_second=tuple(down_ps[:shown]),
        while_down=while_down,
        recover=recover,
        failed_fast=failed_fast,
    )


#: The least pause before a call the circuit ended is issued again (its ``retry_after``
#: is 0 when the probes' answers were due already).
_FAST_AGAIN_S: Final = 0.05


def _percentile(ranked: list[float], q: float) -> float:
    """The nearest-rank percentile of a sorted list (``inf`` entries are unfinished)."""
    k = max(0, math.ceil(q * len(ranked)) - 1)
    return ranked[k]
