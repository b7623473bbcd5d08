"""A randomized async pacing soak: no lost wake-up, no hold outliving its reset.

``AsyncRetryTransport`` (httpx) with ``pace=on``: 8 tasks share one transport (one pacing
state) against a fixed-window limiter on 127.0.0.1 that speaks only ``X-RateLimit-*``
headers (no ``Retry-After``), with a random quota per window and random pauses between
requests.  Every request must end as a 200, no stretch of more than ``STALL_S`` may pass
without one while requests are outstanding, and the whole soak runs under a watchdog.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import random
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from httpserver import LoopbackServer, Reply, Request

import transport.httpx as thx

TASKS = 8
PER_TASK = 4 * int(os.environ.get("RP_SOAK_ROUNDS", "1"))
"""Requests per task; ``RP_SOAK_ROUNDS=50`` makes the long soak (about 50 times as long)."""
WINDOW_S = 1.0
STALL_S = 3 * WINDOW_S
"""Longer than this without an accepted request, with requests waiting, is a stall."""
WATCHDOG_S = 60.0 * int(os.environ.get("RP_SOAK_ROUNDS", "1"))


class Limiter:
    """A fixed window of ``quota`` requests per ``WINDOW_S``; the answer's times logged."""

    def __init__(self, quota: int) -> None:
        self.quota = quota
        self.lock = threading.Lock()
        self.window = -1
        self.used = 0
        self.accepted: list[float] = []
        self.refused = 0

    def __call__(self, req: Request) -> Reply:
        now = time.monotonic()
        with self.lock:
            w = math.floor(now / WINDOW_S)
            if w != self.window:
                self.window, self.used = w, 0
            reset = max(1, math.ceil((w + 1) * WINDOW_S - now))
            if self.used < self.quota:
                self.used += 1
                self.accepted.append(now)
                status, left = 200, self.quota - self.used
            else:
                self.refused += 1
                status, left = 429, 0
        headers = {
            "X-RateLimit-Limit": str(self.quota),
            "X-RateLimit-Remaining": str(left),
            "X-RateLimit-Reset": str(reset),
        }
        return Reply(status, headers=headers, body=b"ok" if status == 200 else b"")


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    s = LoopbackServer().start()
    yield s
    s.close()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_async_pacing_soak_never_stalls(server: LoopbackServer, seed: int) -> None:
    rng = random.Random(seed)
    limiter = Limiter(quota=rng.randint(3, 7))
    url = server.route("/", limiter, cycle=True)
    pauses = [[rng.uniform(0, 0.3) for _ in range(PER_TASK)] for _ in range(TASKS)]
    p = "429:headers(x-ratelimit-*) 5xx:backoff(3,10ms..50ms) pace=on deadline=30s"

    async def worker(client: httpx.AsyncClient, mine: list[float]) -> list[int]:
        statuses = []
        for pause in mine:
            await asyncio.sleep(pause)
            r = await client.get(url)
            statuses.append(r.status_code)
        return statuses

    async def soak() -> list[list[int]]:
        async with httpx.AsyncClient(transport=thx.AsyncRetryTransport(p)) as client:
            jobs = [worker(client, pauses[i]) for i in range(TASKS)]
            return await asyncio.wait_for(asyncio.gather(*jobs), WATCHDOG_S)

    t0 = time.monotonic()
    results = asyncio.run(soak())
    elapsed = time.monotonic() - t0
    assert [s for r in results for s in r] == [200] * (TASKS * PER_TASK)
    times = [t0, *sorted(limiter.accepted)]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert max(gaps) <= STALL_S, (max(gaps), limiter.quota)
    # every window is used: the soak takes about requests / quota windows, not more
    windows = TASKS * PER_TASK / limiter.quota
    assert elapsed <= (windows + 2) * WINDOW_S + STALL_S, (elapsed, limiter.quota)
