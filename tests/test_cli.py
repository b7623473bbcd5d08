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
from hypothesis import given, settings
from hypothesis import strategies as st

import policy
from policy.cli import main
from policy.cli._demo import SCENARIOS, DemoServer
from policy.cli.fetch import Countdown
from policy.language._render import duration

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
retry = "5xx:backoff(3,1s..30s,x2,jitter) 404:backoff(2,1s,jitter) methods=GET"
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
  retry: "429:headers() 5xx:backoff(3,1s..2s,jitter) 404:backoff(1,1s,jitter) methods=GET"
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


SERVICES = """\
[services.billing]
retry = "5xx[idempotent]:backoff(3,1s..30s,x2,jitter)"

[services.search]
retry = "5xx:backoff(3,30s..1s,jitter)"

[services.search.extra]
note = "not a policy"

[tool."my.svc"]
retry = "404:backoff(2,1s,jitter)"
"""


def test_check_every_key_is_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--key a --key b checks both values: a broken first key fails even with a clean last."""
    f = tmp_path / "svc.toml"
    f.write_text(SERVICES)
    argv = ["check", "-q", "-f", str(f), "--key", "services.search.retry"]
    code, out, err = run(capsys, *argv, "--key", "services.billing.retry")
    assert code == 1
    assert out.startswith(f"{f}:5:")
    assert "E002" in out
    assert "in 2 policies" in err


def test_check_key_glob(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """services.*.retry checks the retry value of every service, and only those."""
    f = tmp_path / "svc.toml"
    f.write_text(SERVICES)
    code, out, err = run(capsys, "check", "-q", "-f", str(f), "--key", "services.*.retry")
    assert code == 1
    assert [x.split(": ")[1].split()[0] for x in out.splitlines() if x.startswith(str(f))] == [
        "E002"
    ]
    assert "in 2 policies" in err
    # a glob inside a part, and over a list's indexes
    code, _, err = run(capsys, "check", "-q", "-f", str(f), "--key", "services.b*.retry")
    assert (code, "in 1 policy") == (0, err.strip().split(", ")[-1][-11:])
    j = tmp_path / "jobs.json"
    j.write_text(JSON_DOC)
    code, out, err = run(capsys, "check", "-q", "-f", str(j), "--key", "jobs.*.retry")
    assert code == 1 and "in 2 policies" in err
    assert out.startswith(f"{j}:4:")


def test_check_quoted_key_with_dots(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A quoted part holds dots: tool."my.svc".retry; the finding points into the file."""
    f = tmp_path / "svc.toml"
    f.write_text(SERVICES)
    code, out, _ = run(
        capsys, "check", "--strict", "-q", "-f", str(f), "--key", 'tool."my.svc".retry'
    )
    assert code == 1
    col = SERVICES.splitlines()[10].index("404") + 1
    assert out.startswith(f"{f}:11:{col}: W103")
    code, out, _ = run(
        capsys, "check", "--strict", "-q", "-f", str(f), "--key", "tool.'my.svc'.retry"
    )
    assert code == 1 and out.startswith(f"{f}:11:{col}: W103")


@pytest.mark.parametrize(
    ("key", "needle"),
    [
        ("services.*.nope", "matches nothing"),
        ("nope.*.retry", "no key 'nope' in the top level"),
        ("services.*", "is a table, not a policy string"),
        ('tool."my.svc', "not closed"),
        ('tool."my"svc.retry', "must end at a dot"),
        ("services..retry", "expected a dotted path"),
        ("services.billing.retry", None),
    ],
)
def test_check_key_that_matches_nothing_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str, needle: str | None
) -> None:
    """A --key that matches nothing (or is not a key) is a usage error, exit 2, even when
    another --key matches; a key that matches is fine."""
    f = tmp_path / "svc.toml"
    f.write_text(SERVICES)
    code, _, err = run(
        capsys, "check", "-q", "-f", str(f), "--key", "services.billing.retry", "--key", key
    )
    if needle is None:
        assert code == 0
    else:
        assert code == 2
        assert needle in err


def test_fmt_write_every_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """fmt --write with a glob rewrites each matched value in place and nothing else."""
    f = tmp_path / "svc.toml"
    text = SERVICES.replace("30s..1s", "1s..30s").replace("x2,jitter", "X2,JITTER")
    f.write_text(text)
    code, _, _ = run(capsys, "fmt", "-f", str(f), "--key", "services.*.retry", "--write")
    assert code == 0
    search = "5xx:backoff(3,1s..30s,jitter)"
    expected = text.replace("X2,JITTER", "x2,jitter").replace(search, str(policy.parse(search)))
    assert expected != text.replace("X2,JITTER", "x2,jitter")
    assert f.read_text() == expected
    assert run(capsys, "fmt", "--check", "-f", str(f), "--key", "services.*.retry")[0] == 0


def test_files_flag_reads_arguments_as_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--files takes each POLICY argument as a file name (how pre-commit passes them)."""
    a = tmp_path / "a.policy"
    a.write_text("5xx:never\n")
    b = tmp_path / "svc.toml"
    b.write_text(SERVICES)
    code, out, err = run(capsys, "check", "-q", "--files", str(a), str(a))
    assert (code, out) == (0, "") and "in 2 policies" in err
    code, out, _ = run(capsys, "check", "-q", "--files", "--key", "services.*.retry", str(b))
    assert code == 1 and out.startswith(f"{b}:5:")
    a.write_text("5XX:never\n")
    assert run(capsys, "fmt", "--write", "--files", str(a))[0] == 0
    assert a.read_text() == "5xx:never\n"


_NAMES = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=8)


@settings(max_examples=200, deadline=None)
@given(path=st.lists(_NAMES, min_size=1, max_size=4), value=st.text(max_size=10))
def test_key_text_selects_exactly_its_value(path: list[str], value: str) -> None:
    """Any path of table keys (dots, quotes, globs, backslashes, digits, nothing at all),
    written as --key writes it, selects exactly that value and nothing else."""
    from policy.cli._sources import key_text, resolve

    data: dict[str, object] = {"decoy": value}
    here = data
    for name in path[:-1]:
        here = here.setdefault(name, {"decoy*": value})  # type: ignore[assignment]
        if not isinstance(here, dict):
            return  # a name used twice at one level: not a path
    if path[-1] in here:
        return
    here[path[-1]] = value
    assert resolve(data, key_text(path), "f.json") == [(tuple(path), value)]


# --- standard input ------------------------------------------------------------------------------


def _stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO(text))


def test_check_policy_from_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`policy check -` checks the policy on standard input, named <stdin>."""
    _stdin(monkeypatch, "5xx:backoff(3,30s..1s)\n")
    code, out, _ = run(capsys, "check", "-")
    assert code == 1
    assert out.startswith("<stdin>:1:15: E002 ")
    assert "negative" not in out
    _stdin(monkeypatch, GOOD + "\n")
    assert run(capsys, "check", "-q", "-")[:2] == (0, "")


def test_check_file_from_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`-f -` reads a text file (one policy a line) from standard input, or with
    --stdin-format a TOML/JSON/YAML document whose --key values are checked."""
    _stdin(monkeypatch, f"# ours\n{GOOD}\n5xx:backoff(3,2s..1s)\n")
    code, out, err = run(capsys, "check", "-q", "-f", "-")
    assert code == 1 and out.startswith("<stdin>:3:15: E002") and "in 2 policies" in err
    _stdin(monkeypatch, TOML)
    code, out, _ = run(
        capsys, "check", "-q", "--stdin-format", "toml", "-f", "-", "--key", "service.http.retry"
    )
    assert code == 0
    assert out.startswith(f"<stdin>:6:{TOML.splitlines()[5].index('404') + 1}: W103")
    _stdin(monkeypatch, TOML)
    code, _, err = run(capsys, "check", "-f", "-", "--key", "service.http.retry")
    assert code == 2 and "--stdin-format" in err


def test_stdin_for_every_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """fmt, explain, simulate and convert take - for their POLICY, convert -f - its options."""
    _stdin(monkeypatch, "5XX:never\n")
    assert run(capsys, "fmt", "-")[:2] == (0, "5xx:never\n")
    _stdin(monkeypatch, "5xx:never\n")
    assert run(capsys, "fmt", "--check", "-")[0] == 0
    _stdin(monkeypatch, "5xx:backoff(2,1s)")
    code, out, _ = run(capsys, "explain", "-")
    assert code == 0 and "policy: 5xx:backoff(2,1s)" in out
    _stdin(monkeypatch, "5xx:backoff(1,1s)\n")
    code, out, _ = run(capsys, "simulate", "-", "--outcomes", "503,200", "--seed", "0")
    assert code == 0 and "accept" in out
    _stdin(monkeypatch, json.dumps({"retry": {"5xx": {"strategy": "backoff", "limit": 2}}}))
    code, out, _ = run(capsys, "convert", "-f", "-", "--to", "policy")
    assert code == 0 and out.startswith("5xx:backoff(2")
    _stdin(monkeypatch, "5xx:never")
    assert run(capsys, "fmt", "--write", "-f", "-")[0] == 2


def test_stdin_is_read_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Naming standard input twice is a usage error, not a silent empty policy."""
    _stdin(monkeypatch, "5xx:never\n")
    code, _, err = run(capsys, "check", "-", "-f", "-")
    assert code == 2 and "only once" in err


def test_e2e_stdin_pipe() -> None:
    """Through a real pipe: `policy check -` and `policy check -f -`."""
    p = _proc("check", "-", stdin=BAD + "\n")
    assert p.returncode == 1 and "<stdin>:1:15: E002" in p.stdout, p.stdout + p.stderr
    p = _proc("check", "-q", "-f", "-", stdin=f"{GOOD}\n5xx:never\n")
    assert (p.returncode, p.stdout) == (0, "")
    assert "in 2 policies" in p.stderr


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


def test_fmt_check_names_each_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """fmt --check prints FILE:LINE:COL of every policy that is not canonical (and only
    those), with its canonical form, and exits 1; a canonical set exits 0 silently."""
    t = tmp_path / "p.txt"
    t.write_text("# ours\n5xx:never\n  5XX:backoff(3)  # retry\n429:headers()\n404:Never\n")
    f = tmp_path / "svc.toml"
    f.write_text(SERVICES.replace("x2,jitter", "X2,jitter").replace("30s..1s", "1s..30s"))
    t2 = tmp_path / "q.txt"
    t2.write_text("5xx:never\n")
    code, out, err = run(
        capsys, "fmt", "--check", "5xx:never", "5XX:never", "-f", str(t), "-f", str(t2)
    )
    assert code == 1
    assert out.splitlines() == [
        "<arg2>:1:1: not in canonical form, which is: 5xx:never",
        f"{t}:3:1: not in canonical form, which is: 5xx:backoff(3,1s..1m,x1.8)  # retry",
        f"{t}:5:1: not in canonical form, which is: 404:never",
    ]
    assert "3 of 7 policies not in canonical form" in err
    code, out, err = run(capsys, "fmt", "--check", "-f", str(f), "--key", "services.*.retry")
    assert code == 1
    col = SERVICES.splitlines()[1].index("5xx") + 1
    assert out.splitlines() == [
        f"{f}:2:{col}: not in canonical form, which is: "
        "5xx[idempotent]:backoff(3,1s..30s,x2,jitter)",
        f"{f}:5:{col}: not in canonical form, which is: "
        + str(policy.parse("5xx:backoff(3,1s..30s,jitter)")),
    ]
    assert "2 of 2 policies" in err
    t.write_text("5xx:never\n")
    assert run(capsys, "fmt", "--check", "-f", str(t))[:2] == (0, "")


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


def test_explain_standard_names_its_idempotent_only_rule(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """@standard retries reset and timeout for idempotent methods only: explain says so
    for the rule and in the methods summary, instead of "every method"."""
    code, out, _ = run(capsys, "explain", "@standard")
    assert code == 0
    assert "methods retried: every method" not in out
    idempotent = "GET, HEAD, PUT, DELETE, OPTIONS, TRACE only"
    assert f"  decides: timeout, reset ({idempotent})" in out
    summary = out[out.index("methods retried:") :].splitlines()
    assert summary[1:] == [
        "  429, 502-504, connect: every method",
        f"  timeout, reset ({idempotent})",
    ]


def _label(o: policy.Outcome) -> str:
    return str(o.status) if isinstance(o, policy.Response) else type(o).__name__


@pytest.mark.parametrize(
    "text",
    [
        "@standard",
        "5xx:backoff(3,1s,jitter) 503[GET]:never timeout[POST]:backoff(1,1s) "
        "connect[idempotent]:backoff(1,1s) methods=GET,POST,PUT",
        "5xx[PATCH]:backoff(2,1s) 500-503:never reset:backoff(1,1s) methods=PATCH",
        "429,5xx:backoff(2,1s)",
    ],
)
def test_explain_methods_agree_with_decide(capsys: pytest.CaptureFixture[str], text: str) -> None:
    """For every outcome and method, explain --json's retried_for says "retried" exactly
    when the evaluator retries the first such outcome for that method."""
    code, out, _ = run(capsys, "explain", "--json", text)
    assert code == 0
    groups = json.loads(out)["retried_for"]
    p = policy.parse(text)
    words = {"Timeout": "timeout", "ConnectFailure": "connect", "ConnectionReset": "reset"}
    probes: list[policy.Outcome] = [policy.Response(s) for s in (404, 429, 500, 503, 504)]
    probes += [policy.Timeout(), policy.ConnectFailure(), policy.ConnectionReset()]
    for o in probes:
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            claimed = any(
                (
                    o.status in g["statuses"]
                    if isinstance(o, policy.Response)
                    else words[_label(o)] in g["outcomes"]
                )
                and (method not in g["except"] if g["methods"] is None else method in g["methods"])
                for g in groups
            )
            d = p.decide(p.start(now=0), o, now=0, rand=lambda: 0.5, method=method)
            assert claimed == isinstance(d, policy.Retry), (_label(o), method, d)


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


def test_simulate_error_outcome(capsys: pytest.CaptureFixture[str]) -> None:
    """`error` is an outcome word of simulate, decided by the error matcher only."""
    code, out, _ = run(
        capsys, "simulate", "error:backoff(1,1s) all:never", "--outcomes", "error,error"
    )
    assert code == 0
    assert "error    retry" in out
    assert "limit reached: error:backoff 1/1" in out


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


# --- version, --json, did you mean -----------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    """--version prints the installed distribution's version and exits 0."""
    from importlib.metadata import version

    code, out, _ = run(capsys, "--version")
    assert (code, out) == (0, f"policy (retry-policy) {version('retry-policy')}\n")
    p = _proc("--version")
    assert p.returncode == 0 and p.stdout == out


EXPLAIN_KEYS = {
    "policy",
    "rules",
    "worst_case",
    "attempts",
    "deadline",
    "timeout",
    "methods",
    "retried_for",
    "pace",
    "sse",
    "budget",
    "inherited",
    "fleet",
}
RULE_KEYS = {
    "rule",
    "preset",
    "statuses",
    "outcomes",
    "methods",
    "decides_for",
    "strategy",
    "retries",
    "schedule",
    "worst_case",
}


def test_explain_json(capsys: pytest.CaptureFixture[str]) -> None:
    """explain --json: the documented keys, the numbers of the evaluator (seconds)."""
    text = "429:headers() 5xx:backoff(1000,1s..2s,x2,jitter) 5xx:never timeout=10s attempts=4"
    code, out, _ = run(capsys, "explain", "--json", text)
    assert code == 0
    data = json.loads(out)
    assert set(data) == EXPLAIN_KEYS
    p = policy.parse(text)
    assert data["policy"] == str(p)
    assert (data["timeout"], data["attempts"], data["deadline"]) == (10.0, 4, None)
    assert data["worst_case"] == {"wait": p.worst_case().wait, "requests": 4}
    assert [r["rule"] for r in data["rules"]] == [str(policy.Policy([r])) for r in p.rules]
    for r in data["rules"]:
        assert set(r) == RULE_KEYS
    headers, backoff, never = data["rules"]
    assert headers["statuses"] == [429] and headers["outcomes"] == []
    assert backoff["worst_case"] is None and backoff["statuses"] == []  # 5xx:never wins
    assert never["statuses"] == list(range(500, 600)) and never["retries"] == 0
    code, out, _ = run(capsys, "explain", "--json", "5xx:backoff(1000,1s..2s,x2,jitter)")
    (rule,) = json.loads(out)["rules"]
    sched = policy.parse("5xx:backoff(1000,1s..2s,x2,jitter)").schedule(policy.Response(503))
    assert rule["retries"] == 1000 == len(sched)
    assert [s["retry"] for s in rule["schedule"]] == [1, 2, 3, 4, 5, 999, 1000]
    for s in rule["schedule"]:
        assert (s["min"], s["max"]) == tuple(sched[s["retry"] - 1])


def test_simulate_json(capsys: pytest.CaptureFixture[str]) -> None:
    """simulate --json: one object with every step, the same numbers as the text."""
    argv = ["simulate", "5xx:backoff(3,1s..8s,x2,jitter)", "--outcomes", "503,503,200,503"]
    argv += ["--seed", "7", "--now", "100"]
    code, out, _ = run(capsys, *argv, "--json")
    assert code == 0
    data = json.loads(out)
    assert set(data) == {
        "policy",
        "start",
        "seed",
        "method",
        "steps",
        "not_reached",
        "retry_due",
        "requests",
        "waited",
    }
    assert (data["start"], data["seed"], data["method"]) == (100, 7, "GET")
    assert [s["decision"] for s in data["steps"]] == ["retry", "retry", "accept"]
    assert data["not_reached"] == 1 and data["retry_due"] is None and data["requests"] == 3
    first, second, last = data["steps"]
    assert set(first) == {"attempt", "at", "outcome", "decision", "wait", "reason"}
    assert (first["at"], first["outcome"]) == (0, "503")
    assert second["at"] == pytest.approx(first["wait"]) and last["wait"] is None  # jittered
    assert data["waited"] == pytest.approx(first["wait"] + second["wait"])
    text_rows = _rows(run(capsys, *argv)[1])
    assert [r[4] for r in text_rows[:2]] == [
        duration(round(s["wait"] * 1000)) for s in (first, second)
    ]


def test_did_you_mean(capsys: pytest.CaptureFixture[str]) -> None:
    """A header name where a family goes suggests the family; a misspelt outcome word the
    word."""
    code, out, _ = run(capsys, "check", "429:headers(x-ratelimit)")
    assert code == 1 and "did you mean 'x-ratelimit-*'?" in out
    with pytest.raises(policy.PolicyError, match=r"did you mean 'x-ratelimit-\*'"):
        policy.parse("429:headers(X-RateLimit-)")
    code, _, err = run(capsys, "simulate", "5xx:never", "--outcomes", "503,timout")
    assert code == 2 and "did you mean 'timeout'?" in err


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


def test_convert_readme_example_names_the_seed_equivalent(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A policy with full jitter, which the seed cannot say: convert names the seed's
    equivalent (randomize: true is jitter=scale) and the command that converts."""
    example = "429:headers(x-ratelimit-*) 5xx:backoff(5,1s..30s,x1.8,jitter)"
    code, out, err = run(capsys, "convert", example, "--to", "options")
    assert (code, out) == (1, "")
    assert "jitter (full jitter) has no seed option" in err
    assert "randomize: true is jitter=scale" in err
    suggested = err.splitlines()[-1].strip()
    nearest = example.replace("jitter)", "jitter=scale)")
    assert suggested == f"policy convert '{nearest}' --to options"
    code, out, _ = run(capsys, "convert", nearest, "--to", "options")
    assert code == 0 and json.loads(out)["retry"]["5xx"]["randomize"] is True
    code, _, err = run(capsys, "convert", "5xx:backoff(2,jitter) deadline=1m", "--to", "options")
    assert code == 1 and "it converts" not in err  # deadline= has no seed option either


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
    assert code == 1
    assert json.loads(out) == {"error": "no such thing"}  # the final response's body
    assert "no rule for 404" in err
    code, _, err = run(capsys, "fetch", "http://127.0.0.1:1/", "--timeout", "1s")
    assert code == 1 and "connect" in err


def test_fetch_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    """A bad --retry or --timeout or header is a usage error."""
    assert run(capsys, "fetch", "http://127.0.0.1:1/", "--retry", "5xx:nope")[0] == 2
    assert run(capsys, "fetch", "http://127.0.0.1:1/", "--timeout", "5h")[0] == 2
    code, _, err = run(capsys, "fetch", "http://127.0.0.1:1/", "-H", "Bearer SECRETTOKEN")
    assert code == 2 and "SECRETTOKEN" not in err and "Name: value" in err


def test_fetch_with_key_reuses_the_stored_result(
    server: DemoServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--key with --store answers the second call from the store, without a request."""
    argv = ["fetch", f"{server.url}/flaky?run=fetch3", "--retry", "5xx:backoff(3,10ms)"]
    argv += ["--cache-key", "k1", "--store", str(tmp_path / "s.db")]
    code, out, err = run(capsys, *argv)
    assert code == 0 and json.loads(out)["served_on_attempt"] == 3
    code, out2, err2 = run(capsys, *argv)
    assert (code, out2) == (0, out)
    assert "no request sent" in err2 and "no request sent" not in err


def test_fetch_same_key_other_url_is_a_clear_error(
    server: DemoServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A stored key asked for another URL is a usage error (exit 2) naming the stored
    request, not a traceback; nothing is sent."""
    store = str(tmp_path / "s.db")
    argv = ["--retry", "5xx:backoff(3,1ms)", "--cache-key", "k", "--store", store]
    assert run(capsys, "fetch", f"{server.url}/flaky?run=samekey1", *argv)[0] == 0
    code, out, err = run(capsys, "fetch", f"{server.url}/flaky?run=samekey2", *argv)
    assert (code, out) == (2, "")
    assert "key 'k' is already stored" in err and "another --cache-key" in err
    assert "Traceback" not in err and "ValueError" not in err
    assert server.hit("GET /flaky samekey2") == 1  # the second URL was never requested


def test_fetch_key_being_fetched_for_another_request(
    server: DemoServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A key that a live fetcher has claimed for another request is a usage error too."""
    import transport
    from transport._background import new_owner

    db = tmp_path / "s.db"
    store = transport.SqliteStore(str(db))
    state, _ = store.claim("k", "the identity of some other request", new_owner())
    assert state == "claimed"
    code, out, err = run(
        capsys, "fetch", f"{server.url}/flaky?run=claimed", "--cache-key", "k", "--store", str(db)
    )
    assert (code, out) == (2, "")
    assert "already names another request" in err and "being fetched" in err
    assert server.hit("GET /flaky claimed") == 1  # nothing was sent


def test_fetch_stored_result_is_marked_as_stored(
    server: DemoServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A result from the store says so and shows its attempts as a record, not as live
    attempts; a failure from the store prints its body and exits 1 again."""
    store = str(tmp_path / "s.db")
    argv = ["--retry", "5xx:backoff(3,1ms)", "--cache-key", "k", "--store", store]
    code, _, live = run(capsys, "fetch", f"{server.url}/flaky?run=stored1", *argv)
    assert code == 0
    assert "attempt 1: 503 -> retry in 1ms" in live and "from the store" not in live
    code, _, again = run(capsys, "fetch", f"{server.url}/flaky?run=stored1", *argv)
    assert code == 0
    assert "answered from the store" in again and "no request sent" in again
    assert not any(line.startswith("attempt ") for line in again.splitlines())
    assert "stored attempt 1: 503" in again and "stored attempt 3: 200" in again
    argv = ["--cache-key", "gone", "--store", store]
    first = run(capsys, "fetch", f"{server.url}/missing?run=stored2", *argv)
    second = run(capsys, "fetch", f"{server.url}/missing?run=stored2", *argv)
    assert first[:2] == second[:2] == (1, '{\n  "error": "no such thing"\n}\n')
    assert "answered from the store" in second[2]


def test_fetch_store_needs_key_and_no_retry_says_so(
    server: DemoServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--store without --cache-key is a usage error; without --retry fetch says "no retries"."""
    code, _, err = run(capsys, "fetch", f"{server.url}/flaky", "--store", str(tmp_path / "s"))
    assert code == 2 and "--cache-key" in err
    assert not (tmp_path / "s").exists()
    code, _, err = run(capsys, "fetch", f"{server.url}/flaky?run=noretry")
    assert code == 1
    assert "no retries" in err.splitlines()[0]
    assert "retry: " not in err


SECRETS = ("SECRETUSERNAME", "SECRETPASSWORD", "SECRETQUERYVALUE", "SECRETTOKEN")


@pytest.mark.parametrize(
    "url_and_args",
    [
        # user:password and a query secret; the call succeeds after two 503s
        ("{base}/flaky?run=sec1&api_key=SECRETQUERYVALUE", "--retry", "5xx:backoff(3,1ms)"),
        # the same through a keyed, stored fetch (twice: live, then from the store)
        ("{base}/flaky?run=sec2&api_key=SECRETQUERYVALUE", "--cache-key", "k", "--store", "{db}"),
        ("{base}/flaky?run=sec2&api_key=SECRETQUERYVALUE", "--cache-key", "k", "--store", "{db}"),
        # a final 404 and a 429 that gives up
        ("{base}/missing?api_key=SECRETQUERYVALUE",),
        ("{base}/come-back-in-an-hour?token=SECRETQUERYVALUE", "--retry", "429:headers(max=1s)"),
        # nobody listening; a port urllib3 refuses; a token as the whole user part
        ("http://SECRETUSERNAME:SECRETPASSWORD@127.0.0.1:1/p?api_key=SECRETQUERYVALUE",),
        ("http://SECRETTOKEN@127.0.0.1:99999/p?api_key=SECRETQUERYVALUE",),
        ("http://SECRETTOKEN@127.0.0.1:1/?SECRETQUERYVALUE", "--retry", "connect:backoff(1,1ms)"),
        # a short name: shown as *** too (a name can be a key)
        ("http://ab:SECRETPASSWORD@127.0.0.1:1/", "--retry", "connect:backoff(1,1ms)"),
    ],
    ids=["retried", "keyed", "stored", "404", "429", "refused", "bad-port", "token", "short"],
)
def test_e2e_fetch_never_prints_url_secrets(
    server: DemoServer, tmp_path_factory: pytest.TempPathFactory, url_and_args: tuple[str, ...]
) -> None:
    """No credential or query value of the URL reaches stdout or stderr, whatever the end."""
    db = tmp_path_factory.getbasetemp() / "secrets.db"
    base = server.url.replace("http://", "http://SECRETUSERNAME:SECRETPASSWORD@")
    url, *rest = (a.format(base=base, db=db) for a in url_and_args)
    p = _proc("fetch", url, *rest)
    assert p.returncode in (0, 1), p.stderr
    assert "127.0.0.1" in p.stderr  # the URL is shown, masked
    assert "http://***@127.0.0.1:" in p.stderr.splitlines()[0]
    assert "ab:" not in p.stderr
    for secret in SECRETS:
        assert secret not in p.stdout + p.stderr, p.stderr
    assert "Traceback" not in p.stderr


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


def _proc(*argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    return subprocess.run(
        [*_cmd(), *argv],
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
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


def _closed_pipe(*argv: str, stderr_too: bool = False) -> subprocess.CompletedProcess[bytes]:
    """Run the command with its standard output (and error) a pipe whose reader is gone."""
    r, w = os.pipe()
    os.close(r)  # the reader goes away before the command writes a byte
    try:
        env = {**os.environ, "PYTHONWARNINGS": "error"}
        return subprocess.run(
            [*_cmd(), *argv],
            stdin=subprocess.DEVNULL,
            stdout=w,
            stderr=w if stderr_too else subprocess.PIPE,
            timeout=60,
            env=env,
            check=False,
        )
    finally:
        os.close(w)


@pytest.mark.parametrize(
    "argv",
    [
        ["presets"],
        ["check", BAD],
        ["check", "--json", BAD],
        ["fmt", "5XX:never"],
        ["explain", "@standard"],
        ["simulate", "5xx:backoff(1,1ms)", "--outcomes", "503,200", "--seed", "1"],
        ["convert", "5xx:backoff(2,1s..2s,x2)", "--to", "options"],
    ],
    ids=lambda a: " ".join(a)[:30],
)
def test_e2e_pipe_closed_early(argv: list[str]) -> None:
    """A reader that goes away (`policy presets | head`) ends the command quietly with exit
    141, as SIGPIPE ends a program: no BrokenPipeError, no traceback."""
    p = _closed_pipe(*argv)
    assert p.returncode == 141, p.stderr
    assert b"Traceback" not in p.stderr and b"BrokenPipe" not in p.stderr, p.stderr
    assert b"Exception ignored" not in p.stderr, p.stderr


def test_e2e_help_into_a_closed_pipe() -> None:
    """--help into a closed pipe ends quietly too (argparse drops the failed write)."""
    p = _closed_pipe("--help")
    assert p.returncode in (0, 141) and p.stderr == b""


def test_e2e_pipe_closed_for_fetch_and_demo(server: DemoServer) -> None:
    """fetch (body on stdout, progress on stderr) and demo stop quietly on a closed pipe."""
    p = _closed_pipe("fetch", f"{server.url}/flaky?run=pipe", "--retry", "5xx:backoff(3,1ms)")
    assert p.returncode == 141 and b"Traceback" not in p.stderr, p.stderr
    p = _closed_pipe("fetch", f"{server.url}/flaky?run=pipe2", stderr_too=True)
    assert p.returncode == 141
    p = _closed_pipe("demo", stderr_too=True)
    assert p.returncode == 141


def test_e2e_head_reads_one_line() -> None:
    """`policy presets | head -n 1` as the shell runs it: the first line, no error."""
    proc = subprocess.Popen([*_cmd(), "presets"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()
    try:
        errors = proc.stderr.read()
        code = proc.wait(timeout=60)
    finally:
        proc.kill()
        proc.stderr.close()
    assert first.startswith(b"@")
    assert code in (0, 141)
    assert errors == b""


def _loaded_after(code: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys\nprint(' '.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return set(done.stdout.split())


def test_cold_check_loads_only_what_it_needs() -> None:
    """`policy check` loads neither the transport (urllib3) nor the other commands."""
    loaded = _loaded_after("from policy.cli import main; main(['check', '-q', '5xx:never'])")
    assert "policy.cli.check" in loaded
    unwanted = {
        "transport",
        "urllib3",
        "policy.cli._demo",
        "policy.cli.fetch",
        "policy.cli.explain",
        "policy.cli.simulate",
        "policy.cli.convert",
        "policy.language._options",
    }
    assert loaded.isdisjoint(unwanted), loaded & unwanted


def test_demo_does_not_import_the_cli() -> None:
    """Data flows one way: the CLI's commands call the demo, the demo imports none of them."""
    loaded = _loaded_after("import policy.cli._demo")
    commands = {m for m in loaded if m.startswith("policy.cli.") and "._" not in m}
    assert not commands, commands


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


def test_explain_json_says_what_pacing_and_the_budget_mean(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """explain --json carries pace, the budget ratio and the I203/I204 lines in words."""
    assert main(["explain", "--json", "pace=on budget=20% 5xx:backoff(3)"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["pace"] is True
    assert data["budget"] == 0.2
    assert any("20%" in line for line in data["fleet"])
    assert any("pacing: on" in line for line in data["fleet"])
    assert main(["explain", "--json", "5xx:backoff(3)"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert (plain["pace"], plain["budget"], plain["fleet"]) == (False, None, [])
