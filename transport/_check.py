"""Keyword checks shared by every adapter: bad values fail at construction, clearly.

A hook that is not callable, or a timeout that is a string, NaN or infinite, would
otherwise be accepted and fail later, deep inside the first request, with an error
from urllib3, httpx or the socket module that names neither the keyword nor the value.
Each check here raises ``TypeError`` (wrong kind of value) or ``ValueError`` (right
kind, wrong value) naming the keyword and the value.  Only numbers are ever shown;
anything else is named by its type, so a misplaced secret is never echoed.
"""

from __future__ import annotations

import math
from typing import Final, TypeVar

__all__ = [
    "MAX_SECONDS",
    "callable_or_none",
    "exception_types",
    "positive_int",
    "positive_seconds",
    "positive_seconds_or_none",
    "required_callable",
]

#: The largest number of seconds a timeout, lease or ttl may be (about 31 years): the
#: socket module refuses a timeout much beyond it (``OverflowError``).
MAX_SECONDS: Final = 1e9

_T = TypeVar("_T")


def _shown(value: object) -> str:
    """The value for an error message: numbers (and None) as they are, others by type."""
    if value is None or type(value) in (int, float, bool):
        return repr(value)
    return f"a {type(value).__name__}"


def required_callable(name: str, value: _T) -> _T:
    """``value`` when it is callable, else ``TypeError`` naming ``name``."""
    if not callable(value):
        raise TypeError(f"{name} must be a callable (got {_shown(value)})")
    return value


def callable_or_none(name: str, value: _T) -> _T:
    """``value`` when it is callable or ``None``, else ``TypeError`` naming ``name``."""
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be a callable or None (got {_shown(value)})")
    return value


def positive_seconds(name: str, value: object) -> float:
    """``value`` as a float when it is an int or float (not a bool), finite, > 0 and at
    most ``MAX_SECONDS``; else ``TypeError``/``ValueError`` naming ``name`` and the value.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a positive number of seconds (got {_shown(value)})")
    try:
        seconds = float(value)
    except OverflowError:  # an int too large for a float
        raise ValueError(
            f"{name} must be at most {MAX_SECONDS:.0e} seconds (got an int too large for a float)"
        ) from None
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ValueError(f"{name} must be a positive number of seconds (got {value!r})")
    if seconds > MAX_SECONDS:
        raise ValueError(f"{name} must be at most {MAX_SECONDS:.0e} seconds (got {value!r})")
    return seconds


def positive_seconds_or_none(name: str, value: object) -> float | None:
    """``None``, or ``value`` checked as ``positive_seconds``."""
    return None if value is None else positive_seconds(name, value)


def positive_int(name: str, value: object, *, minimum: int = 1) -> int:
    """``value`` when it is an int (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int (got {_shown(value)})")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum} (got {value!r})")
    return value


def exception_types(name: str, value: object) -> tuple[type[BaseException], ...]:
    """An exception class or a tuple of them, as a tuple; else ``TypeError``."""
    types = value if isinstance(value, tuple) else (value,)
    for t in types:
        if not (isinstance(t, type) and issubclass(t, BaseException)):
            raise TypeError(
                f"{name} must be an exception class or a tuple of them (got {_shown(t)})"
            )
    return types
