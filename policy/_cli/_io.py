"""What every command shares: the usage error, the output streams, paths.

Commands print through ``out()`` and ``err()`` (looked up on each call, so tests that
swap ``sys.stdout`` see everything).
"""

from __future__ import annotations

import sys
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["Failed", "UsageError", "err", "out", "path"]


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
