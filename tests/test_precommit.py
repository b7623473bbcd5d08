"""The pre-commit hooks of .pre-commit-hooks.yaml, run by pre-commit itself.

pre-commit installs this project (a copy of the working tree, committed to a scratch git
repository) into an environment of its own and runs the hooks on a sample git repository:
once with ``pre-commit try-repo`` (the hooks as shipped, on the files their patterns
pick), once with a ``.pre-commit-config.yaml`` that narrows ``files:`` to TOML configs and
passes ``--key`` globs in ``args:``, as the docs tell users to.  The install needs the
package index pip is configured with; without pre-commit, or when the install fails, the
test fails (it never skips).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

_IGNORED = shutil.ignore_patterns(
    ".git",
    ".venv",
    "venv",
    "__pycache__",
    "*.egg-info",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
    "dist",
    "build",
)


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.strip()


def _repo(path: Path) -> None:
    """Commit everything under ``path`` as a fresh git repository."""
    _git(path, "init", "-q")
    _git(path, "add", "-A")
    _git(path, "commit", "-q", "-m", "snapshot")


def _pre_commit(cwd: Path, *args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "PRE_COMMIT_COLOR": "never"}
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,  # a watchdog: an environment install that hangs fails the test
        check=False,
    )


def test_hooks_with_pre_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """policy-check fails on a broken policy and names it; policy-fmt rewrites in place;
    files outside the hook's pattern are left alone; --key globs in args select values."""
    for var, value in {
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@example.invalid",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@example.invalid",
    }.items():
        monkeypatch.setenv(var, value)
    hooks = tmp_path / "hooks"
    shutil.copytree(ROOT, hooks, ignore=_IGNORED)
    assert (hooks / ".pre-commit-hooks.yaml").is_file()
    _repo(hooks)

    sample = tmp_path / "sample"
    sample.mkdir()
    (sample / "retry-policy.txt").write_text("# ours\n5xx:backoff(3,30s..1s,jitter)\n")
    (sample / "api.policy").write_text("5XX:Never\n")
    (sample / "notes.txt").write_text("not a policy at all\n")  # outside the pattern
    _repo(sample)

    home = tmp_path / "pre-commit-home"
    p = _pre_commit(sample, "try-repo", str(hooks), "--all-files", home=home)
    output = p.stdout + p.stderr
    assert p.returncode == 1, output
    assert "policy check" in output and "Failed" in output
    assert "retry-policy.txt:2:15: E002" in output
    assert "notes.txt" not in output
    assert (sample / "api.policy").read_text() == "5xx:never\n"  # policy-fmt rewrote it
    assert (sample / "notes.txt").read_text() == "not a policy at all\n"

    # A project's own config: TOML files, the values chosen by --key globs.
    config = sample / "config"
    config.mkdir()
    (config / "svc.toml").write_text(
        '[services.billing]\nretry = "5xx:backoff(3,1s..30s,x2,JITTER)"\n'
        '[services.search]\nretry = "5xx:backoff(3,1s..30s,x2,jitter) 404:backoff(2,1s,jitter)"\n'
    )
    (sample / "other.toml").write_text('retry = "not checked: outside files:"\n')
    (sample / "retry-policy.txt").write_text("5xx:backoff(3,1s..30s,x2,jitter)\n")
    rev = _git(hooks, "rev-parse", "HEAD")
    (sample / ".pre-commit-config.yaml").write_text(
        f"""repos:
-   repo: {hooks}
    rev: {rev}
    hooks:
    -   id: policy-check
        files: ^config/.*\\.toml$
        args: [--strict, --key, "services.*.retry"]
    -   id: policy-fmt
        files: ^config/.*\\.toml$
        args: [--key, "services.*.retry"]
"""
    )
    _git(sample, "add", "-A")
    p = _pre_commit(sample, "run", "--all-files", home=home)
    output = p.stdout + p.stderr
    assert p.returncode == 1, output
    line = 'retry = "5xx:backoff(3,1s..30s,x2,jitter) 404:backoff(2,1s,jitter)"'
    assert f"config/svc.toml:4:{line.index('404') + 1}: W103" in output  # --strict: fails
    assert "other.toml" not in output
    assert (config / "svc.toml").read_text().splitlines()[1] == (
        'retry = "5xx:backoff(3,1s..30s,x2,jitter)"'
    )
