"""What every command shares: the usage error, the output streams, paths.

Commands print through ``out()`` and ``err()`` (looked up on each call, so tests that
swap ``sys.stdout`` see everything).
"""

from __future__ import annotations

import sys
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["STDIN", "Failed", "UsageError", "err", "out", "path", "read_stdin", "reset_stdin"]

#: How standard input is named in messages and findings (``-`` on the command line).
STDIN = "<stdin>"
_stdin_read: list[bool] = []


class UsageError(Exception):
    """A usage problem: bad arguments, an unreadable file, a missing key (exit 2)."""


class Failed(Exception):
    """Diagnostics were printed; exit 1."""


def out() -> IO[str]:
    """Where results go: standard output."""
    return sys.stdout


def err() -> IO[str]:
    """Where diagnostics for people and progress go: standard error."""
    return sys.stderr


def path(name: str) -> Path:
    """``Path(name)``; pathlib (with urllib.parse) is imported only by commands on files."""
    from pathlib import Path

    return Path(name)


def reset_stdin() -> None:
    """Forget that standard input was read (each run of ``main`` starts afresh)."""
    _stdin_read.clear()


def read_stdin() -> str:
    """All of standard input, once per run; ``-`` a second time is a usage error."""
    if _stdin_read:
        raise UsageError("standard input (-) can be read only once in a command")
    _stdin_read.append(True)
    stream = sys.stdin
    if stream is None:
        raise UsageError("- reads standard input, but there is none")
    try:
        return stream.read()
    except UnicodeDecodeError as exc:
        raise UsageError(f"{STDIN}: cannot read: {exc}") from None
    except OSError as exc:
        raise UsageError(f"{STDIN}: cannot read: {exc}") from None
