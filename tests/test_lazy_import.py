"""``import policy`` loads only what parsing needs; every public name is still importable."""

from __future__ import annotations

import subprocess
import sys

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
    assert "policy._parse" in loaded
    assert loaded.isdisjoint(
        {
            "policy._evaluate",
            "policy._decide",
            "policy._straight",
            "policy._schedule",
            "policy._options",
            "policy._presets",
            "policy._lint",
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
    from policy import _options, _outcomes, _presets, _schedule

    assert policy.WorstCase is _schedule.WorstCase
    assert policy.from_options is _options.from_options
    assert policy.Retry is _outcomes.Retry
    assert policy.PRESETS is _presets.PRESETS
    from policy import _lint

    assert policy.lint is _lint.lint
    assert policy.Diagnostic is _lint.Diagnostic
    assert policy.Outcome is _outcomes.Outcome
    assert set(policy.__all__) <= set(dir(policy))


def test_unknown_name_is_an_attribute_error() -> None:
    """A name the package does not define raises AttributeError, as for any module."""
    with pytest.raises(AttributeError, match="no_such_name"):
        policy.no_such_name  # type: ignore[attr-defined]  # noqa: B018


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
