"""``policy demo``: policies at work against an embedded loopback server."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._io import out

if TYPE_CHECKING:
    import argparse

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    """Run every scenario of the demo; 0 if each ended as expected."""
    from ._demo import demo

    return demo(out())
