"""bench/bench_resilience.py runs (a short run: speed is read from the script, not here)."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"


def test_bench_resilience_runs_each_part() -> None:
    sys.path.insert(0, str(BENCH))
    try:
        import bench_resilience
    finally:
        sys.path.remove(str(BENCH))
    out = bench_resilience.main(300, 30)
    for state in ("LocalState", "RedisState"):
        for what in ("without breaker", "breaker=5", "breaker=50%"):
            assert out[f"{state} µs/attempt {what}"] > 0
