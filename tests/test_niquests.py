"""niquests, in a venv of its own: installing niquests brings urllib3-future, whose ``.pth``
replaces the ``urllib3`` package of the environment on every start, so it cannot share
the test environment with the urllib3 adapters.  This test creates a venv (pip, from the
same package index the test environment came from), installs niquests and this
library's two dependencies there, and runs ``tests/niquests_check.py`` with this
repository on ``PYTHONPATH``: a loopback server, ``transport.niquests.RetryAdapter``,
``transport.attempts_of``, ``retrying`` around ``raise_for_status()``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def niquests_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("niquests") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    proc = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "niquests>=3.11", "lark>=1.1.9", "attrs>=23.1"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return python


def _check(python: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    proc = subprocess.run(
        [str(python), str(ROOT / "tests" / "niquests_check.py"), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def test_niquests_retry_adapter_retrying_and_attempts_of(niquests_python: Path) -> None:
    out = _check(niquests_python)
    # the adapter: 503, 503, 200 retried with the policy's waits, the history on the response
    assert out["flaky"] == [200, "ok", ["503", "503", "200"], [0.1, 0.2]]
    # nothing listening: niquests' own ConnectionError after the policy's attempts
    labels, notes = out["refused"]
    assert labels == ["connect"] * 3
    assert any("limit reached" in n for n in notes)
    # retrying around raise_for_status(): niquests.HTTPError's response is read
    assert out["retrying"] == [200, [2.0]]
    assert out["timeout"] == "Timeout()"
    assert out["seen"] == {"/flaky": 3, "/limited": 2}
