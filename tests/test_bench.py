"""bench/ imports and each part runs one tiny iteration (no timings are asserted)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import run  # type: ignore[import-not-found,unused-ignore]  # noqa: E402
from strategies import policy_text  # noqa: E402

from policy.language._fastparse import fast_raw  # noqa: E402
from policy.language._parse import parser  # noqa: E402


def test_every_part_runs_and_the_table_is_written(tmp_path: Path) -> None:
    """One tiny run of every part yields numbers for each bar and a table between markers."""
    results = run.run_parts(2)
    assert results["decide"] is not None and results["decide"]["backoff"] > 0
    assert results["parse"] is not None and results["parse"]["parse_cached"] > 0
    assert results["memory"] is not None and results["memory"]["policy_bytes"] > 0
    section = run.table(results, quick=True)
    assert "Performance targets" in section and "decide" in section
    for ours in ("headers_retry_after", "headers_epoch_date"):
        assert results["decide"][f"ratio_{ours}"] > 0
    assert "(epoch reset + `Date`) ≥ 5× faster" in section
    doc = tmp_path / "b.md"
    doc.write_text(f"# B\n\nintro\n\n{run.BEGIN}\nSTALE-TABLE\n{run.END}\n\nafter\n", "utf-8")
    run.write(section, doc)
    text = doc.read_text("utf-8")
    assert "STALE-TABLE" not in text and section in text
    assert text.startswith("# B\n\nintro") and text.endswith("after\n")


def _norm(x: Any) -> Any:
    if isinstance(x, str) and hasattr(x, "type"):
        t: Any = x
        return (t.type, str(t), t.start_pos, t.line, t.column, t.end_line, t.end_column, t.end_pos)
    if isinstance(x, list | tuple):
        return (type(x).__name__, tuple(_norm(i) for i in x))
    return x


def _lark(text: str) -> Any:
    from lark.exceptions import UnexpectedInput

    try:
        return parser().parse(text)
    except UnexpectedInput:
        return None


_CHARS = st.sampled_from("0123456789xXsmh*-_.,:;|()[]=@ \n\tabcgijrtyAGET")


@given(policy_text(), st.lists(st.tuples(st.integers(0, 200), _CHARS), max_size=3))
def test_fast_path_matches_lark(text: str, edits: list[tuple[int, str]]) -> None:
    """The fast parser gives Lark's raw nodes, or declines; it never accepts what Lark rejects."""
    for at, ch in edits:
        i = at % (len(text) + 1)
        text = text[:i] + ch + text[i + 1 :] if at % 2 else text[:i] + ch + text[i:]
    fast = fast_raw(text)
    slow = _lark(text)
    if fast is not None:
        assert slow is not None
        assert _norm(fast) == _norm(slow)
    else:
        assert slow is None


@pytest.mark.parametrize(
    "text",
    ["", " ; ", "5xx:never\n429:headers()", "timeout=10s", "error:backoff(2)", "5xx,ERROR:never"],
)
def test_fast_path_small_cases(text: str) -> None:
    """Edge cases (empty, separators only, a newline, a setting) read the same as Lark."""
    assert _norm(fast_raw(text)) == _norm(_lark(text))


def test_bench_clients_runs_one_tiny_round() -> None:
    """bench_clients runs every client and callable once over; no timing is asserted."""
    import bench_clients  # type: ignore[import-not-found,unused-ignore]

    bench_clients.ROUNDS = 1
    out = bench_clients.main(1)
    assert out["httpx RetryTransport"] > 0
    assert out["aiohttp_middleware"] > 0
    assert out["retrying µs/attempt"] > 0
