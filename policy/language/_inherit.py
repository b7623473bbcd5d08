"""Settings a preset carries (``@openai`` carries ``attempts=3 sse=on``): which apply.

A preset may set defaults.  A setting written in the policy wins over every preset's;
otherwise the first preset that sets it gives it.  Two presets that set one setting to
different values, with none written, are a conflict: the parser reports it at the second
preset, naming both (a written setting settles it).  ``Policy``'s setting properties,
its equality, ``to_options`` and ``policy explain`` all read the *effective* settings
through ``effective``; the canonical form keeps only what was written.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from ._render import render_item
from ._settings import (
    SETTING_TYPES,
    AttemptsSetting,
    BudgetSetting,
    DeadlineSetting,
    Item,
    MethodsSetting,
    PaceSetting,
    PresetRef,
    Setting,
    SseSetting,
    TimeoutSetting,
)

__all__ = ["Conflict", "Inherited", "conflicts", "effective", "inherited", "setting_name"]

_NAMES: dict[type[Any], str] = {
    TimeoutSetting: "timeout",
    DeadlineSetting: "deadline",
    AttemptsSetting: "attempts",
    MethodsSetting: "methods",
    PaceSetting: "pace",
    BudgetSetting: "budget",
    SseSetting: "sse",
}


def setting_name(setting: Setting) -> str:
    """``attempts`` for ``attempts=3`` (the word before ``=``)."""
    return _NAMES[type(setting)]


class Inherited(NamedTuple):
    """A setting a preset gives the policy (no written setting of its kind)."""

    setting: Setting
    preset: str  # the preset's name, without ``@``


class Conflict(NamedTuple):
    """Two presets that set one setting differently, with none written."""

    name: str  # the setting's name (``attempts``)
    first: PresetRef
    first_value: Setting
    second: PresetRef
    second_value: Setting

    def message(self) -> str:
        return (
            f"@{self.first.name} sets {render_item(self.first_value)} and "
            f"@{self.second.name} sets {render_item(self.second_value)}: write "
            f"{self.name}=... to choose"
        )


def _written(items: Iterable[Item]) -> set[type[Any]]:
    return {type(i) for i in items if isinstance(i, SETTING_TYPES)}


def inherited(items: tuple[Item, ...]) -> tuple[Inherited, ...]:
    """The settings presets give: no written setting of their kind, first preset wins."""
    if not any(type(i) is PresetRef and i.settings for i in items):
        return ()
    written = _written(items)
    out: dict[type[Any], Inherited] = {}
    for item in items:
        if type(item) is PresetRef:
            for s in item.settings:
                if type(s) not in written and type(s) not in out:
                    out[type(s)] = Inherited(s, item.name)
    return tuple(out.values())


def effective(items: tuple[Item, ...]) -> tuple[Setting, ...]:
    """Every setting in force: the written ones, then the inherited ones."""
    own = tuple(i for i in items if isinstance(i, SETTING_TYPES))
    return own + tuple(i.setting for i in inherited(items))


def conflicts(items: tuple[Item, ...]) -> list[Conflict]:
    """Presets that disagree on a setting no written setting settles (each pair once,
    against the first preset that set it)."""
    written = _written(items)
    first: dict[type[Any], tuple[PresetRef, Setting]] = {}
    out: list[Conflict] = []
    for item in items:
        if type(item) is not PresetRef:
            continue
        for s in item.settings:
            kind = type(s)
            if kind in written:
                continue
            seen = first.get(kind)
            if seen is None:
                first[kind] = (item, s)
            elif seen[1] != s:
                out.append(Conflict(setting_name(s), seen[0], seen[1], item, s))
    return out
