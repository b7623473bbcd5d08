"""The 0.3 resilience bars, in one run: adaptive pacing against a limiter that sends no
rate-limit headers, and the circuit breaker through a server outage (simulated fleet).

Plain script::

    python bench/bench_resilience_fleet.py [--rounds 3] [--quick]

1. **Adaptive pacing** -- Flask-Limiter at 5/s (fixed window, its headers disabled: bare
   429s) in its own process; 3 threads × 25 requests, each until it gets its 200.
   Clients: urllib3 ``Retry(total=50, status_forcelist=[429], backoff_factor=0.1,
   backoff_jitter=0.1, backoff_max=5)`` and ``RetryingPool`` with ``ADAPTIVE``.  Rounds
   interleave the clients (a fresh limiter each run); medians (bar: 429s ≤ ⅓ of
   urllib3's, wall ≤ 1.3×).
2. **Breaker through an outage** -- ``simulate_fleet``: 100 clients × 100 successes each,
   capacity 100/s, the server down from 60 s to 120 s of 300 (503s, or refused
   connections with ``refuse``); ``OUTAGE`` with and without ``breaker=25/open=30s`` shared
   by the fleet (bar: requests while down ≤ 1/10, every client served again ≤ open + 2 s).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import urllib3  # noqa: E402
from urllib3.util import Retry  # noqa: E402

import policy  # noqa: E402
import transport  # noqa: E402
from policy.fleet._simulate import simulate_fleet  # noqa: E402

ADAPTIVE = "429:backoff(50,100ms..5s,x2,jitter) pace=adaptive"
OUTAGE = "5xx,connect:backoff(10,500ms..5s,x2,jitter) 429:headers()|backoff(10,jitter) pace=on"

LIMITER = """
import json, sys
sys.path.insert(0, sys.argv[1])
from limited_server import LimitedServer
with LimitedServer("5 per second", headers=False) as s:
    print(s.url, flush=True)
    sys.stdin.read()
print(json.dumps({str(k): v for k, v in s.counts.items()}), flush=True)
"""


def _limited(run: Callable[[str, int], None], per: int) -> tuple[int, float]:
    """``run(url, per)`` against a fresh header-less limiter: (429s, wall seconds)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", LIMITER, str(ROOT / "tests")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        url = proc.stdout.readline().strip()
        started = time.perf_counter()
        run(url, per)
        wall = time.perf_counter() - started
        proc.stdin.close()
        counts = json.loads(proc.stdout.readline())
    finally:
        proc.wait(30)
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()
    assert counts.get("200") == 3 * per, counts
    return int(counts.get("429", 0)), wall


def _threads(target: Callable[[], None]) -> None:
    threads = [threading.Thread(target=target) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)


def _urllib3(url: str, per: int) -> None:
    retry = Retry(
        total=50, status_forcelist=[429], backoff_factor=0.1, backoff_jitter=0.1, backoff_max=5
    )
    with urllib3.PoolManager(retries=retry, maxsize=3) as pm:

        def work() -> None:
            for _ in range(per):
                assert pm.request("GET", url).status == 200

        _threads(work)


def _adaptive(url: str, per: int) -> None:
    with transport.RetryingPool(policy.parse(ADAPTIVE)) as pool:

        def work() -> None:
            for _ in range(per):
                assert pool.request("GET", url).status == 200

        _threads(work)


def bench_adaptive(rounds: int = 3, per: int = 25) -> dict[str, Any]:
    clients = {"urllib3 Retry": _urllib3, "pace=adaptive": _adaptive}
    seen: dict[str, list[tuple[int, float]]] = {k: [] for k in clients}
    for _ in range(rounds):
        for name, run in clients.items():
            seen[name].append(_limited(run, per))
    out: dict[str, Any] = {}
    for name, runs in seen.items():
        out[name] = {
            "429s": statistics.median(r[0] for r in runs),
            "wall": statistics.median(r[1] for r in runs),
            "runs": runs,
        }
    base, ad = out["urllib3 Retry"], out["pace=adaptive"]
    out["429 ratio"] = ad["429s"] / max(base["429s"], 1)
    out["wall ratio"] = ad["wall"] / base["wall"]
    return out


def bench_outage(clients: int = 100, work: int = 100) -> dict[str, Any]:
    p = policy.parse(OUTAGE)
    b = policy.parse(OUTAGE + " breaker=25/open=30s")
    out: dict[str, Any] = {}
    for refuse in (False, True):
        plain, guarded = simulate_fleet(
            [p, b],
            clients=clients,
            capacity=100,
            work=work,
            horizon=300,
            outage=(60.0, 120.0),
            refuse=refuse,
            seed=1,
        )
        out["refused" if refuse else "503"] = {
            "while down, no breaker": plain.while_down,
            "while down, breaker=25/open=30s": guarded.while_down,
            "ratio": guarded.while_down / max(plain.while_down, 1),
            "recover s, no breaker": plain.recover,
            "recover s, breaker": guarded.recover,
            "done": (plain.done, guarded.done),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    print(f"load average: {os.getloadavg()}")
    print(json.dumps(bench_outage(20, 20) if a.quick else bench_outage(), indent=1))
    adaptive = bench_adaptive(1, 3) if a.quick else bench_adaptive(a.rounds)
    print(json.dumps(adaptive, indent=1))
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
