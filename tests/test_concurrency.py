"""Concurrency: many threads through one ``RetryingPool`` and one ``BackgroundFetcher``.

``THREADS`` threads each make ``FETCHES`` calls, every one to its own path, against a
loopback server that fails a fraction of first requests (a 503 for one path in five, a
TCP reset for one in ten; the retry always succeeds).  Then:

* nothing lost or duplicated: every call returns its own path's body, and the server saw
  each path exactly once, or exactly twice when its first request was failed;
* nothing leaked: every connection slot is back in urllib3's pool queue, the pool opened
  at most one connection per thread plus one per reset (a broken connection is discarded,
  not reused), and its request count equals what the server received;
* ``decide`` shared safely: one ``Policy`` decides for every thread, and many threads
  deciding on it at once get exactly the decisions one thread gets.

``FETCHES`` defaults to 125 so that CI stays within seconds; the full 16 × 500 run of
``docs/reliability.md`` is ``RELIABILITY_FETCHES=500 pytest tests/test_concurrency.py``.
"""

from __future__ import annotations

import os
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
import urllib3
from httpserver import LoopbackServer, Reply, Request

import policy
import transport

THREADS = 16
FETCHES = int(os.environ.get("RELIABILITY_FETCHES", "125"))

POLICY = "503,reset:backoff(3,1ms)"


def _first_fails(i: int) -> str | None:
    """How the first request to call number ``i`` fails: ``503``, ``reset`` or not at all."""
    if i % 10 == 1:
        return "reset"
    if i % 5 == 0:
        return "503"
    return None


class FlakyServer:
    """A loopback server whose path ``/k/<thread>/<i>`` fails its first request as scripted."""

    def __init__(self, server: LoopbackServer) -> None:
        self.server = server
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def reply(self, req: Request) -> Reply:
        with self._lock:
            self.counts[req.path] += 1
            first = req.path not in self._seen
            self._seen.add(req.path)
        i = int(req.path.rsplit("/", 1)[1])
        fail = _first_fails(i) if first else None
        if fail == "reset":
            return Reply(reset=True)
        if fail == "503":
            return Reply(503, body=b"busy")
        return Reply(200, body=req.path.encode(), headers={"Content-Type": "text/plain"})


@pytest.fixture
def flaky() -> Iterator[FlakyServer]:
    with LoopbackServer() as server:
        f = FlakyServer(server)
        orig = server._next_reply

        def next_reply(req: Request) -> Reply:
            orig(req)  # keeps the server's own log
            return f.reply(req)

        server._next_reply = next_reply  # type: ignore[method-assign]
        yield f


def _run_threads(work: Callable[[int], None]) -> None:
    errors: list[BaseException] = []

    def run(t: int) -> None:
        try:
            work(t)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=run, args=(t,)) for t in range(THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []


def _expected_counts() -> Counter[str]:
    return Counter(
        {f"/k/{t}/{i}": 2 if _first_fails(i) else 1 for t in range(THREADS) for i in range(FETCHES)}
    )


def _host_pool(pm: urllib3.PoolManager, server: LoopbackServer) -> urllib3.HTTPConnectionPool:
    return pm.connection_from_host(server.host, server.port, "http")


def test_one_retrying_pool_many_threads(flaky: FlakyServer) -> None:
    """16 threads through one RetryingPool: no lost, duplicated or crossed result, no leak."""
    pm = urllib3.PoolManager(maxsize=THREADS)
    retried: list[transport.Attempt] = []
    lock = threading.Lock()

    def on_retry(a: transport.Attempt) -> None:
        with lock:
            retried.append(a)

    results: dict[str, bytes] = {}
    with transport.RetryingPool(policy.parse(POLICY), pool=pm, on_retry=on_retry) as rp:

        def work(t: int) -> None:
            for i in range(FETCHES):
                path = f"/k/{t}/{i}"
                resp = rp.request("GET", flaky.server.url(path))
                assert resp.status == 200
                with lock:
                    assert path not in results
                    results[path] = resp.data

        _run_threads(work)
    expected = _expected_counts()
    assert results == {p: p.encode() for p in expected}
    assert flaky.counts == expected
    resets = sum(1 for i in range(FETCHES) if _first_fails(i) == "reset") * THREADS
    assert Counter(a.label for a in retried) == {
        "503": sum(1 for i in range(FETCHES) if _first_fails(i) == "503") * THREADS,
        "reset": resets,
    }
    cp = _host_pool(pm, flaky.server)
    assert cp.pool is not None and cp.pool.qsize() == cp.pool.maxsize
    assert cp.num_connections <= THREADS + resets
    assert cp.num_requests == sum(expected.values())
    pm.clear()


def test_one_background_fetcher_many_threads(flaky: FlakyServer) -> None:
    """16 threads through one BackgroundFetcher, with shared keys: each request made once."""
    pm = urllib3.PoolManager(maxsize=8)
    shared = [f"/k/shared/{i}" for i in range(FETCHES // 10)]
    with transport.BackgroundFetcher(max_workers=8, pool=pm) as fetcher:
        futures: dict[str, list[object]] = {}
        lock = threading.Lock()

        def work(t: int) -> None:
            mine = [f"/k/{t}/{i}" for i in range(FETCHES)] + shared
            random.Random(t).shuffle(mine)
            for path in mine:
                f = fetcher.fetch_response(path, flaky.server.url(path), retry=POLICY)
                with lock:
                    futures.setdefault(path, []).append(f)

        _run_threads(work)
        for path, fs in futures.items():
            for f in fs:
                status, _, _ = f.result(timeout=60)  # type: ignore[attr-defined]
                assert status == 200
                assert fetcher.store.get(path).body == path.encode()  # type: ignore[union-attr]
    expected = _expected_counts()
    expected.update({p: 2 if _first_fails(int(p.rsplit("/", 1)[1])) else 1 for p in shared})
    assert flaky.counts == expected
    assert {p: len(fs) for p, fs in futures.items() if p in shared} == {p: THREADS for p in shared}
    cp = _host_pool(pm, flaky.server)
    assert cp.pool is not None and cp.pool.qsize() == cp.pool.maxsize
    assert cp.num_requests == sum(expected.values())
    pm.clear()


def test_decide_shared_by_threads_matches_one_thread() -> None:
    """Many threads deciding on one Policy get exactly the decisions one thread gets."""
    p = policy.parse(
        "429:headers(x-ratelimit-*)|backoff(4,10ms..1s,x2,jitter) "
        "5xx:backoff(6,1ms..100ms,jitter=decorrelated) reset:backoff(2,5ms) deadline=1h"
    )
    outcomes: list[policy.Response | policy.ConnectionReset] = [
        policy.Response(503),
        policy.Response(429, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "2"}),
        policy.Response(429, {"x-ratelimit-remaining": "3"}),
        policy.ConnectionReset(),
        policy.Response(500),
    ]

    def run(seed: int) -> list[object]:
        rng = random.Random(seed)
        out: list[object] = []
        for _ in range(100):
            state = p.start(now=1_700_000_000.0)
            now = state.start
            for k in range(12):
                d = p.decide(
                    state, outcomes[(seed + k) % 5], now=now, rand=rng.random, method="GET"
                )
                out.append(d)
                if not isinstance(d, policy.Retry):
                    break
                state, now = d.state, now + d.delay
        return out

    serial = [run(s) for s in range(THREADS)]
    parallel: list[list[object]] = [[] for _ in range(THREADS)]

    def work(t: int) -> None:
        parallel[t] = run(t)

    _run_threads(work)
    assert parallel == serial
