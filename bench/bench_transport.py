"""Fetches per second on loopback for a 503, 503, 200 endpoint, several retry layers.

Plain script (not a test): ``python bench/bench_transport.py [ITERATIONS]``.

Every client makes the same fetches against the same threaded server on 127.0.0.1, whose
``/flaky`` path cycles 503, 503, 200; each fetch therefore takes three requests, two of
them retried with a zero delay (``backoff(3,0s)`` for the policy clients, an injected
no-op sleep; ``backoff_factor=0`` for the others), so what is measured is the per-attempt
overhead of each retry layer on top of the same HTTP/1.1 keep-alive connection.

Rounds are interleaved (one batch of each client per round, in a shuffled order, after a
garbage collection) and the median of the rounds
is reported, with ratios against urllib3's own ``Retry`` loop (SPEC §5: ``RetryingPool``
≥ 0.95×), ``requests`` and ``httpx-retries`` (≥ 1.2×).
"""

from __future__ import annotations

import gc
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import urllib3
from urllib3.util import Retry

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import policy
import transport

POLICY = "503:backoff(3,0s)"
ROUNDS = 15

# The server runs in its own process, so its threads do not compete with the clients
# for the GIL (in-process, GIL hand-offs dominate and the numbers are noise).
SERVER = """
import sys
sys.path.insert(0, sys.argv[1])
from httpserver import LoopbackServer, Reply
with LoopbackServer() as s:
    s.route("/flaky", Reply(503), Reply(503), Reply(200, body=b"ok"), cycle=True)
    print(s.port, flush=True)
    sys.stdin.read()
"""


def _noop(_seconds: float) -> None:
    return None


def clients(url: str, path: str) -> tuple[dict[str, Callable[[], Any]], list[Callable[[], None]]]:
    """name -> one fetch (which must end in a 200); plus the closers."""
    out: dict[str, Callable[[], Any]] = {}
    closers: list[Callable[[], None]] = []
    p = policy.parse(POLICY)

    rp = transport.RetryingPool(p, sleep=_noop)
    closers.append(rp.close)
    out["RetryingPool"] = lambda: rp.request("GET", url)

    pm_own = urllib3.PoolManager()
    closers.append(pm_own.clear)
    cp_own = pm_own.connection_from_url(url)
    own_retry = Retry(total=3, status_forcelist=[503], backoff_factor=0)
    out["urllib3 Retry (pool.urlopen)"] = lambda: cp_own.urlopen("GET", path, retries=own_retry)

    pm_pr = urllib3.PoolManager()
    closers.append(pm_pr.clear)
    cp_pr = pm_pr.connection_from_url(url)
    pr = transport.PolicyRetry(p, sleep=_noop)
    out["PolicyRetry (pool.urlopen)"] = lambda: cp_pr.urlopen("GET", path, retries=pr)

    pm_hand = urllib3.PoolManager()
    closers.append(pm_hand.clear)
    cp_hand = pm_hand.connection_from_url(url)

    def hand() -> Any:
        for _ in range(4):
            r = cp_hand.urlopen("GET", path, retries=False, redirect=False)
            if r.status != 503:
                return r
        return r

    out["hand-written urllib3 loop"] = hand

    try:
        import requests
        from requests.adapters import HTTPAdapter
    except ImportError:
        print("requests: not installed")
    else:
        s1 = requests.Session()
        s1.mount("http://", HTTPAdapter(max_retries=Retry(total=3, status_forcelist=[503])))
        closers.append(s1.close)
        out["requests + HTTPAdapter(Retry)"] = lambda: s1.get(url)
        s2 = requests.Session()
        s2.mount("http://", HTTPAdapter(max_retries=transport.PolicyRetry(p, sleep=_noop)))
        closers.append(s2.close)
        out["requests + PolicyRetry"] = lambda: s2.get(url)

    try:
        import httpx
        from httpx_retries import Retry as HRetry
        from httpx_retries import RetryTransport
    except ImportError:
        print("httpx-retries: not installed")
    else:
        hr = HRetry(total=3, backoff_factor=0, status_forcelist=[503])
        hc = httpx.Client(transport=RetryTransport(retry=hr))
        closers.append(hc.close)
        out["httpx-retries"] = lambda: hc.get(url)
    return out, closers


def main(iterations: int = 300) -> dict[str, float]:
    """Run the comparison; print a table; return fetches/s (median) per client."""
    tests = str(Path(__file__).resolve().parents[1] / "tests")
    with subprocess.Popen(
        [sys.executable, "-c", SERVER, tests], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    ) as server:
        assert server.stdout is not None and server.stdin is not None
        port = int(server.stdout.readline())
        path = "/flaky"
        url = f"http://127.0.0.1:{port}{path}"
        fetchers, closers = clients(url, path)
        rates: dict[str, list[float]] = {name: [] for name in fetchers}
        try:
            for fetch in fetchers.values():  # warm up connections and caches
                for _ in range(5):
                    r = fetch()
                    status = getattr(r, "status", None) or getattr(r, "status_code", None)
                    assert status == 200, (fetch, status)
            order = list(fetchers.items())
            shuffle = random.Random(13).shuffle
            for _ in range(ROUNDS):
                shuffle(order)  # no client always runs first, or right after the same one
                for name, fetch in order:
                    gc.collect()
                    t0 = time.perf_counter()
                    for _ in range(iterations):
                        fetch()
                    rates[name].append(iterations / (time.perf_counter() - t0))
        finally:
            for close in closers:
                close()
            server.stdin.close()
            server.wait(10)
    med = {name: statistics.median(r) for name, r in rates.items()}
    best = {name: max(r) for name, r in rates.items()}
    base = med["urllib3 Retry (pool.urlopen)"]
    bbase = best["urllib3 Retry (pool.urlopen)"]
    print(f"503,503,200 on loopback; {iterations} fetches x {ROUNDS} interleaved rounds")
    print(f"{'client':34} {'median/s':>9} {'ratio':>6} {'best/s':>8} {'ratio':>6}")
    for name, rate in med.items():
        b = best[name]
        print(f"{name:34} {rate:9.0f} {rate / base:5.2f}x {b:8.0f} {b / bbase:5.2f}x")
    rp = med["RetryingPool"]
    for other in (
        "urllib3 Retry (pool.urlopen)",
        "hand-written urllib3 loop",
        "requests + HTTPAdapter(Retry)",
        "httpx-retries",
    ):
        if other in med:
            ratio_best = best["RetryingPool"] / best[other]
            print(f"RetryingPool / {other}: {rp / med[other]:.2f}x (best: {ratio_best:.2f}x)")
    return med


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
