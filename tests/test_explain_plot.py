"""``policy explain --plot``: a logarithmic wait axis, one series per retrying rule in the
order the rules are written, the whole policy in the title (or a note of what was cut),
"nothing to draw" when no rule retries, and a bad file name refused before any output."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import policy
from policy.cli import main
from policy.fleet._plot import envelope_series, envelope_title


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _ids(path: Path) -> list[str]:
    root = ET.parse(path).getroot()
    return [el.get("id", "") for el in root.iter() if el.get("id")]


def test_the_wait_axis_is_logarithmic(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A 15-minute headers band and a 100 ms backoff in one picture: log scale."""
    path = tmp_path / "e.svg"
    code, out, _ = run(
        capsys, "explain", "429:headers() 5xx:backoff(3,100ms..2s)", "--plot", str(path)
    )
    assert code == 0
    assert f"envelope drawn in {path}" in out
    ids = _ids(path)
    assert "wait-axis-log" in ids
    assert [i for i in ids if i.startswith("series-")] == ["series-1", "series-2"]


def test_series_follow_the_order_of_the_rules() -> None:
    """Rules written timeout, 5xx, 429 are drawn in that order (before: by status probed)."""
    p = policy.parse("timeout:backoff(2) 5xx:backoff(3) 429:headers() 404:never")
    labels = [label for label, _, _ in envelope_series(p)]
    assert [x.split(":")[0] for x in labels] == ["timeout", "5xx", "429"]
    for _, lo, hi in envelope_series(p):
        assert all(0 <= a <= b for a, b in zip(lo, hi, strict=True))


def test_the_title_holds_the_whole_policy_or_says_what_was_cut() -> None:
    text = " ".join(f"{s}:backoff(3,1s..30s,x2,jitter)" for s in range(500, 506))
    title = envelope_title(text)
    assert title.replace("\n", " ") == f"delay envelope: {text}"
    long = " ".join(f"{s}:backoff(3,1s..30s,x2,jitter)" for s in range(500, 560))
    title = envelope_title(long)
    assert title.count("\n") == 3
    assert title.endswith("more characters)")
    shown = title.rsplit(" ... (", 1)[0].replace("\n", " ")
    left = int(title.rsplit("(", 1)[1].split()[0])
    assert len(shown) + 1 + left == len(f"delay envelope: {long}")


def test_nothing_to_draw_is_said(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """``5xx:never`` retries nothing: no file, and the command says so (before: "envelope
    drawn" and an empty picture)."""
    path = tmp_path / "n.png"
    code, out, _ = run(capsys, "explain", "5xx:never", "--plot", str(path))
    assert code == 0
    assert "nothing to draw: no rule of this policy retries" in out
    assert "envelope drawn" not in out
    assert not path.exists()


@pytest.mark.parametrize("name", ["x.jpg", "x", "x.pdf"])
def test_a_bad_file_name_fails_before_anything_is_printed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str
) -> None:
    code, out, err = run(capsys, "explain", "5xx:backoff(3)", "--plot", str(tmp_path / name))
    assert code == 2
    assert out == ""
    assert "must end in .png or .svg" in err
