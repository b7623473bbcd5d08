"""The package as users get it: its public names, its imports, and the installed wheel."""

from __future__ import annotations

import importlib.util
import inspect
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import policy

ROOT = Path(__file__).resolve().parents[1]


def _isort_key(name: str) -> tuple[int, str]:
    """The order ruff's RUF022 keeps: CONSTANTS, then Classes, then functions."""
    if name.isupper():
        return (0, name)
    if name[:1].isupper():
        return (1, name)
    return (2, name)


def test_all_names_exist() -> None:
    """Every name in policy.__all__ is an attribute of the package, listed once."""
    missing = [n for n in policy.__all__ if not hasattr(policy, n)]
    assert missing == []
    assert len(set(policy.__all__)) == len(policy.__all__)


def test_all_is_sorted() -> None:
    """policy.__all__ is sorted (constants, classes, functions; alphabetical within each)."""
    assert list(policy.__all__) == sorted(policy.__all__, key=_isort_key)


def test_all_is_complete() -> None:
    """Every public class or function the package exposes from its own modules is in __all__."""
    exposed = {
        name
        for name, value in vars(policy).items()
        if not name.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and getattr(value, "__module__", "").split(".")[0] == "policy"
    }
    assert exposed - set(policy.__all__) == set()


def test_transport_all_is_sorted_and_complete() -> None:
    """transport.__all__ lists each public name once, sorted, attempts_of included."""
    import transport

    assert list(transport.__all__) == sorted(transport.__all__, key=_isort_key)
    assert len(set(transport.__all__)) == len(transport.__all__)
    assert [n for n in transport.__all__ if not hasattr(transport, n)] == []
    exposed = {
        name
        for name, value in vars(transport).items()
        if not name.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and getattr(value, "__module__", "").split(".")[0] == "transport"
    }
    assert exposed - set(transport.__all__) == {"install_log_filter"}
    assert "attempts_of" in transport.__all__


def test_what_the_docs_use_is_public() -> None:
    """The linter, its findings and the outcome type are public names; lint works through
    them, and errors name their public home in tracebacks (``policy.PolicyValueError``)."""
    for name in ("lint", "Diagnostic", "Outcome"):
        assert name in policy.__all__, name
    found = policy.lint("5xx:backof(3)")
    assert [d.code for d in found] == ["E001"]
    assert all(isinstance(d, policy.Diagnostic) for d in found)
    assert {d.code for d in policy.lint(policy.parse("5xx:backoff(3,1s..8s,x2)"))} >= {"W101"}
    assert isinstance(policy.Timeout(), policy.Outcome)
    for error in (policy.PolicyError, policy.PolicySyntaxError, policy.PolicyValueError):
        assert error.__module__ == "policy"
        assert getattr(policy, error.__name__) is error


def test_python_dash_m_policy_is_the_command() -> None:
    """`python -m policy` (what the docs show instead of a private entry point) runs the CLI."""
    ok = subprocess.run([sys.executable, "-m", "policy", "check", "-q", "5xx:backoff(3,1s,jitter)"])
    assert ok.returncode == 0
    bad = subprocess.run(
        [sys.executable, "-m", "policy", "check", "5xx:backof(3)"], capture_output=True, text=True
    )
    assert bad.returncode == 1
    assert "E001" in bad.stdout


def test_spec_api_is_exported() -> None:
    """The names the SPEC's examples use are public."""
    for name in (
        "parse",
        "Policy",
        "PolicyError",
        "PolicySyntaxError",
        "PolicyValueError",
        "Response",
        "Timeout",
        "ConnectFailure",
        "ConnectionReset",
        "Retry",
        "GiveUp",
        "Accept",
        "AttemptState",
        "from_options",
        "Outcome",
        "Decision",
        "Error",
        "OnError",
    ):
        assert name in policy.__all__, name


def _run(cmd: list[str], *, cwd: Path | None = None) -> str:
    """Run ``cmd`` with a clean environment; fail with its output if it fails; return stdout."""
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=_clean_env())
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"
    return proc.stdout


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONNOUSERSITE"] = "1"
    return env


def test_import_does_not_import_urllib3() -> None:
    """`import policy` leaves urllib3 (and the transport package) unimported."""
    code = (
        "import sys, policy\n"
        "policy.parse('5xx:backoff(3)')\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('urllib3', 'transport'))\n"
        "assert not bad, bad\n"
    )
    _run([sys.executable, "-c", code], cwd=ROOT)


def _build_wheel(out: Path) -> Path:
    """Build the project's wheel into ``out`` (without isolation when hatchling is at hand)."""
    cmd = [sys.executable, "-m", "build", "--wheel", "--outdir", str(out)]
    if importlib.util.find_spec("hatchling") is not None:
        cmd.append("--no-isolation")
    _run([*cmd, str(ROOT)], cwd=ROOT)
    (wheel,) = out.glob("retry_policy-*.whl")
    return wheel


def test_wheel_installs_and_runs_outside_the_checkout(tmp_path: Path) -> None:
    """The wheel carries the grammar: installed in a fresh venv, parse and `policy check` work."""
    wheel = _build_wheel(tmp_path / "dist")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    assert "policy/_grammar/policy.lark" in names
    assert "policy/py.typed" in names

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    py = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", str(wheel)])

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = (
        "import policy, sys\n"
        "assert sys.prefix != sys.base_prefix\n"
        "assert policy.__file__.startswith(sys.prefix), policy.__file__\n"
        "print(policy.parse('5xx:backoff(3)'))\n"
    )
    out = _run([str(py), "-c", code], cwd=elsewhere)
    assert out.strip() == "5xx:backoff(3,1s..1m,x1.8)"

    _run([str(venv / "bin" / "policy"), "check", "5xx:backoff(3)"], cwd=elsewhere)

    bad = subprocess.run(
        [str(venv / "bin" / "policy"), "check", "5xx:backof(3)"],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env=_clean_env(),
    )
    assert bad.returncode == 1
    assert "E001" in bad.stdout + bad.stderr


def test_transport_all_is_sorted_and_exists() -> None:
    """transport.__all__ is sorted like policy's, and every name resolves (lazy ones too)."""
    import transport

    assert list(transport.__all__) == sorted(transport.__all__, key=_isort_key)
    missing = [n for n in transport.__all__ if not hasattr(transport, n)]
    assert missing == []
    for name in (
        "RetryTransport",
        "AsyncRetryTransport",
        "aiohttp_middleware",
        "retrying",
        "outcome_from_exception",
        "testing",
        "prometheus_hooks",
    ):
        assert name in transport.__all__, name


def test_import_transport_does_not_import_httpx_or_aiohttp() -> None:
    """`import transport` leaves httpx, aiohttp, prometheus_client and opentelemetry alone."""
    code = (
        "import sys, transport\n"
        "transport.RetryingPool('5xx:backoff(3)').close()\n"
        "heavy = ('httpx', 'aiohttp', 'prometheus_client', 'opentelemetry', 'requests')\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in heavy)\n"
        "assert not bad, bad\n"
    )
    _run([sys.executable, "-c", code], cwd=ROOT)
