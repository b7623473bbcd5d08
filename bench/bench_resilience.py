"""The circuit breaker's cost per attempt in the sans-IO loop, with ``LocalState`` and
with ``RedisState``.

One attempt = ``Call.before`` + ``Call.after`` on a 200, through one shared state; the
same policy with and without ``breaker=5`` / ``breaker=50%``; the difference is the
breaker's cost (the bar with ``LocalState``: ≤ 1 µs per attempt; with ``RedisState`` it
travels inside the two scripts an attempt already runs, so it is counted in µs of script
time, not in commands).  Plain script: ``python bench/bench_resilience.py`` (``--quick``:
a short run, what the tests do).
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import policy  # noqa: E402
from policy.loop import Call, LocalState  # noqa: E402

N = 50_000
N_REDIS = 3_000
OK = policy.Response(200, ())
BASE = "5xx:backoff(3) budget=20%"


def per_attempt(text: str, n: int = N, make: Callable[[], Any] = LocalState) -> float:
    """The best of five runs of ``n`` attempts, in µs per attempt."""
    p = policy.parse(text)
    rand = lambda: 0.5  # noqa: E731
    best = float("inf")
    for _ in range(5):
        state = make()
        t0 = time.perf_counter()
        now = 1000.0 + time.time()
        for _ in range(n):
            c = Call(p, origin="http://a:80", now=now, state=state, rand=rand)
            c.before(now)
            c.after(OK, now)
            now += 0.001
        best = min(best, (time.perf_counter() - t0) / n)
        close = getattr(state, "close", None)
        if close is not None:
            close()
    return best * 1e6


def _rows(prefix: str, n: int, make: Callable[[], Any]) -> dict[str, float]:
    base = per_attempt(BASE, n, make)
    count = per_attempt(BASE + " breaker=5", n, make)
    ratio = per_attempt(BASE + " breaker=50%", n, make)
    return {
        f"{prefix} µs/attempt without breaker": base,
        f"{prefix} µs/attempt breaker=5": count,
        f"{prefix} µs/attempt breaker=50%": ratio,
        f"{prefix} breaker=5 cost µs": count - base,
        f"{prefix} breaker=50% cost µs": ratio - base,
    }


def main(n: int = N, n_redis: int = N_REDIS) -> dict[str, float]:
    from redis_server import RedisServer

    import transport

    out = _rows("LocalState", n, LocalState)
    with RedisServer() as rs:

        def make() -> Any:
            return transport.RedisState(rs.url, prefix=f"b{uuid.uuid4().hex[:8]}:", timeout=0.5)

        out.update(_rows("RedisState", n_redis, make))
    return out


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    print(f"load average: {os.getloadavg()}")
    for k, v in (main(2000, 200) if quick else main()).items():
        print(f"{k}: {v:.3f}")
