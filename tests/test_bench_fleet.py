"""bench/kill_celery.py and bench/bench_redis_pacing.py import; their parts work (no timings)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import bench_redis_pacing  # type: ignore[import-not-found]  # noqa: E402
import kill_celery  # type: ignore[import-not-found]  # noqa: E402


def test_the_limiter_allows_five_per_window_with_flask_limiter_headers() -> None:
    limiter = bench_redis_pacing.Limiter(5)
    req = bench_redis_pacing.Request("GET", "/limited", {}, b"")
    while abs(time.time() % 1 - 0.5) > 0.3:  # well inside one window
        time.sleep(0.01)
    replies = [limiter(req) for _ in range(7)]
    assert [r.status for r in replies] == [200] * 5 + [429] * 2
    last = dict(replies[4].header_items())
    assert last["X-RateLimit-Remaining"] == "0"
    assert float(last["X-RateLimit-Reset"]) > time.time()
    assert "Retry-After" in dict(replies[5].header_items())
    assert (limiter.accepted, limiter.rejected) == (5, 2)


def test_the_kill_bench_has_its_entry_point() -> None:
    assert callable(kill_celery.main)
    assert "reset" in kill_celery.POLICY
