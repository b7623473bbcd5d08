"""Unchecked constructors for the parser, and each node's declared defaults.

The validation pass (``_validate``) checks every value before it builds a node, so the
parser builds nodes through these: the same fields as the attrs ``__init__`` sets, but
without running the validators, converters and post-init checks a second time.  Code
that builds an AST by hand goes through the classes, which keep every check.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, TypeVar

import attrs

from ._ast import (
    AllErrors,
    Backoff,
    Headers,
    Never,
    OnConnect,
    OnError,
    OnReset,
    OnTimeout,
    Rule,
    Span,
    StatusClass,
    StatusCode,
    StatusRange,
)
from ._policy import new_policy as make_policy

__all__ = ["build", "default_of", "make_backoff", "make_policy", "make_span"]

_new = object.__new__
_set = object.__setattr__
_tuple_new = tuple.__new__

#: A fixed delay stores factor 1 (SPEC §1.2), as ``Backoff.__attrs_post_init__`` does.
_ONE = Fraction(1)


def make_span(start: int, end: int, line: int, column: int, end_line: int, end_column: int) -> Span:
    return _tuple_new(Span, (start, end, line, column, end_line, end_column))


_Node = TypeVar(
    "_Node",
    StatusCode,
    StatusRange,
    StatusClass,
    AllErrors,
    OnTimeout,
    OnConnect,
    OnReset,
    OnError,
    Backoff,
    Headers,
    Never,
    Rule,
)


_DEFAULTS: dict[type[Any], tuple[tuple[str, Any], ...]] = {}


def _defaults(cls: type[Any]) -> tuple[tuple[str, Any], ...]:
    """``(field, default)`` of each field of ``cls``, read from its attrs definition.

    The one source of the defaults: a field the parser did not see takes the value the
    class declares (``attrs.NOTHING`` for a required field, which the parser always gives).
    """
    found = _DEFAULTS.get(cls)
    if found is None:
        found = _DEFAULTS[cls] = tuple((f.name, f.default) for f in attrs.fields(cls))
    return found


def default_of(cls: type[Any], name: str) -> Any:
    """The declared default of field ``name`` of ``cls`` (e.g. ``Backoff``'s ``min_ms``)."""
    return dict(_defaults(cls))[name]


def build(cls: type[_Node], /, **values: Any) -> _Node:
    """A node of ``cls`` with ``values`` (already validated) and declared defaults."""
    node = _new(cls)
    for name, default in _defaults(cls):
        _set(node, name, values.get(name, default))
    return node


def make_backoff(**values: Any) -> Backoff:
    """A ``Backoff``; a fixed delay stores factor 1, as ``__attrs_post_init__`` does."""
    node = build(Backoff, **values)
    if node.min_ms == node.max_ms:
        _set(node, "factor", _ONE)
    return node
