"""Redis-shared pacing vs per-process pacing: 429s from Flask-Limiter at 5/s, 4 processes x 25.

Plain script (not a test)::

    python bench/bench_redis_pacing.py [--rounds 3] [--processes 4] [--requests 25]

Flask-Limiter at 5 per second (fixed window, one quota for everyone, its headers on) runs
in its own process (``tests/limited_server.py``).  Four client processes each make 25
requests through ``RetryingPool`` with ``429:headers(x-ratelimit-*,1000) pace=on``, each
request until it gets its 200, all starting at the same moment.  Two set-ups take turns
(a fresh limiter each run):

* **local** -- each process paces on its own ``LocalState`` (the default): it learns that
  the quota is spent only from the answers *it* gets;
* **shared** -- the four processes share one ``transport.RedisState`` on a real
  ``redis-server``: one process's ``X-RateLimit-Remaining: 0`` holds them all.

Reported: the medians over the rounds of the 429s the limiter answered and of the wall
time, and the shared/local ratio of 429s (bar: ≤ ⅓).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
sys.path.insert(0, str(TESTS))
sys.path.insert(0, str(ROOT))

from redis_server import RedisServer  # noqa: E402

POLICY = "429:headers(x-ratelimit-*,1000) pace=on"

# The limiter prints its URL, serves until stdin closes, then prints its status counts.
LIMITER = """
import json, sys
sys.path.insert(0, sys.argv[1])
from limited_server import LimitedServer
with LimitedServer("5 per second") as s:
    print(s.url, flush=True)
    sys.stdin.read()
print(json.dumps({str(k): v for k, v in s.counts.items()}), flush=True)
"""

CLIENT = r"""
import sys, time
import transport
redis_url, prefix, start_at, n, url = sys.argv[1:6]
state = transport.RedisState(redis_url, prefix=prefix) if prefix else None
with transport.RetryingPool(sys.argv[6], state=state) as pool:
    time.sleep(max(0.0, float(start_at) - time.time()))
    for _ in range(int(n)):
        assert pool.request("GET", url).status == 200
"""


def run(shared: bool, redis_url: str, processes: int, requests: int) -> tuple[int, float]:
    """One run against a fresh limiter: (429s it answered, wall seconds)."""
    limiter = subprocess.Popen(
        [sys.executable, "-c", LIMITER, str(TESTS)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert limiter.stdout is not None and limiter.stdin is not None
        url = limiter.stdout.readline().strip()
        prefix = f"pace{uuid.uuid4().hex[:6]}:" if shared else ""
        start_at = time.time() + 2.0  # every process starts together, after its imports
        args = [redis_url, prefix, repr(start_at), str(requests), url, POLICY]
        clients = [
            subprocess.Popen([sys.executable, "-c", CLIENT, *args], cwd=ROOT)
            for _ in range(processes)
        ]
        for c in clients:
            if c.wait(timeout=600) != 0:
                raise SystemExit("a client process failed")
        wall = time.time() - start_at
        limiter.stdin.close()
        counts = json.loads(limiter.stdout.readline())
    finally:
        limiter.wait(30)
    assert counts.get("200") == processes * requests, counts
    return int(counts.get("429", 0)), wall


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--processes", type=int, default=4)
    ap.add_argument("--requests", type=int, default=25)
    args = ap.parse_args()
    seen: dict[str, list[tuple[int, float]]] = {"local": [], "shared": []}
    with RedisServer() as rs:
        for _ in range(args.rounds):
            for name in seen:
                seen[name].append(run(name == "shared", rs.url, args.processes, args.requests))
    print(
        f"{args.processes} processes x {args.requests} requests, Flask-Limiter 5/s, "
        f"'{POLICY}', median of {args.rounds} rounds"
    )
    print(f"  {'state':<30} {'429s':>6} {'wall':>7}   rounds (429s)")
    med: dict[str, float] = {}
    for name, label in (("local", "LocalState in each process"), ("shared", "one RedisState")):
        r429 = statistics.median(r[0] for r in seen[name])
        wall = statistics.median(r[1] for r in seen[name])
        med[name] = r429
        rounds = " ".join(str(r[0]) for r in seen[name])
        print(f"  {label:<30} {r429:>6g} {wall:>6.1f}s   {rounds}")
    ratio = med["shared"] / med["local"] if med["local"] else float("nan")
    print(f"  429s shared / local: {ratio:.2f} (bar: <= 0.33)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
