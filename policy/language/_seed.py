"""The seed's vocabulary, shared by both directions of the options converter.

The key names, defaults and reset-format names of the seed's ``retry`` and ``timeout``
objects, the value printer used in every message (``show``: short, never raises, whatever
the input), and ``Problems``, which collects every problem before one
``PolicyValueError`` is raised.  ``_options`` reads the seed's objects, ``_options_out``
writes them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from ._ast import ResetFormat
from ._errors import PolicyValueError, Problem

STRATEGY_KEYS = ("strategy", "type")
BACKOFF_KEYS = ("limit", "minTimeoutInMs", "maxTimeoutInMs", "factor", "randomize")
HEADERS_KEYS = ("limitHeader", "remainingHeader", "resetHeader", "resetFormat")
ALL_KEYS = STRATEGY_KEYS + BACKOFF_KEYS + HEADERS_KEYS
TIMEOUT_KEYS = ("durationInMs", "retry")

#: The seed's defaults for a backoff object (SPEC §2.7).
DEFAULT_LIMIT = 5
DEFAULT_MIN_MS = 1000
DEFAULT_MAX_MS = 60_000
DEFAULT_FACTOR = Fraction(9, 5)

#: Reset formats by name: the seed's names, then this project's own.
SEED_FORMATS = {
    "unix_timestamp": ResetFormat.EPOCH,
    "unix_timestamp_in_ms": ResetFormat.EPOCH_MS,
    "iso_8601": ResetFormat.ISO,
    "iso_8601_duration_openai_variant": ResetFormat.DURATION,
}
FORMATS = {**SEED_FORMATS, **{f.value: f for f in ResetFormat}}
FORMAT_OUT = {fmt: name for name, fmt in SEED_FORMATS.items()}

CODE = re.compile(r"[0-9]{3}", re.ASCII)
RANGE = re.compile(r"([0-9]{3})-([0-9]{3})", re.ASCII)
CLASS = re.compile(r"([0-9])xx", re.ASCII | re.IGNORECASE)
#: Header names the policy language can spell (its word terminal), so ``str(policy)``
#: of a converted policy always parses back.
HEADER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*", re.ASCII)


class Problems:
    """The problems found so far; ``raise_if_any`` raises them all at once."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def add(self, message: str) -> None:
        self.messages.append(message)

    def raise_if_any(self) -> None:
        if self.messages:
            raise PolicyValueError("", [Problem(m, 1, 1, 2) for m in self.messages])


def seq(values: list[Any]) -> Any:
    """A tuple for an attrs field with ``converter=tuple`` (which mypy cannot type)."""
    return tuple(values)


def show(value: object, depth: int = 0) -> str:
    """A short JSON-like rendering of any value for a message; never raises."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if value.bit_length() > 64:
            digits = int(value.bit_length() * 0.30103)
            return f"{'-' if value < 0 else ''}an integer of about {digits} digits"
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(value)
    if isinstance(value, str):
        text = json.dumps(value[:40], ensure_ascii=False)
        return text[:-1] + '…"' if len(value) > 40 else text
    if depth >= 1:
        return "{…}" if isinstance(value, Mapping) else "[…]"
    if isinstance(value, Mapping):
        try:
            pairs = [f"{show(k, 1)}: {show(v, 1)}" for k, v in list(value.items())[:3]]
            more = ", …" if len(value) > 3 else ""
        except Exception:  # a hostile mapping still gets a message
            return "an object"
        return "{" + ", ".join(pairs) + more + "}"
    if isinstance(value, list | tuple):
        parts = [show(v, 1) for v in value[:3]]
        return "[" + ", ".join(parts) + (", …" if len(value) > 3 else "") + "]"
    return f"a {type(value).__name__}"


def key_path(key: object) -> str:
    """``retry["5xx"]``: the path of one retry entry, as a user would index it."""
    return f"retry[{show(key)}]"


def field(key: str) -> str:
    """An option name for a path: as written, unless too long or odd to print bare."""
    return key if len(key) <= 40 and key.isprintable() and key.strip() == key else show(key)
