"""Memory: no growth over many decisions (tracemalloc), and the size of a compiled policy.

``python bench/bench_memory.py [DECISIONS]`` (10⁶ by default).  A warm-up batch runs
first so caches are filled; then tracemalloc measures the memory still allocated after
``DECISIONS`` more decisions, which should be (near) zero.
"""

from __future__ import annotations

import gc
import sys
import tracemalloc
from typing import Any

import policy

EXAMPLE = "429:headers(x-ratelimit-*) 5xx:backoff(5,1s..30s,x1.8,jitter)"


def _deep_size(obj: Any, seen: set[int] | None = None) -> int:
    """Bytes reachable from ``obj`` (objects counted once; modules, types, functions' code
    and globals not followed)."""
    seen = set() if seen is None else seen
    if id(obj) in seen or isinstance(obj, type | type(sys)):
        return 0
    seen.add(id(obj))
    size = sys.getsizeof(obj)
    refs = gc.get_referents(obj)
    if callable(obj) and hasattr(obj, "__code__"):
        refs = [r for r in refs if r is not obj.__globals__ and r is not obj.__code__]
    return size + sum(_deep_size(r, seen) for r in refs)


def main(decisions: int = 1_000_000) -> dict[str, float]:
    """Return the growth in bytes over ``decisions`` decisions and compiled sizes."""
    p = policy.parse(EXAMPLE)
    now = 1_795_867_200.0
    state = p.start(now=now)
    outcomes = [
        policy.Response(503, {}),
        policy.Response(429, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "7"}),
        policy.Response(200, {}),
    ]
    decide = p.decide

    def rand() -> float:
        return 0.5

    def run(n: int) -> None:
        for i in range(n):
            decide(state, outcomes[i % 3], now=now, rand=rand)

    run(min(decisions, 10_000))
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    run(decisions)
    gc.collect()
    after, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    results = {
        "decisions": float(decisions),
        "growth_bytes": float(after - before),
        "peak_bytes": float(peak - before),
        "policy_bytes": float(_deep_size(policy.parse(EXAMPLE + " timeout:never").items)),
        "compiled_bytes": float(_deep_size(p.compiled())),
    }
    for name, value in results.items():
        print(f"  {name:22} {value:12,.0f}")
    return results


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
