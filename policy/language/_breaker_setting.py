"""``breaker=``: the circuit breaker setting (``breaker=5``, ``breaker=50%/1m/open=10s``).

A value node like the other settings (frozen attrs, validated on construction); the
fields are what the breaker itself (``policy.loop``) reads: ``threshold`` (N failed
attempts in a row, or P percent with ``ratio``), ``window_ms`` and ``min`` (a ratio's
window and the attempts it needs before it may trip), ``open_ms`` (how long the circuit
stays open) and ``probes`` (the trial calls of half-open).
"""

from __future__ import annotations

from typing import Any, Final

import attrs

from ._ast import MAX_DURATION_MS, MAX_LIMIT, Span, in_range, span_field

__all__ = [
    "BREAKER_DEFAULTS",
    "MAX_PROBES",
    "MIN_WINDOW_MS",
    "BreakerSetting",
]

#: The defaults of the options (``window``, ``open``, ``min``, ``probes``).
BREAKER_DEFAULTS: Final = {"window_ms": 30_000, "open_ms": 30_000, "min": 20, "probes": 1}
#: A ratio's window moves in ten steps: it must be at least a second.
MIN_WINDOW_MS: Final = 1000
#: The most probes a half-open circuit lets through.
MAX_PROBES: Final = 1000


def _threshold_ok(inst: Any, _attr: attrs.Attribute[Any], value: int) -> None:
    hi = 100 if inst.ratio else MAX_LIMIT
    if type(value) is not int or not 1 <= value <= hi:
        what = "a breaker's percentage" if inst.ratio else "a breaker's failures in a row"
        raise ValueError(f"{what} must be between 1 and {hi} (got {value!r})")


@attrs.frozen
class BreakerSetting:
    """``breaker=5`` (``ratio`` false: open after 5 failed attempts in a row) or
    ``breaker=50%`` (``ratio``: open when 50 % of the attempts of the last ``window_ms``
    failed, once there were ``min``); ``open_ms`` open, then ``probes`` trial calls."""

    threshold: int = attrs.field(validator=_threshold_ok)
    ratio: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    window_ms: int = attrs.field(
        default=30_000, validator=in_range(MIN_WINDOW_MS, MAX_DURATION_MS, "window (ms)")
    )
    open_ms: int = attrs.field(default=30_000, validator=in_range(1, MAX_DURATION_MS, "open (ms)"))
    min: int = attrs.field(default=20, validator=in_range(1, MAX_LIMIT, "min"))
    probes: int = attrs.field(default=1, validator=in_range(1, MAX_PROBES, "probes"))
    span: Span | None = span_field()

    def __attrs_post_init__(self) -> None:
        if not self.ratio and (
            self.window_ms != BREAKER_DEFAULTS["window_ms"] or self.min != BREAKER_DEFAULTS["min"]
        ):
            raise ValueError("a window and min= mean something only for breaker=P% (a ratio)")
