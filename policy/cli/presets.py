"""``policy presets``: the presets, their rules and sources."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..language._parse import parse
from ._io import out

if TYPE_CHECKING:
    import argparse

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    """List every preset (``--names``: the names only)."""
    from ..language._presets import PRESETS

    stream = out()
    if not PRESETS:
        print("no presets are defined", file=stream)
        return 0
    for name in sorted(PRESETS):
        pre = PRESETS[name]
        if args.names:
            print(f"@{name}", file=stream)
            continue
        print(f"@{name}: {pre.description}", file=stream)
        print(f"    {parse(pre.text)}", file=stream)
        for s in pre.sources:
            print(f"    source: {s}", file=stream)
    return 0
