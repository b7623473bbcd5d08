"""bench/bench_sdk.py: each part runs once at a tiny size and the table is written (no
timings are asserted: speed is what the bench measures, not what a test checks)."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import bench_sdk  # noqa: E402


def test_every_part_runs_once_and_the_table_is_written(tmp_path: Path) -> None:
    sdk = bench_sdk.bench_sdk(threads=2, calls=2, per_window=100)
    assert set(sdk) == {
        "openai @openai pace=on",
        "openai max_retries=10",
        "anthropic @anthropic pace=on",
        "anthropic max_retries=10",
    }
    assert all(row["sent"] >= 4 and row["failed"] == 0 for row in sdk.values())
    tx = bench_sdk.bench_httpx2(iterations=2, rounds=1)
    assert all(rate > 0 for rate in tx.values()) and len(tx) == 6
    adapter = bench_sdk.bench_adapter(threads=1, calls=2)
    assert set(adapter) == {"HTTPAdapter(max_retries=Retry)", "RetryAdapter pace=on"}
    section = bench_sdk.markdown(sdk, tx, adapter, "0.0")
    doc = tmp_path / "b.md"
    doc.write_text(f"# B\n\n{bench_sdk.BEGIN}\nSTALE\n{bench_sdk.END}\n\nafter\n", "utf-8")
    bench_sdk.write(section, doc)
    text = doc.read_text("utf-8")
    assert "STALE" not in text and section in text and text.endswith("after\n")
    assert "openai" in section and "RetryAdapter" in section
