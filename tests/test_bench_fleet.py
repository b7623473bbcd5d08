"""bench/kill_celery.py and bench/bench_redis_pacing.py import; their parts work (no timings)."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import bench_redis_pacing  # type: ignore[import-not-found]  # noqa: E402
import kill_celery  # type: ignore[import-not-found]  # noqa: E402


def test_the_pacing_bench_uses_the_real_setting() -> None:
    import policy

    p = policy.parse(bench_redis_pacing.POLICY)
    assert p.pace
    assert "RedisState" in bench_redis_pacing.CLIENT


def test_the_kill_bench_has_its_entry_point() -> None:
    assert callable(kill_celery.main)
    assert "reset" in kill_celery.POLICY
