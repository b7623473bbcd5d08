"""A user's own ``policy.py`` that hides the library's ``policy`` package gets a clear error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def _import_transport(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import transport"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_own_policy_module_is_named_with_the_fix(tmp_path: Path) -> None:
    """``import transport`` beside a ``policy.py`` names that file and says to rename it."""
    (tmp_path / "policy.py").write_text("RULES = 1\n")
    done = _import_transport(tmp_path)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: transport needs retry-policy's 'policy' package")
    assert str(tmp_path / "policy.py") in last
    assert "Rename your policy.py" in last
    assert "is not a package" not in done.stderr


def test_own_policy_folder_is_named_too(tmp_path: Path) -> None:
    """A ``policy/`` folder of the user's (a namespace or package) is caught the same way."""
    (tmp_path / "policy").mkdir()
    (tmp_path / "policy" / "__init__.py").write_text("")
    done = _import_transport(tmp_path)
    assert done.returncode == 1
    assert "hides it" in done.stderr


def test_without_a_shadow_transport_imports(tmp_path: Path) -> None:
    """In a directory with no ``policy`` of its own, ``import transport`` works."""
    done = _import_transport(tmp_path)
    assert done.returncode == 0, done.stderr
