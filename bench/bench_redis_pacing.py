"""Shared pacing through Redis vs per-process pacing: 429s from a 5/s limiter, 4 processes x 25.

Plain script (not a test): ``python bench/bench_redis_pacing.py [--processes 4] [--requests 25]``.

A loopback server limits every client together to 5 requests per fixed 1-second window,
with Flask-Limiter's headers (``X-RateLimit-Limit``/``-Remaining``/``-Reset``, an epoch
time) on every answer, and a 429 with ``Retry-After`` past the limit.  Four processes
each make 25 requests (each retried on 429 until it gets its 200) with pacing on: an
answer with ``X-RateLimit-Remaining: 0`` (or a 429's ``Retry-After``) holds the origin
until the reset, and every request waits out a hold first.  Run twice: each process
with its own local state, then all four sharing one ``transport.RedisState`` on a real
``redis-server``.  Reported: the 429s the server gave and the wall time of each run.

Pacing is switched on through the tests' stand-in policy (``tests/paced.py``: holds from
the ``X-RateLimit-*`` headers and ``Retry-After``) until ``pace=on`` is spelled in the
language; the adapter, ``Call`` and the states are the real ones.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
sys.path.insert(0, str(TESTS))
sys.path.insert(0, str(ROOT))

from httpserver import LoopbackServer, Reply, Request  # noqa: E402
from redis_server import RedisServer  # noqa: E402

CLIENT = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
import transport
from paced import paced
state = transport.RedisState(sys.argv[2], prefix=sys.argv[3]) if sys.argv[3] else None
start_at, n, url = float(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
p = paced("429:headers(x-ratelimit-*,format=epoch,limit=100,max=30s)")
with transport.RetryingPool(p, state=state) as pool:
    time.sleep(max(0.0, start_at - time.time()))
    for _ in range(n):
        assert pool.request("GET", url).status == 200
"""


class Limiter:
    """A fixed-window limiter: ``limit`` requests per 1-second window, 429 past it."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.lock = threading.Lock()
        self.window = -1
        self.count = 0
        self.rejected = 0
        self.accepted = 0

    def __call__(self, req: Request) -> Reply:
        now = time.time()
        with self.lock:
            w = math.floor(now)
            if w != self.window:
                self.window, self.count = w, 0
            self.count += 1
            left = max(0, self.limit - self.count)
            headers = {
                "X-RateLimit-Limit": str(self.limit),
                "X-RateLimit-Remaining": str(left),
                "X-RateLimit-Reset": str(w + 1),
            }
            if self.count > self.limit:
                self.rejected += 1
                headers["Retry-After"] = str(max(1, math.ceil(w + 1 - now)))
                return Reply(429, headers=headers)
            self.accepted += 1
            return Reply(200, body=b"ok", headers=headers)


def run(shared: bool, redis_url: str, processes: int, requests: int) -> tuple[int, int, float]:
    limiter = Limiter(5)
    with LoopbackServer() as server:
        url = server.route("/limited", limiter)
        prefix = f"pace{uuid.uuid4().hex[:6]}:" if shared else ""
        start_at = time.time() + 1.5  # all processes start together, after their imports
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    CLIENT,
                    str(TESTS),
                    redis_url,
                    prefix,
                    repr(start_at),
                    str(requests),
                    url,
                ],
                cwd=ROOT,
            )
            for _ in range(processes)
        ]
        for p in procs:
            if p.wait(timeout=300) != 0:
                raise SystemExit("a client process failed")
        elapsed = time.time() - start_at
    return limiter.rejected, limiter.accepted, elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--processes", type=int, default=4)
    ap.add_argument("--requests", type=int, default=25)
    args = ap.parse_args()
    with RedisServer() as rs:
        local = run(False, rs.url, args.processes, args.requests)
        shared = run(True, rs.url, args.processes, args.requests)
    print(f"{args.processes} processes x {args.requests} requests, limiter 5/s (fixed window)")
    print(f"  {'state':<28} {'429s':>6} {'200s':>6} {'wall':>7}")
    for name, (rejected, accepted, wall) in (
        ("LocalState per process", local),
        ("one RedisState", shared),
    ):
        print(f"  {name:<28} {rejected:>6} {accepted:>6} {wall:>6.1f}s")
    ratio = shared[0] / local[0] if local[0] else float("nan")
    print(f"  429s shared / local: {ratio:.2f} (bar: <= 0.33)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
