"""Docs blocks that show what the program prints, or a file of the repository, are
generated: each is compared with what the code gives today.

* A fenced block whose first line is ``$ policy ...`` shows a command and its output (the
  lines up to the next ``$`` line). The command runs (``python -m policy``, in a scratch
  directory holding the files of ``FILES``) and its standard output then standard error
  must equal those lines. A block with commands and no output (``--plot FILE``) is not run.
* docs/language.md's ``lark`` block is grammar/policy.lark, byte for byte.

``REGEN_DOCS=1 pytest tests/test_docs_generated.py`` rewrites the stale blocks in place
(and still fails, naming them, so that a rewrite is never silent).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ALL_DOCS = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
REGEN = os.environ.get("REGEN_DOCS", "") not in ("", "0")

_FENCE = re.compile(r"^```(?P<info>[^\n`]*)\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)

#: The files the documented commands read, as the page describes them.
FILES = {
    "policies.txt": (
        "# one policy a line\n"
        "429:headers(x-ratelimit-*) 5xx[idempotent]:backoff(5,1s..30s,x1.8,jitter)\n"
        "5XX[idempotent]:Backoff(3, 1s..1m, x1.8, jitter)  # retry\n"
        "@standard\n"
        "timeout=10s 5xx[idempotent]:backoff(3,1s..30s,x2,jitter)\n"
    ),
}


def command_blocks(text: str) -> list[tuple[int, int, list[tuple[str, list[str]]]]]:
    """(start, end, [(command, output lines)]) of each fence that opens with ``$ policy``;
    start and end are the offsets of the fence's body."""
    found = []
    for m in _FENCE.finditer(text):
        body = m.group("body")
        if not body.startswith("$ policy "):
            continue
        runs: list[tuple[str, list[str]]] = []
        lines = body.splitlines()
        i = 0
        while i < len(lines):
            cmd = lines[i][2:]
            while cmd.endswith("\\") and i + 1 < len(lines):
                i += 1
                cmd = cmd[:-1] + " " + lines[i].strip()
            i += 1
            out = []
            while i < len(lines) and not lines[i].startswith("$ "):
                out.append(lines[i])
                i += 1
            runs.append((cmd, out))
        found.append((m.start("body"), m.end("body"), runs))
    return found


def _run(command: str, cwd: Path) -> list[str]:
    argv = shlex.split(command)
    assert argv[0] == "policy", command
    env = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "policy", *argv[1:]],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    return (done.stdout + done.stderr).splitlines()


def test_command_blocks_are_found() -> None:
    """The finder joins continued lines and splits several commands of one block."""
    text = "x\n```console\n$ policy a \\\n    b\none\n$ policy c\n```\n```\n$ ls\n```\n"
    ((_, _, runs),) = command_blocks(text)
    assert runs == [("policy a  b", ["one"]), ("policy c", [])]


PAGES = [p for p in ALL_DOCS if any(o for *_, r in command_blocks(p.read_text()) for _, o in r)]


def test_pages_with_output_are_found() -> None:
    assert {"cli.md", "fleet.md"} <= {p.name for p in PAGES}


@pytest.mark.parametrize("path", PAGES, ids=[p.name for p in PAGES])
def test_shown_output_is_what_the_command_prints(path: Path, tmp_path: Path) -> None:
    for name, content in FILES.items():
        (tmp_path / name).write_text(content, "utf-8")
    text = path.read_text("utf-8")
    stale: list[str] = []
    pieces: list[str] = []
    last = 0
    for start, end, runs in command_blocks(text):
        body = text[start:end].splitlines()
        new_body: list[str] = []
        pos = 0
        for cmd, out in runs:
            # the command's own lines, as written
            while True:
                new_body.append(body[pos])
                pos += 1
                if not new_body[-1].endswith("\\"):
                    break
            pos += len(out)
            if not out:
                continue
            got = _run(cmd, tmp_path)
            if got != out:
                stale.append(
                    f"$ {cmd}\n--- shown\n" + "\n".join(out) + "\n--- printed\n" + "\n".join(got)
                )
            new_body.extend(got)
        pieces.append(text[last:start] + "\n".join(new_body) + "\n")
        last = end
    pieces.append(text[last:])
    if stale and REGEN:
        path.write_text("".join(pieces), "utf-8")
    assert not stale, f"{path.name}: stale output (REGEN_DOCS=1 rewrites it)\n" + "\n\n".join(stale)


def _lark_block(text: str) -> re.Match[str]:
    blocks = [m for m in _FENCE.finditer(text) if m.group("info").strip() == "lark"]
    assert len(blocks) == 1, "docs/language.md shows the grammar in one lark block"
    return blocks[0]


def test_language_reference_shows_the_grammar_file() -> None:
    page = ROOT / "docs" / "language.md"
    text = page.read_text("utf-8")
    grammar = (ROOT / "grammar" / "policy.lark").read_text("utf-8")
    m = _lark_block(text)
    if m.group("body") != grammar and REGEN:
        page.write_text(text[: m.start("body")] + grammar + text[m.end("body") :], "utf-8")
    assert m.group("body") == grammar, "docs/language.md: the grammar block is stale (REGEN_DOCS=1)"


def test_precommit_example_pins_this_version() -> None:
    """The pre-commit example's ``rev:`` is the tag of the version in pyproject.toml (a
    made-up tag fails for whoever copies it), and the page says what ``rev:`` must be."""
    import tomllib

    version = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]["version"]
    text = (ROOT / "docs" / "cli.md").read_text("utf-8")
    revs = re.findall(r"^\s*rev:\s*(\S+)", text, re.M)
    assert revs == [f"v{version}"]
    assert "commit hash" in text and "autoupdate" in text
