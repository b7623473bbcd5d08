"""What users write type-checks: small user snippets run through ``mypy --strict``.

mypy runs in a subprocess on a temporary file, against the installed packages (their
``py.typed`` markers), with a fresh cache so an earlier run cannot hide an error.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_USES_ATTEMPTS_OF = """
    import policy
    import transport

    def labels(url: str) -> list[str]:
        with transport.RetryingPool("5xx:backoff(2,1s)") as pool:
            r = pool.request("GET", url)
        history: tuple[transport.Attempt, ...] = transport.attempts_of(r)
        waits: list[float | None] = [a.delay for a in history]
        assert len(waits) == len(history)
        return [a.label for a in history]

    def same(p: policy.Policy) -> transport.PolicyRetry:
        return transport.PolicyRetry(p)

    retry = transport.PolicyRetry("429:headers() 5xx:backoff(3)")
"""

_USES_THE_ATTRIBUTE = """
    import transport

    def labels(url: str) -> list[str]:
        with transport.RetryingPool("5xx:backoff(2,1s)") as pool:
            r = pool.request("GET", url)
        return [a.label for a in r.attempts]
"""


def _mypy(tmp_path: Path, code: str) -> subprocess.CompletedProcess[str]:
    snippet = tmp_path / "user_code.py"
    snippet.write_text(textwrap.dedent(code), "utf-8")
    cmd = [
        sys.executable,
        "-m",
        "mypy",
        "--strict",
        "--no-incremental",
        "--cache-dir",
        str(tmp_path / ".mypy_cache"),
        "--config-file",
        str(tmp_path / "none.ini"),
        str(snippet),
    ]
    (tmp_path / "none.ini").write_text("[mypy]\n", "utf-8")
    return subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=300)


def test_attempts_of_and_policy_strings_pass_mypy_strict(tmp_path: Path) -> None:
    """transport.attempts_of(r) is typed; RetryingPool/PolicyRetry take a string or Policy."""
    proc = _mypy(tmp_path, _USES_ATTEMPTS_OF)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success" in proc.stdout


def test_the_untyped_attribute_is_what_mypy_rejects(tmp_path: Path) -> None:
    """The check is real: the same snippet reading ``r.attempts`` fails under --strict."""
    proc = _mypy(tmp_path, _USES_THE_ATTRIBUTE)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert 'has no attribute "attempts"' in proc.stdout
