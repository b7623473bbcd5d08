"""The ``policy`` command: every subcommand in-process, then once each as a real process."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import policy
from policy._cli import main
from policy._demo import SCENARIOS, Countdown, DemoServer
from policy._render import duration

GOOD = "429:headers(x-ratelimit-*) 5xx:backoff(5,1s..30s,x1.8,jitter) methods=GET"
BAD = "5xx:backoff(3,30s..1s) 4xx:backof(2)"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def server() -> Iterator[DemoServer]:
    with DemoServer(retry_after="0.05") as s:
        yield s


# --- check ---------------------------------------------------------------------------------------


def test_check_clean_policy_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    """A good policy exits 0 and prints only its worst-case info line."""
    code, out, _ = run(capsys, "check", GOOD)
    assert code == 0
    assert out.startswith("<arg1>:1:1: I201 ")


def test_check_errors_exit_1_with_carets(capsys: pytest.CaptureFixture[str]) -> None:
    """Every error is printed as FILE:LINE:COL: CODE message with the caret below."""
    code, out, _ = run(capsys, "check", GOOD, BAD)
    assert code == 1
    lines = out.splitlines()
    i = lines.index(next(x for x in lines if x.startswith("<arg2>:1:15: E002")))
    assert lines[i + 1].strip() == BAD
    assert lines[i + 2].index("^") - lines[i + 1].index("5") == 14
    assert any(x.startswith("<arg2>:1:28: E001") and "backoff" in x for x in lines)


def test_check_warnings_pass_unless_strict(capsys: pytest.CaptureFixture[str]) -> None:
    """Warnings exit 0, and 1 under --strict."""
    assert run(capsys, "check", "404:backoff(2,1s,jitter)")[0] == 0
    code, out, _ = run(capsys, "check", "--strict", "404:backoff(2,1s,jitter)")
    assert code == 1
    assert "W103" in out


def test_check_quiet_drops_info(capsys: pytest.CaptureFixture[str]) -> None:
    """-q leaves out the I201 line."""
    code, out, _ = run(capsys, "check", "-q", GOOD)
    assert (code, out) == (0, "")


def test_check_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints a list of objects with exactly the documented keys."""
    code, out, _ = run(capsys, "check", "--json", BAD)
    assert code == 1
    data = json.loads(out)
    assert [d["code"] for d in data] == ["E001", "E002"] or {d["code"] for d in data} >= {"E002"}
    for d in data:
        assert set(d) == {"file", "line", "column", "end_column", "code", "severity", "message"}
        assert d["file"] == "<arg1>"
        assert d["severity"] == "error"
        assert isinstance(d["line"], int) and d["column"] < d["end_column"]


def test_check_text_file_positions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """In a text file each non-comment line is a policy; positions are file positions."""
    f = tmp_path / "policies.txt"
    f.write_text(f"# our policies\n{GOOD}\n\n  5xx:backoff(3,2s..1s,jitter)  # typo\n")
    code, out, _ = run(capsys, "check", "-q", "-f", str(f))
    assert code == 1
    first = out.splitlines()[0]
    assert first.startswith(f"{f}:4:17: E002 ")
    assert out.splitlines()[2].index("^") == 4 + 16


TOML = """\
# service config
[service]
name = "billing"

[service.http]
retry = "5xx:backoff(3,1s..30s,x2,jitter) 404:backoff(2,1s,jitter)"
"""

JSON_DOC = """{
  "jobs": [
    {"name": "a", "retry": "5xx:never"},
    {"name": "b", "retry": "5xx:backoff(3,1s..30s,x2) 700:never"}
  ]
}
"""

YAML_DOC = """\
http:
  retry: "429:headers() 5xx:backoff(3,1s..2s,jitter) 404:backoff(1,1s,jitter)"
"""


def test_check_toml_key_maps_into_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A TOML value's findings point at the characters in the file."""
    f = tmp_path / "svc.toml"
    f.write_text(TOML)
    code, out, _ = run(capsys, "check", "-q", "-f", str(f), "--key", "service.http.retry")
    assert code == 0
    col = TOML.splitlines()[5].index("404") + 1
    assert out.splitlines()[0] == (
        f"{f}:6:{col}: W103 404 (Not Found) is retried: waiting does not change the answer; "
        "fix the request, or carve it out with 404:never"
    )


def test_check_json_list_index(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A numeric key part indexes a list; the error lands on the right line and column."""
    f = tmp_path / "jobs.json"
    f.write_text(JSON_DOC)
    code, out, _ = run(capsys, "check", "-f", str(f), "--key", "jobs.1.retry")
    assert code == 1
    line = JSON_DOC.splitlines()[3]
    assert out.startswith(f"{f}:4:{line.index('700') + 1}: E002 ")


def test_check_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """YAML files are read with PyYAML; positions map into the file."""
    pytest.importorskip("yaml")
    f = tmp_path / "c.yaml"
    f.write_text(YAML_DOC)
    code, out, _ = run(capsys, "check", "-q", "--strict", "-f", str(f), "--key", "http.retry")
    assert code == 1
    assert out.startswith(f"{f}:2:{YAML_DOC.splitlines()[1].index('404') + 1}: W103")


def test_check_yaml_without_pyyaml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without PyYAML a YAML file is a usage error that says what to install."""
    monkeypatch.setitem(sys.modules, "yaml", None)
    f = tmp_path / "c.yml"
    f.write_text(YAML_DOC)
    code, _, err = run(capsys, "check", "-f", str(f), "--key", "http.retry")
    assert code == 2
    assert "PyYAML" in err


@pytest.mark.parametrize(
    ("name", "text", "argv", "needle"),
    [
        ("svc.toml", TOML, [], "--key"),
        ("svc.toml", TOML, ["--key", "service.nope"], "no key 'nope' in service"),
        ("svc.toml", TOML, ["--key", "service"], "not a policy string"),
        ("jobs.json", JSON_DOC, ["--key", "jobs.7.retry"], "not an index"),
        ("bad.json", "{", ["--key", "a"], "not valid JSON"),
        ("bad.toml", "x = ", ["--key", "x"], "not valid TOML"),
        ("p.txt", GOOD, ["--key", "x"], "one policy per line"),
    ],
)
def test_check_usage_errors_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    text: str,
    argv: list[str],
    needle: str,
) -> None:
    """A missing key, a bad file or a key where none applies is a usage error (exit 2)."""
    f = tmp_path / name
    f.write_text(text)
    code, _, err = run(capsys, "check", "-f", str(f), *argv)
    assert code == 2
    assert needle in err


def test_check_missing_file_and_bad_flags(capsys: pytest.CaptureFixture[str]) -> None:
    """A missing file, an unknown flag and no input at all exit 2."""
    assert run(capsys, "check", "-f", "/nonexistent/p.txt")[0] == 2
    assert run(capsys, "check", "--bogus", GOOD)[0] == 2
    assert run(capsys, "check")[0] == 2
    assert run(capsys, "nosuchcommand")[0] == 2


def test_check_value_with_escapes_falls_back_to_key_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A JSON string written with escapes is reported at its key's line."""
    f = tmp_path / "esc.json"
    f.write_text('{\n  "retry":\n    "5xx:backoff(3,\\u0032s..1s)"\n}\n')
    code, out, _ = run(capsys, "check", "-f", str(f), "--key", "retry")
    assert code == 1
    assert out.startswith(f"{f}:2:4: E002")


# --- fmt -----------------------------------------------------------------------------------------


def test_fmt_prints_canonical(capsys: pytest.CaptureFixture[str]) -> None:
    """fmt prints the canonical form; --check exits 1 when it differs."""
    code, out, _ = run(capsys, "fmt", "5XX:Backoff( 5 , 1500ms..90s ) ; 429:headers(X-RateLimit-*)")
    assert (code, out) == (0, "5xx:backoff(5,1.5s..1.5m,x1.8) 429:headers(x-ratelimit-*)\n")
    assert run(capsys, "fmt", "--check", "5xx:never")[0] == 0
    assert run(capsys, "fmt", "--check", "5XX:never")[0] == 1


def test_fmt_reports_errors(capsys: pytest.CaptureFixture[str]) -> None:
    """A bad policy is reported with its caret on stderr and exit 1."""
    code, out, err = run(capsys, "fmt", BAD)
    assert (code, out) == (1, "")
    assert "<arg1>:1:15: E002" in err


def test_fmt_write_toml_in_place(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """fmt --write rewrites only the policy string; comments and other keys stay."""
    f = tmp_path / "svc.toml"
    f.write_text(TOML.replace("x2,jitter)", "x2,JITTER)"))
    code, _, _ = run(capsys, "fmt", "-f", str(f), "--key", "service.http.retry", "--write")
    assert code == 0
    assert f.read_text() == TOML.replace("404:backoff(2,1s,jitter)", "404:backoff(2,1s,jitter)")


def test_fmt_write_json_and_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """JSON values and text-file lines (with their comments) are rewritten in place."""
    j = tmp_path / "jobs.json"
    j.write_text(JSON_DOC.replace(" 700:never", ""))
    assert run(capsys, "fmt", "-f", str(j), "--key", "jobs.1.retry", "--write")[0] == 0
    assert json.loads(j.read_text())["jobs"][1]["retry"] == "5xx:backoff(3,1s..30s,x2)"
    assert j.read_text().splitlines()[2] == JSON_DOC.splitlines()[2]
    t = tmp_path / "p.txt"
    t.write_text("# keep me\n5XX:backoff(3)   # and me\n")
    assert run(capsys, "fmt", "-f", str(t), "--write")[0] == 0
    assert t.read_text() == "# keep me\n5xx:backoff(3,1s..1m,x1.8)  # and me\n"


def test_fmt_write_needs_a_file(capsys: pytest.CaptureFixture[str]) -> None:
    """--write without -f is a usage error."""
    assert run(capsys, "fmt", "--write", "5xx:never")[0] == 2


# --- explain ------------------------------------------------------------------------------------


def test_explain_envelopes_in_policy_notation(capsys: pytest.CaptureFixture[str]) -> None:
    """explain lists each retry's delay range and the worst case, in 1s/1.5m notation."""
    code, out, _ = run(capsys, "explain", "5xx:backoff(3,30s..2m,x2,jitter) 404:never")
    assert code == 0
    assert "1. wait 30s–1m\n" in out  # full jitter spreads the first retry: [min, 2·min]
    assert "2. wait 30s–2m\n" in out
    assert "3. wait 30s–2m\n" in out
    assert "4 requests" in out
    assert "5m of waiting" in out  # 1m + 2m + 2m
    assert "404:never" in out and "retries: none" in out


def test_explain_caps_long_lists(capsys: pytest.CaptureFixture[str]) -> None:
    """A long schedule shows its head, an ellipsis and its tail."""
    code, out, _ = run(capsys, "explain", "5xx:backoff(1000,1s..2s,jitter)")
    assert code == 0
    assert "…" in out
    assert "1000. wait 1s–2s" in out
    assert "  7. " not in out


def test_explain_shadowed_and_presets(capsys: pytest.CaptureFixture[str]) -> None:
    """A rule that decides nothing says so; preset rules are expanded and marked."""
    code, out, _ = run(capsys, "explain", "5xx:never 5xx:backoff(1,1s)")
    assert "decides nothing" in out
    name = sorted(policy.PRESETS)[0]
    code, out, _ = run(capsys, "explain", f"@{name}")
    assert code == 0
    assert f"(from @{name})" in out


# --- simulate ------------------------------------------------------------------------------------


def _rows(out: str) -> list[list[str]]:
    lines = out.splitlines()
    start = next(i for i, x in enumerate(lines) if x.startswith("#"))
    rows = [x.split() for x in lines[start + 1 :]]
    return [r for r in rows if len(r) > 1 and r[1].startswith("+")]


def test_simulate_timeline(capsys: pytest.CaptureFixture[str]) -> None:
    """Each outcome gets a decision, the wait and the elapsed time; it stops at 2xx."""
    code, out, _ = run(
        capsys,
        "simulate",
        "429:headers() 5xx:backoff(3,1s..4s,x2) timeout:backoff(1,500ms)",
        "--outcomes",
        "503,503,timeout,429,200,503",
        "--headers",
        "4:Retry-After: 7",
        "--now",
        "1700000000",
        "--seed",
        "1",
    )
    assert code == 0
    rows = _rows(out)
    assert [r[:5] for r in rows] == [
        ["1", "+0s", "503", "retry", "1s"],
        ["2", "+1s", "503", "retry", "2s"],
        ["3", "+3s", "timeout", "retry", "500ms"],
        ["4", "+3.5s", "429", "retry", "7s"],
        ["5", "+10.5s", "200", "accept", "2xx:"],
    ]
    assert "1 outcome(s) not reached" in out


def test_simulate_is_deterministic_under_a_seed(capsys: pytest.CaptureFixture[str]) -> None:
    """The same seed and start give the same jittered waits, drawn by random.Random(seed)."""
    argv = ["simulate", "5xx:backoff(2,1s..10s,x2,jitter)", "--outcomes", "503,503,503"]
    argv += ["--seed", "42", "--now", "1000"]
    a, b = run(capsys, *argv)[1], run(capsys, *argv)[1]
    assert a == b
    rng = random.Random(42)
    first = 1.0 + rng.random() * (2.0 - 1.0)  # retry 1: full jitter over [1s, 2s]
    second = 1.0 + rng.random() * (4.0 - 1.0)  # retry 2: base 2s, window [1s, 4s]
    rows = _rows(a)
    assert rows[0][4] == duration(round(first * 1000))
    assert rows[1][4] == duration(round(second * 1000))
    assert rows[2][3:5] == ["give", "up"]


def test_simulate_bad_outcomes_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown outcome word or a header for a missing outcome is a usage error."""
    assert run(capsys, "simulate", "5xx:never", "--outcomes", "503,oops")[0] == 2
    assert run(capsys, "simulate", "5xx:never", "--outcomes", "503", "--headers", "3:A: b")[0] == 2
    assert run(capsys, "simulate", "5xx:never")[0] == 2


def test_simulate_method_outside_methods(capsys: pytest.CaptureFixture[str]) -> None:
    """--method POST against methods=GET gives up at once."""
    code, out, _ = run(
        capsys,
        "simulate",
        "5xx:backoff(2,1s) methods=GET",
        "--outcomes",
        "503,200",
        "--method",
        "POST",
        "--now",
        "0",
        "--seed",
        "0",
    )
    assert code == 0
    assert _rows(out)[0][3:5] == ["give", "up"]


# --- convert and presets ------------------------------------------------------------------------


def test_convert_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A policy goes to the seed's options and back to the same canonical policy."""
    text = "429:headers(x-ratelimit-*) 5xx:backoff(5,1s..30s,x1.8,jitter=scale) timeout=10s"
    code, out, _ = run(capsys, "convert", text, "--to", "options")
    assert code == 0
    options = json.loads(out)
    assert options["timeout"] == {"durationInMs": 10000}
    f = tmp_path / "options.json"
    f.write_text(out)
    code, out, _ = run(capsys, "convert", "-f", str(f), "--to", "policy")
    assert (code, out) == (0, text + "\n")


def test_convert_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """What the seed cannot express exits 1; bad options exit 1 naming the path."""
    code, _, err = run(capsys, "convert", "5xx:never", "--to", "options")
    assert code == 1 and "never" in err
    f = tmp_path / "o.json"
    f.write_text(json.dumps({"retry": {"5xx": {"strategy": "backoff", "factor": "x"}}}))
    code, _, err = run(capsys, "convert", "-f", str(f), "--to", "policy")
    assert code == 1 and "factor" in err
    assert run(capsys, "convert", "--to", "policy")[0] == 2


def test_presets_lists_names_and_canonical_forms(capsys: pytest.CaptureFixture[str]) -> None:
    """presets prints every preset with its description and expanded canonical form."""
    code, out, _ = run(capsys, "presets")
    assert code == 0
    for name, pre in policy.PRESETS.items():
        assert f"@{name}: {pre.description}" in out
        assert str(policy.parse(pre.text)) in out


# --- fetch and demo -------------------------------------------------------------------------------


def test_countdown_ticks() -> None:
    """The countdown sleeps in ticks of at most one second and shows what is left."""
    import io

    stream = io.StringIO()
    slept: list[float] = []
    Countdown(stream, sleep=slept.append)(2.5)
    assert slept == [1.0, 1.0, 0.5]
    assert stream.getvalue() == "    waiting 2.5s… 1.5s… 500ms… go\n"


def test_fetch_retries_and_prints_json(
    server: DemoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """fetch retries the flaky endpoint, shows each attempt on stderr, the body on stdout."""
    code, out, err = run(
        capsys, "fetch", f"{server.url}/flaky?run=fetch1", "--retry", "5xx:backoff(3,10ms,jitter)"
    )
    assert code == 0
    assert json.loads(out) == {"ok": True, "served_on_attempt": 3}
    assert "attempt 1: 503 -> retry in 10ms by 5xx:backoff(3,10ms,jitter)" in err
    assert "waiting 10ms… go" in err
    assert "attempt 3: 200 -> accepted" in err


def test_fetch_post_with_body(server: DemoServer, capsys: pytest.CaptureFixture[str]) -> None:
    """-d sends a body (POST by default) and the retry sends it again."""
    code, out, _ = run(
        capsys,
        "fetch",
        f"{server.url}/orders?run=fetch2",
        "-d",
        '{"n": 1}',
        "-H",
        "Content-Type: application/json",
        "--retry",
        "5xx:backoff(1,10ms)",
    )
    assert code == 0
    assert json.loads(out)["created"] == {"n": 1}


def test_fetch_failure_exits_1_with_reason(
    server: DemoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A final 404 exits 1 and says why; a refused connection too."""
    code, out, err = run(capsys, "fetch", f"{server.url}/missing", "--retry", "5xx:never")
    assert (code, out) == (1, "")
    assert "no rule for 404" in err
    code, _, err = run(capsys, "fetch", "http://127.0.0.1:1/", "--timeout", "1s")
    assert code == 1 and "connect" in err


def test_fetch_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    """A bad --retry or --timeout or header is a usage error."""
    assert run(capsys, "fetch", "http://127.0.0.1:1/", "--retry", "5xx:nope")[0] == 2
    assert run(capsys, "fetch", "http://127.0.0.1:1/", "--timeout", "5h")[0] == 2
    assert run(capsys, "fetch", "http://127.0.0.1:1/", "-H", "nocolon")[0] == 2


def test_fetch_with_key_reuses_the_stored_result(
    server: DemoServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--key with --store answers the second call from the store, without a request."""
    argv = ["fetch", f"{server.url}/flaky?run=fetch3", "--retry", "5xx:backoff(3,10ms)"]
    argv += ["--key", "k1", "--store", str(tmp_path / "s.db")]
    code, out, err = run(capsys, *argv)
    assert code == 0 and json.loads(out)["served_on_attempt"] == 3
    code, out2, err2 = run(capsys, *argv)
    assert (code, out2) == (0, out)
    assert "no request sent" in err2 and "no request sent" not in err


def test_demo_runs_every_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    """The demo runs each scenario to its expected ending and exits 0."""
    code, out, _ = run(capsys, "demo")
    assert code == 0
    assert "UNEXPECTED" not in out
    for i, sc in enumerate(SCENARIOS, 1):
        assert f"\n{i}. {sc.title}\n" in out
    assert "as x-ratelimit-reset says" in out
    assert "as retry-after says" in out
    assert "server said do not retry" in out


# --- as a real process ---------------------------------------------------------------------------


def _cmd() -> list[str]:
    script = Path(sys.executable).parent / "policy"
    return [str(script)] if script.exists() else [sys.executable, "-m", "policy"]


def _proc(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    return subprocess.run(
        [*_cmd(), *argv], capture_output=True, text=True, timeout=60, env=env, check=False
    )


def test_e2e_check() -> None:
    """The installed script checks a policy and exits 1 on an error."""
    p = _proc("check", BAD)
    assert p.returncode == 1 and "<arg1>:1:15: E002" in p.stdout


def test_e2e_fmt() -> None:
    """The installed script formats a policy."""
    assert _proc("fmt", "5XX:never").stdout == "5xx:never\n"


def test_e2e_explain() -> None:
    """The installed script explains a policy."""
    p = _proc("explain", "5xx:backoff(2,1s..2s,x2)")
    assert p.returncode == 0 and "3s of waiting, 3 requests" in p.stdout


def test_e2e_simulate() -> None:
    """The installed script simulates a timeline."""
    p = _proc("simulate", "5xx:backoff(1,1s)", "--outcomes", "503,503", "--seed", "0", "--now", "0")
    assert p.returncode == 0 and "limit reached" in p.stdout


def test_e2e_convert() -> None:
    """The installed script converts a policy to the seed's options."""
    p = _proc("convert", "5xx:backoff(2,1s..2s,x2)", "--to", "options")
    assert json.loads(p.stdout)["retry"]["5xx"]["limit"] == 2


def test_e2e_presets() -> None:
    """The installed script lists presets."""
    p = _proc("presets", "--names")
    assert p.returncode == 0 and set(p.stdout.split()) == {f"@{n}" for n in policy.PRESETS}


def test_e2e_fetch(server: DemoServer) -> None:
    """The installed script fetches through the transport."""
    p = _proc("fetch", f"{server.url}/retry-after?run=e2e", "--retry", "429:headers()")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["served_on_attempt"] == 2


def test_e2e_demo() -> None:
    """`policy demo` runs as its own process and exits 0."""
    p = _proc("demo")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "scenarios in" in p.stdout


def test_e2e_python_m_policy() -> None:
    """`python -m policy` is the same command."""
    p = subprocess.run(
        [sys.executable, "-m", "policy", "fmt", "5XX:never"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert p.stdout == "5xx:never\n"
