"""Usage of the ``policy`` command: each command's own usage on a stray argument, the
examples in every command's help, fetch's ``--cache-key`` (and its old spelling ``--key``),
and ``--timeout`` hints that suggest a value the command then takes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from policy.cli import COMMANDS, main
from policy.cli._demo import DemoServer


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def server() -> Iterator[DemoServer]:
    with DemoServer(retry_after="0.05") as s:
        yield s


def test_a_second_policy_word_shows_the_commands_usage(capsys: pytest.CaptureFixture[str]) -> None:
    """``policy explain A B``: explain's usage and a hint to quote, not the top level's."""
    code, _, err = run(capsys, "explain", "5xx:backoff(3)", "429:headers()")
    assert code == 2
    assert "unrecognized arguments: 429:headers()" in err
    assert "quote a policy that has spaces" in err
    assert "usage: policy explain" in err
    assert "usage: policy [-h]" not in err


@pytest.mark.parametrize("command", ["check", "fmt", "simulate", "presets", "fetch"])
def test_an_unknown_option_shows_the_commands_usage(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    argv = {"simulate": ["5xx:never"], "fetch": ["http://127.0.0.1:9/"]}.get(command, [])
    code, _, err = run(capsys, command, *argv, "--no-such-option")
    assert code == 2
    assert "unrecognized arguments: --no-such-option" in err
    assert f"usage: policy {command}" in err


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_help_ends_with_examples(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """Each example line is a ``policy COMMAND`` line of that command."""
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    examples = out.split("\nexamples:\n", 1)[1].splitlines()
    lines = [x.strip() for x in examples if x.startswith("  policy ")]
    assert lines and all(x.startswith(f"policy {command}") for x in lines), examples


@pytest.mark.parametrize("command", ["check", "explain", "simulate", "convert"])
def test_the_examples_that_need_no_network_run(
    capsys: pytest.CaptureFixture[str], command: str, tmp_path: Path
) -> None:
    """The examples that name no file and no URL run and exit 0 (warnings allowed)."""
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    for line in out.split("\nexamples:\n", 1)[1].splitlines():
        if not line.startswith("  policy ") or re.search(r"-f |--plot|http", line):
            continue
        import shlex

        argv = shlex.split(line.strip())[1:]
        assert main(argv) == 0, line
        capsys.readouterr()


def test_fetch_cache_key_and_its_old_spelling(
    capsys: pytest.CaptureFixture[str], server: DemoServer, tmp_path: Path
) -> None:
    """``--cache-key`` keys the fetch; ``--key`` still does, with a note; both at once is
    a usage error."""
    store = str(tmp_path / "s.db")
    url = f"{server.url}/flaky?run=cachekey"
    base = ["fetch", url, "--retry", "5xx:backoff(3,1ms)", "--store", store]
    code, _, err = run(capsys, *base, "--cache-key", "k")
    assert code == 0, err
    assert "note:" not in err
    code, _, err = run(capsys, *base, "--key", "k")
    assert code == 0, err
    assert "note: --key is now --cache-key" in err
    assert "answered from the store" in err
    code, _, err = run(capsys, *base, "--key", "k", "--cache-key", "k")
    assert code == 2 and "give one of them" in err


@pytest.mark.parametrize(
    ("given", "hint"),
    [
        ("10", "write 10s"),
        ("90", "write 90s"),
        ("5000", "write 5000ms"),
        ("5 seconds", "not a duration"),
        ("10s deadline=1s", "not a duration"),
        ("ten", "not a duration"),
    ],
)
def test_timeout_hints_name_a_value_that_works(
    capsys: pytest.CaptureFixture[str], given: str, hint: str
) -> None:
    """The hint's value is one ``--timeout`` then accepts (before: ``10`` suggested
    ``10ms``, below the 1 s minimum, and ``5 seconds`` said the policy ended too early)."""
    code, _, err = run(capsys, "fetch", "http://127.0.0.1:9/", "--timeout", given)
    assert code == 2
    assert hint in err
    assert "policy ends too early" not in err
    suggested = re.search(r"write (\S+)\)", err)
    if suggested:
        from policy.cli.fetch import _timeout

        assert _timeout(suggested.group(1)) is not None
