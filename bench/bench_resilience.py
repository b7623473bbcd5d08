"""The circuit breaker's cost per attempt in the sans-IO loop, with ``LocalState``.

One attempt = ``Call.before`` + ``Call.after`` on a 200, through one shared
``LocalState``; the same policy with and without ``breaker=5``; the difference is the
breaker's cost (the bar: ≤ 1 µs per attempt).  Plain script: ``python
bench/bench_resilience.py``.
"""

from __future__ import annotations

import os
import time

import policy
from policy.loop import Call, LocalState

N = 50_000
OK = policy.Response(200, ())


def per_attempt(text: str, n: int = N) -> float:
    p = policy.parse(text)
    rand = lambda: 0.5  # noqa: E731
    best = float("inf")
    for _ in range(5):
        state = LocalState()
        t0 = time.perf_counter()
        now = 1000.0
        for _ in range(n):
            c = Call(p, origin="http://a:80", now=now, state=state, rand=rand)
            c.before(now)
            c.after(OK, now)
            now += 0.001
        best = min(best, (time.perf_counter() - t0) / n)
    return best * 1e6


def main(n: int = N) -> dict[str, float]:
    base = per_attempt("5xx:backoff(3) budget=20%", n)
    breaker = per_attempt("5xx:backoff(3) budget=20% breaker=5", n)
    ratio = per_attempt("5xx:backoff(3) budget=20% breaker=50%", n)
    out = {
        "µs/attempt without breaker": base,
        "µs/attempt breaker=5": breaker,
        "µs/attempt breaker=50%": ratio,
        "breaker=5 cost µs": breaker - base,
        "breaker=50% cost µs": ratio - base,
    }
    return out


if __name__ == "__main__":
    print(f"load average: {os.getloadavg()}")
    for k, v in main().items():
        print(f"{k}: {v:.3f}")
