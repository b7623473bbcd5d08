"""``import policy`` loads only what parsing needs; every public name is still importable."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

import policy


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout


def test_import_loads_only_the_parser() -> None:
    """A fresh `import policy` and a parse leave evaluator, options, presets and lint unloaded."""
    out = _run(
        "import sys, policy\n"
        "policy.parse('429:headers(x-ratelimit-*) 5xx:backoff(5,1s..30s,x1.8,jitter)')\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('policy'))))\n"
    )
    loaded = set(out.split())
    assert "policy.language._parse" in loaded
    assert loaded.isdisjoint(
        {
            "policy.evaluate._evaluate",
            "policy.evaluate._decide",
            "policy.evaluate._straight",
            "policy.evaluate._schedule",
            "policy.language._options",
            "policy.language._presets",
            "policy.check._lint",
            "lark",
        }
    )


def test_every_public_name_imports_in_a_fresh_process() -> None:
    """`from policy import X` works for each name of __all__ in a new process, and `*` too."""
    out = _run(
        "import policy\n"
        "for name in policy.__all__:\n"
        "    exec(f'from policy import {name}')\n"
        "    print(name)\n"
        "namespace = {}\n"
        "exec('from policy import *', namespace)\n"
        "print(sorted(set(policy.__all__) - set(namespace)))\n"
    )
    assert out.split("\n")[: len(policy.__all__)] == list(policy.__all__)
    assert out.splitlines()[-1] == "[]"


def test_lazy_names_are_the_module_objects() -> None:
    """A lazily imported name is the very object its module defines, and dir() lists it."""
    from policy.evaluate import _schedule
    from policy.language import _options, _outcomes, _presets

    assert policy.WorstCase is _schedule.WorstCase
    assert policy.from_options is _options.from_options
    assert policy.Retry is _outcomes.Retry
    assert policy.PRESETS is _presets.PRESETS
    from policy.check import _lint

    assert policy.lint is _lint.lint
    assert policy.Diagnostic is _lint.Diagnostic
    assert policy.Outcome is _outcomes.Outcome
    assert set(policy.__all__) <= set(dir(policy))


def test_unknown_name_is_an_attribute_error() -> None:
    """A name the package does not define raises AttributeError, as for any module."""
    with pytest.raises(AttributeError, match="no_such_name"):
        policy.no_such_name  # type: ignore[attr-defined]  # noqa: B018


EXAMPLE = "429:headers(x-ratelimit-*) 5xx:backoff(5,1s..30s,x1.8,jitter)"

#: What a cold ``policy check`` may import beyond what the interpreter starts with: attrs
#: and the standard modules it pulls in (inspect, typing, platform, threading, ...), the
#: few modules parsing, linting and argparse need, and nothing else (no json, tomllib,
#: pathlib, shutil, lark, urllib3, ...).  A new import on this path costs every cold start.
_CHECK_MAY_LOAD = {
    # attrs and what it imports
    "__future__", "_ast", "_collections", "_functools", "_opcode", "_operator", "_sre",
    "_typing", "_weakrefset", "ast", "attr", "attrs", "collections", "collections.abc",
    "contextlib", "copy", "copyreg", "dis", "enum", "functools", "importlib",
    "importlib._bootstrap", "importlib._bootstrap_external", "importlib.machinery",
    "inspect", "itertools", "keyword", "linecache", "opcode", "operator", "platform", "re",
    "reprlib", "threading", "token", "tokenize", "types", "typing", "typing.io", "typing.re",
    "unicodedata", "warnings", "weakref",
    # exact numbers in the AST (Fraction), the evaluator's jitter and tables
    "_bisect", "_decimal", "_random", "_sha512", "bisect", "decimal", "fractions", "math",
    "numbers", "random",
    # argparse, and gettext with locale, which it reads its messages through
    "_locale", "argparse", "errno", "gettext", "locale",
}  # fmt: skip

#: Library modules a cold ``policy check`` must not load.
_CHECK_MUST_NOT_LOAD = {
    "policy.fleet._command", "policy.fleet._simulate", "policy.fleet._plot", "policy.cli._demo",
    "policy.language._options", "policy.language._presets", "policy.evaluate._pace",
    "policy.cli.fmt", "policy.cli.explain",
    "policy.cli.simulate", "policy.cli.convert", "policy.cli.presets",
    "policy.cli.fetch", "policy.cli.demo",
}  # fmt: skip


def test_cold_check_imports_only_what_it_needs() -> None:
    """`policy check '<example>'` in a fresh process loads nothing outside an allowed list.

    Standard and third-party modules must be in ``_CHECK_MAY_LOAD`` (``re._parser`` counts
    as ``re``); of the library, neither the fleet, the options, the presets nor the other
    commands load.  This keeps the cold start short (bench/bench_parse.py measures it).
    """
    out = _run(
        "import sys\n"
        "before = set(sys.modules)\n"
        "from policy.cli import main\n"
        f"code = main(['check', {EXAMPLE!r}])\n"
        "sys.stdout.flush()\n"
        "print('\\nLOADED', code, ' '.join(sorted(set(sys.modules) - before)))\n"
    )
    line = next(x for x in out.splitlines() if x.startswith("LOADED "))
    _, code, *loaded = line.split()
    assert code == "0"
    library = {m for m in loaded if m == "policy" or m.startswith("policy.")}
    assert "policy.cli.check" in library
    assert library.isdisjoint(_CHECK_MUST_NOT_LOAD), library & _CHECK_MUST_NOT_LOAD
    others = {m for m in loaded if m not in library}
    outside = {
        m for m in others if m.split(".")[0] not in _CHECK_MAY_LOAD and m not in _CHECK_MAY_LOAD
    }
    assert not outside, sorted(outside)


def test_a_command_parser_has_the_arguments_of_the_full_parser() -> None:
    """Each command's arguments, defined alone for a cold start, are the full parser's."""
    from policy.cli import COMMANDS, _parser

    full = _parser([])
    assert full.format_help() == _parser(["check"]).format_help()
    for name in COMMANDS:
        alone = _parser([name, "x"])
        assert _sub(alone, name).format_help() == _sub(full, name).format_help()
        assert _described(_sub(alone, name)) == _described(_sub(full, name))
    assert set(COMMANDS) == set(_subparsers(full))


def _subparsers(parser: object) -> dict[str, object]:
    import argparse

    assert isinstance(parser, argparse.ArgumentParser)
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _sub(parser: object, name: str) -> Any:
    return _subparsers(parser)[name]


def _described(parser: Any) -> list[tuple[object, ...]]:
    return [
        (a.dest, tuple(a.option_strings), a.nargs, a.default, a.type, a.choices, a.required)
        for a in parser._actions
    ]


def test_import_policy_and_transport_load_neither_redis_nor_celery() -> None:
    """`import policy, transport` (and a parse) import no redis, celery or kombu module."""
    out = _run(
        "import sys, policy, transport\n"
        "policy.parse('5xx:backoff(3)')\n"
        "print(' '.join(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('redis', 'celery', 'kombu'))))\n"
    )
    assert out.split() == []


def test_fleet_names_load_on_first_use() -> None:
    """transport.RedisState imports redis only when it is first used, and dir() lists it."""
    import transport

    assert "RedisState" in dir(transport)
    out = _run(
        "import sys, transport\n"
        "print('redis' in sys.modules)\n"
        "transport.RedisState\n"
        "print('redis' in sys.modules)\n"
    )
    assert out.split() == ["False", "True"]
    with pytest.raises(AttributeError, match="no_such_name"):
        transport.no_such_name  # type: ignore[attr-defined]  # noqa: B018


def test_a_star_import_needs_no_extra() -> None:
    """`from transport import *` imports no redis or celery: the fleet names are lazy only."""
    out = _run(
        "import sys\n"
        "from transport import *\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('redis', 'celery')))\n"
    )
    assert out.strip() == "[]"
