"""Every client adapter against its peers: loopback 503, 503, 200, and callables.

Plain script (not a test): ``python bench/bench_clients.py [ITERATIONS]``.

The server runs in its own process (as in ``bench_transport.py``) and its ``/flaky`` path
cycles 503, 503, 200, so one fetch is three requests over one keep-alive connection with
zero-delay retries (``503:backoff(3,0s)``; ``backoff_factor=0`` for httpx-retries; the
hand-written loops retry at once).  Each round times one batch of every client, rounds
are interleaved, and the median of the rounds is reported with the ratios the bars name:

* httpx ``RetryTransport`` / ``AsyncRetryTransport`` vs httpx-retries (sync / async) and
  vs a hand-written httpx loop (sync / async);
* ``aiohttp_middleware`` vs a hand-written aiohttp loop;
* ``retrying`` vs tenacity, µs per attempt of a function that raises twice, then returns
  (no sleep: a 0 s wait for ``retrying``, ``wait_none`` and a no-op sleep for tenacity).

Async clients run their batch inside one ``asyncio.run`` per round.  Besides wall-clock
fetches/s (median and best round) it reports fetches per CPU-second of the client
process: on a shared, loaded machine the wall clock mostly measures the neighbours, the
client's CPU time what each retry layer costs.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import transport

POLICY = "503:backoff(3,0s)"
ROUNDS = 11

SERVER = """
import sys
sys.path.insert(0, sys.argv[1])
from httpserver import LoopbackServer, Reply
with LoopbackServer() as s:
    s.route("/flaky", Reply(503), Reply(503), Reply(200, body=b"ok"), cycle=True)
    print(s.port, flush=True)
    sys.stdin.read()
"""


def _sync_clients(url: str) -> tuple[dict[str, Callable[[], int]], list[Callable[[], None]]]:
    import httpx
    from httpx_retries import Retry as HRetry
    from httpx_retries import RetryTransport as HRetryTransport

    out: dict[str, Callable[[], int]] = {}
    closers: list[Callable[[], None]] = []

    ours = httpx.Client(transport=transport.RetryTransport(POLICY))
    closers.append(ours.close)
    out["httpx RetryTransport"] = lambda: ours.get(url).status_code

    peer = httpx.Client(
        transport=HRetryTransport(retry=HRetry(total=3, backoff_factor=0, status_forcelist=[503]))
    )
    closers.append(peer.close)
    out["httpx-retries (sync)"] = lambda: peer.get(url).status_code

    plain = httpx.Client()
    closers.append(plain.close)

    def hand() -> int:
        for _ in range(4):
            r = plain.get(url)
            if r.status_code != 503:
                break
        return r.status_code

    out["hand-written httpx loop"] = hand
    return out, closers


def _async_clients(url: str) -> dict[str, Callable[[int], Awaitable[None]]]:
    """name -> a coroutine function making ``n`` fetches with a client of its own."""
    import aiohttp
    import httpx
    from httpx_retries import Retry as HRetry
    from httpx_retries import RetryTransport as HRetryTransport

    async def ours(n: int) -> None:
        async with httpx.AsyncClient(transport=transport.AsyncRetryTransport(POLICY)) as c:
            for _ in range(n):
                assert (await c.get(url)).status_code == 200

    async def peer(n: int) -> None:
        retry = HRetry(total=3, backoff_factor=0, status_forcelist=[503])
        async with httpx.AsyncClient(transport=HRetryTransport(retry=retry)) as c:
            for _ in range(n):
                assert (await c.get(url)).status_code == 200

    async def hand(n: int) -> None:
        async with httpx.AsyncClient() as c:
            for _ in range(n):
                for _ in range(4):
                    r = await c.get(url)
                    if r.status_code != 503:
                        break
                assert r.status_code == 200

    async def middleware(n: int) -> None:
        mw = transport.aiohttp_middleware(POLICY)
        async with aiohttp.ClientSession(middlewares=[mw]) as s:
            for _ in range(n):
                async with s.get(url) as r:
                    await r.read()
                    assert r.status == 200

    async def aio_hand(n: int) -> None:
        async with aiohttp.ClientSession() as s:
            for _ in range(n):
                for _ in range(4):
                    async with s.get(url) as r:
                        await r.read()
                        status = r.status
                    if status != 503:
                        break
                assert status == 200

    return {
        "httpx AsyncRetryTransport": ours,
        "httpx-retries (async)": peer,
        "hand-written httpx async loop": hand,
        "aiohttp_middleware": middleware,
        "hand-written aiohttp loop": aio_hand,
    }


def _callables() -> dict[str, Callable[[], Any]]:
    """name -> one call of three attempts (raises twice, then returns)."""
    import tenacity

    class Flaky(Exception):
        pass

    def flaky() -> Callable[[], int]:
        n = [0]

        def call() -> int:
            n[0] += 1
            if n[0] % 3:
                raise Flaky
            return 200

        return call

    f1 = flaky()

    @transport.retrying("error:backoff(3,0s)", on=Flaky)
    def ours() -> int:
        return f1()

    f2 = flaky()

    @tenacity.retry(
        stop=tenacity.stop_after_attempt(3),
        wait=tenacity.wait_none(),
        retry=tenacity.retry_if_exception_type(Flaky),
        sleep=lambda _s: None,
    )
    def theirs() -> int:
        return f2()

    return {"retrying": ours, "tenacity": theirs}


def _batch(fetch: Callable[[], int], n: int) -> None:
    for _ in range(n):
        fetch()


def _abatch(run: Callable[[int], Awaitable[None]], n: int) -> None:
    asyncio.run(run(n))  # type: ignore[arg-type]


def main(iterations: int = 200) -> dict[str, float]:
    """Run every comparison; print the tables; return fetches/s (or µs/attempt) by name."""
    tests = str(Path(__file__).resolve().parents[1] / "tests")
    rates: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}  # fetches per CPU-second of this (client) process
    with subprocess.Popen(
        [sys.executable, "-c", SERVER, tests], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    ) as server:
        assert server.stdout is not None and server.stdin is not None
        url = f"http://127.0.0.1:{int(server.stdout.readline())}/flaky"
        sync, closers = _sync_clients(url)
        asyncs = _async_clients(url)
        try:
            for fetch in sync.values():
                for _ in range(5):
                    assert fetch() == 200
            for warm in asyncs.values():
                asyncio.run(warm(5))
            order: list[tuple[str, Callable[[], Any]]] = []
            for name, fetch in sync.items():
                order.append((name, functools.partial(_batch, fetch, iterations)))
            for name, arun in asyncs.items():
                order.append((name, functools.partial(_abatch, arun, iterations)))
            shuffle = random.Random(13).shuffle
            for _ in range(ROUNDS):
                shuffle(order)  # no client always runs right after the same other one
                for name, batch in order:
                    gc.collect()
                    t0, c0 = time.perf_counter(), time.process_time()
                    batch()
                    rates.setdefault(name, []).append(iterations / (time.perf_counter() - t0))
                    cpu.setdefault(name, []).append(iterations / (time.process_time() - c0))
        finally:
            for close in closers:
                close()
            server.stdin.close()
            server.wait(10)
    calls = _callables()
    per_attempt: dict[str, list[float]] = {}
    n = iterations * 50
    for _ in range(ROUNDS):
        for name, call in calls.items():
            t0 = time.perf_counter()
            for _ in range(n):
                call()
            per_attempt.setdefault(name, []).append((time.perf_counter() - t0) / (3 * n) * 1e6)

    med = {name: statistics.median(r) for name, r in rates.items()}
    best = {name: max(r) for name, r in rates.items()}
    cmed = {name: statistics.median(r) for name, r in cpu.items()}
    us = {name: statistics.median(r) for name, r in per_attempt.items()}
    us_best = {name: min(r) for name, r in per_attempt.items()}
    print(f"503,503,200 on loopback; {iterations} fetches x {ROUNDS} interleaved rounds")
    print()
    print("| client | fetches/s (median) | best round | fetches per client CPU-second |")
    print("|---|---|---|---|")
    for name, rate in med.items():
        print(f"| {name} | {rate:.0f} | {best[name]:.0f} | {cmed[name]:.0f} |")
    bars = [
        ("httpx RetryTransport", "httpx-retries (sync)", 1.2),
        ("httpx RetryTransport", "hand-written httpx loop", 0.95),
        ("httpx AsyncRetryTransport", "httpx-retries (async)", 1.2),
        ("httpx AsyncRetryTransport", "hand-written httpx async loop", 0.95),
        ("aiohttp_middleware", "hand-written aiohttp loop", 0.95),
    ]
    out: dict[str, float] = dict(med)
    print()
    print("| bar | wall clock, median | best rounds | client CPU, median |")
    print("|---|---|---|---|")
    for ours, theirs, bar in bars:
        r = med[ours] / med[theirs]
        rb = best[ours] / best[theirs]
        rc = cmed[ours] / cmed[theirs]
        out[f"{ours} / {theirs}"] = r
        out[f"{ours} / {theirs} (CPU)"] = rc
        print(
            f"| `{ours}` ≥ {bar}× {theirs} | {med[ours]:.0f} / {med[theirs]:.0f} = {r:.2f}× "
            f"| {best[ours]:.0f} / {best[theirs]:.0f} = {rb:.2f}× "
            f"| {cmed[ours]:.0f} / {cmed[theirs]:.0f} = {rc:.2f}× |"
        )
    r = us["retrying"] / us["tenacity"]
    rb = us_best["retrying"] / us_best["tenacity"]
    out.update({f"{k} µs/attempt": v for k, v in us.items()})
    out["retrying / tenacity"] = r
    print(
        f"| `retrying` ≤ ⅕ of tenacity per attempt | {us['retrying']:.2f} / "
        f"{us['tenacity']:.2f} µs = {r:.2f} | {us_best['retrying']:.2f} / "
        f"{us_best['tenacity']:.2f} µs = {rb:.2f} | (CPU-bound: same) |"
    )
    return out


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
