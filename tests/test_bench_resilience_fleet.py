"""bench/bench_resilience_fleet.py runs each part once, quickly (numbers are read from the
script's full run, not asserted here)."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"


def test_each_part_runs_once() -> None:
    sys.path.insert(0, str(BENCH))
    try:
        import bench_resilience_fleet as b
    finally:
        sys.path.remove(str(BENCH))
    outage = b.bench_outage(10, 10)
    assert set(outage) == {"503", "refused"}
    assert outage["503"]["done"] == (10, 10)
    adaptive = b.bench_adaptive(1, 2)
    assert adaptive["wall ratio"] > 0
