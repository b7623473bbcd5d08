"""Hostile config files for ``policy check -f``: aliases that name billions of values,
nesting 100k deep, files of 40k lines.  Each ends with a usage error (exit 2) and one
message, or with findings at the right positions, never a traceback or a walk without end.

The processes that could run away (before the fixes: gigabytes, minutes) run under a
memory limit and a watchdog timeout: bounds far from what the fixed code needs, not
measurements.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from policy.cli import main

MEMORY_LIMIT = 1 << 30
"""Address space a checked process may take (before the fix, billion laughs took > 2.5 GB)."""

WATCHDOG_S = 60.0
"""A hang guard: the fixed commands end in well under a second."""


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def policy_check(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``policy check ARGV`` in a child process, bounded in memory and time."""
    return subprocess.run(
        [sys.executable, "-m", "policy", "check", *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=WATCHDOG_S,
        preexec_fn=_limit_memory,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )


def billion_laughs() -> str:
    """Nine levels of nine aliases: 9**9 strings from a few hundred bytes."""
    text = 'a: &a ["5xx:never", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    previous = "a"
    for name in "bcdefghi":
        text += f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]\n"
        previous = name
    return text


@pytest.mark.parametrize(
    "keys",
    [
        [],
        ["--key", "i.*.*.*.*.*.*.*.*"],
        ["--key", "*.*.*.*.*.*.*.*.*"],
        ["--key", "i.*.*.*.*.*.*.*.0"],
    ],
)
def test_billion_laughs_is_refused(tmp_path: Path, keys: list[str]) -> None:
    """Anchors and aliases that name 9**9 values: exit 2 with a message, nothing walked past
    the bound (before: every path built, > 2.5 GB and growing)."""
    (tmp_path / "laughs.yaml").write_text(billion_laughs())
    proc = policy_check("-f", "laughs.yaml", *keys, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("policy check: error: laughs.yaml:")
    if keys:
        assert "more than 100,000 values" in proc.stderr
        assert "aliases" in proc.stderr
    else:  # no key: the hint names a few string values and stops there
        assert "say which value holds the policy with --key" in proc.stderr
        assert "a.0, a.1" in proc.stderr


def test_an_alias_key_without_a_glob_still_works(tmp_path: Path) -> None:
    """The bound refuses walks, not aliases: a plain key through aliases finds its value."""
    (tmp_path / "laughs.yaml").write_text(billion_laughs())
    proc = policy_check("-f", "laughs.yaml", "--key", "i.8.7.6.5.4.3.2.1.0", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "0 errors, 0 warnings in 1 policy" in proc.stderr


def test_a_self_referencing_alias_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``&a [*a]`` is a list that holds itself: a glob through it ends at the bound."""
    (tmp_path / "loop.yaml").write_text("a: &a [*a, *a]\n")
    assert main(["check", "-f", str(tmp_path / "loop.yaml")]) == 2
    assert "more than 100,000 values" in capsys.readouterr().err
    assert main(["check", "-f", str(tmp_path / "loop.yaml"), "--key", "a" + ".*" * 20]) == 2
    assert "more than 100,000 values" in capsys.readouterr().err


DEEP = 100_000


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("deep.json", "[" * DEEP + "]" * DEEP),
        ("deep.json", '{"a":' * DEEP + "1" + "}" * DEEP),
        ("deep.yaml", "a: " + "[" * DEEP + "]" * DEEP + "\n"),
        ("deep.yaml", "- " * DEEP + "x\n"),
        ("deep.toml", "a = " + "[" * DEEP + "]" * DEEP + "\n"),
        ("deep.toml", "a = " + "{b = " * DEEP + "1" + "}" * DEEP + "\n"),
    ],
)
def test_deep_nesting_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str
) -> None:
    """100k levels of brackets or block lists: exit 2 naming the file (before: a
    ``RecursionError`` traceback, exit 1)."""
    (tmp_path / name).write_text(text)
    code = main(["check", "-f", str(tmp_path / name), "--key", "a"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"{name}: its {name.split('.')[1].upper()} nests tables or lists too deeply" in err


def test_a_long_file_is_checked_in_linear_time(tmp_path: Path) -> None:
    """40k lines, every second one with a warning (before: 81 s, each finding rescanned
    the file for its line; now about a second).  The findings point at the right lines."""
    lines = ["429:headers()" if i % 2 else "5xx:backoff(3)" for i in range(40_000)]
    lines[39_999] = "5xx:backoff(3,2s..1s)"  # an error on the last line
    (tmp_path / "long.txt").write_text("\n".join(lines) + "\n")
    proc = policy_check("-q", "-f", "long.txt", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith("1 error, ") and " in 40000 policies" in proc.stderr
    first = proc.stdout.split("\n", 1)[0]
    assert first.startswith("long.txt:1:1: W"), first
    assert "long.txt:39999:1: W" in proc.stdout
    assert "long.txt:40000:15: E002" in proc.stdout
    assert "long.txt:39998:" not in proc.stdout  # 429:headers() has no warning


def test_positions_in_a_file_are_the_same_from_the_index(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The line index gives the positions that counting newlines gave, CRLF included."""
    text = "# head\r\n\r\n5xx:never\r\n  5xx:backoff(3,2s..1s)\r\n429:headers()"
    (tmp_path / "p.txt").write_bytes(text.encode())
    assert main(["check", "-f", str(tmp_path / "p.txt")]) == 1
    out = capsys.readouterr().out.replace(str(tmp_path / "p.txt"), "p.txt")
    assert "p.txt:3:1: I201" in out
    assert "p.txt:4:17: E002" in out
    assert "\n      5xx:backoff(3,2s..1s)\n                    ^^\n" in out
    assert "p.txt:5:1: I201" in out
