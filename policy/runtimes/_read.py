"""Reading and writing the values runtime configs share: durations, typed fields, paths.

Protobuf's JSON mapping writes a ``Duration`` as decimal seconds with an ``s`` (``"1.5s"``);
Kubernetes and Gateway API write Go-style durations (``"1m30s"``, ``"250ms"``; Gateway API
allows only whole numbers per unit).  Both are read here, to integer milliseconds, with
errors that name the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = [
    "ConfigError",
    "duration_ms",
    "find_all",
    "go_duration",
    "need",
    "proto_duration",
]


class ConfigError(ValueError):
    """A runtime config that cannot be read (the message names the field)."""


_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)")
_UNIT_MS = {
    "h": Decimal(3_600_000),
    "m": Decimal(60_000),
    "s": Decimal(1000),
    "ms": Decimal(1),
    "us": Decimal("0.001"),
    "µs": Decimal("0.001"),
    "ns": Decimal("0.000001"),
}


def duration_ms(value: Any, where: str) -> int:
    """``"1.5s"``, ``"1m30s"``, ``"250ms"`` (or a number of seconds) in whole milliseconds,
    rounded up (a runtime's 1µs is not 0)."""
    if isinstance(value, bool):
        raise ConfigError(f"{where} must be a duration such as 1.5s (got {value!r})")
    if isinstance(value, int | float):
        total = Decimal(str(value)) * 1000
    elif isinstance(value, str) and value and _PART.sub("", value) == "":
        try:
            total = sum((Decimal(n) * _UNIT_MS[u] for n, u in _PART.findall(value)), Decimal(0))
        except InvalidOperation:  # pragma: no cover - the pattern only lets digits through
            raise ConfigError(f"{where} must be a duration (got {value!r})") from None
    else:
        raise ConfigError(f"{where} must be a duration such as 1.5s or 250ms (got {value!r})")
    ms = int(-(-total // 1))
    if ms > 168 * 3_600_000:
        raise ConfigError(f"{where} is longer than 168h (got {value!r})")
    return ms


def proto_duration(ms: int) -> str:
    """Milliseconds as protobuf JSON writes a Duration: ``"1.5s"``, ``"0.025s"``, ``"30s"``."""
    whole, rest = divmod(ms, 1000)
    return f"{whole}s" if not rest else f"{whole}.{rest:03d}".rstrip("0") + "s"


def go_duration(ms: int) -> str:
    """Milliseconds as Gateway API and Istio write them: ``"1m30s"``, ``"1s500ms"``, ``"0s"``."""
    if ms == 0:
        return "0s"
    parts = []
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        n, ms = divmod(ms, size)
        if n:
            parts.append(f"{n}{unit}")
    return "".join(parts)


def need(data: Any, key: str, kind: Any, where: str) -> Any:
    """``data[key]`` of type ``kind``, or a ``ConfigError`` naming ``where.key``."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be an object")
    if key not in data:
        raise ConfigError(f"{where}.{key} is missing")
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ConfigError(f"{where}.{key} must be a {names} (got {value!r})")
    return value


def find_all(
    data: Any, key: str, path: tuple[Any, ...] = ()
) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every ``(path, value)`` under a key named ``key``, depth first, in document order."""
    if isinstance(data, dict):
        for k, v in data.items():
            if k == key:
                yield (*path, k), v
            else:
                yield from find_all(v, key, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from find_all(v, key, (*path, i))
