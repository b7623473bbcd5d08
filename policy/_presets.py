"""The rules library: named policy fragments inserted by ``@name`` (SPEC §1.2).

Each preset is written in the policy language itself, parsed and validated when first
used (and by the test suite), and may hold rules only, no settings or other presets.
"""

from __future__ import annotations

import attrs

from ._ast import Rule

__all__ = ["PRESETS", "Preset", "expand"]


@attrs.frozen
class Preset:
    """A named set of rules: ``text`` in the policy language, with what it is for."""

    name: str
    text: str
    description: str
    sources: tuple[str, ...] = ()


#: Known presets by lower-case name.  Filled by the rules-library work (issue 6).
PRESETS: dict[str, Preset] = {}


def expand(preset: Preset) -> tuple[Rule, ...]:
    """The rules of ``preset``, parsed from its text (cached by the parser)."""
    from ._parse import parse

    parsed = parse(preset.text)
    if len(parsed.rules) != len(parsed.items):
        raise ValueError(f"preset @{preset.name} may hold rules only")
    return parsed.rules
