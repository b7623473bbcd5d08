"""Settings (``timeout=10s``, ``budget=20%``...) and preset references: the items of a
policy that are not rules, and the ``Item`` union they form with ``Rule``.

Like the rule nodes in ``_ast``, every class is a frozen attrs value validated on
construction.  ``rules_of`` and ``setting_of`` read a sequence of items, so that the
renderer, the seed-options writer and ``Policy`` share one reading without importing
``Policy`` itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from typing import Any, TypeAlias, TypeVar

import attrs

from ._ast import (
    FAILURE_MATCHERS,
    MAX_DURATION_MS,
    MAX_LIMIT,
    TIMEOUT_MAX_MS,
    TIMEOUT_MIN_MS,
    Matcher,
    Rule,
    Span,
    in_range,
    methods_ok,
    span_field,
    to_fraction,
    to_tuple,
)
from ._breaker_setting import BreakerSetting

__all__ = [
    "MAX_BUDGET_PERCENT",
    "AttemptsSetting",
    "BreakerSetting",
    "BudgetSetting",
    "DeadlineSetting",
    "Item",
    "MethodsSetting",
    "PaceSetting",
    "PresetRef",
    "Setting",
    "SseSetting",
    "TimeoutSetting",
    "kind_of",
    "rules_of",
    "setting_of",
]

#: The largest retry budget, in percent of first attempts (``budget=1000%``).
MAX_BUDGET_PERCENT = 1000


@attrs.frozen
class TimeoutSetting:
    """``timeout=10s``: the per-attempt timeout (1s..2m, as the seed requires)."""

    ms: int = attrs.field(validator=in_range(TIMEOUT_MIN_MS, TIMEOUT_MAX_MS, "timeout (ms)"))
    span: Span | None = span_field()


@attrs.frozen
class DeadlineSetting:
    """``deadline=2m``: the budget for the whole call."""

    ms: int = attrs.field(validator=in_range(1, MAX_DURATION_MS, "deadline (ms)"))
    span: Span | None = span_field()


@attrs.frozen
class AttemptsSetting:
    """``attempts=10``: the cap on total requests."""

    count: int = attrs.field(validator=in_range(1, MAX_LIMIT, "attempts"))
    span: Span | None = span_field()


@attrs.frozen
class MethodsSetting:
    """``methods=GET,PUT`` (``None`` stands for ``*``: every method)."""

    methods: tuple[str, ...] | None = attrs.field(
        converter=attrs.converters.optional(to_tuple), validator=methods_ok
    )
    span: Span | None = span_field()


@attrs.frozen
class PaceSetting:
    """``pace=on`` / ``pace=off``: pre-emptive pacing from rate-limit headers.

    With pacing on, a response that says the quota is spent (``Policy.hold``) holds its
    origin for every call sharing the adapter until the quota resets.  ``pace=off`` is
    the default; written explicitly it is kept (and rendered), as ``methods=*`` is.
    """

    on: bool = attrs.field(validator=attrs.validators.instance_of(bool))
    span: Span | None = span_field()
    #: ``pace=adaptive``: pacing on, plus the adaptive client-side rate limiter.
    adaptive: bool = attrs.field(
        default=False, kw_only=True, validator=attrs.validators.instance_of(bool)
    )

    def __attrs_post_init__(self) -> None:
        if self.adaptive and not self.on:
            raise ValueError("pace=adaptive is pacing on: on must be True")


@attrs.frozen
class SseSetting:
    """``sse=on`` / ``sse=off``: read a 2xx ``text/event-stream`` response up to its first
    event and decide an error event as the status it stands for (adapters that never hand
    back an unread body ignore it).  ``sse=off`` is the default and equals its absence."""

    on: bool = attrs.field(validator=attrs.validators.instance_of(bool))
    span: Span | None = span_field()


def _check_percent(_inst: object, _attr: attrs.Attribute[Any], value: Fraction) -> None:
    if not isinstance(value, Fraction) or not 0 <= value <= MAX_BUDGET_PERCENT:
        raise ValueError(f"budget must be between 0% and {MAX_BUDGET_PERCENT}% (got {value!r})")
    if (value * 1000).denominator != 1:
        raise ValueError(f"budget may have at most three decimals (got {float(value)}%)")


@attrs.frozen
class BudgetSetting:
    """``budget=20%``: retries per origin ≤ that share of first attempts (+ a floor).

    ``percent`` is exact (a ``Fraction``, at most three decimals); ``Policy.budget`` is
    the ratio (``percent / 100``).
    """

    percent: Fraction = attrs.field(converter=to_fraction, validator=_check_percent)
    span: Span | None = span_field()


Setting: TypeAlias = (
    TimeoutSetting
    | DeadlineSetting
    | AttemptsSetting
    | MethodsSetting
    | PaceSetting
    | BudgetSetting
    | SseSetting
    | BreakerSetting
)
SETTING_TYPES = (
    TimeoutSetting,
    DeadlineSetting,
    AttemptsSetting,
    MethodsSetting,
    PaceSetting,
    BudgetSetting,
    SseSetting,
    BreakerSetting,
)


@attrs.frozen
class PresetRef:
    """``@name``: a named set of rules from the rules library, inserted in its place.

    ``settings`` are the defaults the preset carries (``@openai``: ``attempts=3 sse=on``);
    they follow from the name, so equality leaves them out.
    """

    name: str
    rules: tuple[Rule, ...] = attrs.field(converter=to_tuple)
    span: Span | None = span_field()
    settings: tuple[Setting, ...] = attrs.field(
        default=(), converter=to_tuple, eq=False, repr=False, kw_only=True
    )


Item: TypeAlias = Rule | Setting | PresetRef


#: The kinds of outcome a matcher can match (what ``Policy`` equality groups rules by).
KINDS = ("status", "timeout", "connect", "reset", "error")


def kind_of(m: Matcher) -> str:
    """``status`` for a status matcher, else the failure matcher's word."""
    return m.word if isinstance(m, FAILURE_MATCHERS) else "status"


def rules_of(items: Iterable[Item]) -> tuple[Rule, ...]:
    """Every rule of ``items``, presets expanded in place, in order."""
    out: list[Rule] = []
    for item in items:
        if isinstance(item, Rule):
            out.append(item)
        elif isinstance(item, PresetRef):
            out.extend(item.rules)
    return tuple(out)


_S = TypeVar("_S")


def setting_of(items: Iterable[Item], kind: type[_S]) -> _S | None:
    """The setting of type ``kind`` among ``items``, or ``None``."""
    for item in items:
        if isinstance(item, kind):
            return item
    return None
