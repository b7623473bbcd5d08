"""The shapes the compiled evaluator is made of: a ``Step``, an ``Entry`` and ``Tables``.

A compiled policy is a few flat tables (``Compiled`` in ``_evaluate`` builds them).  The
decision paths (``_decide``, ``_straight``) and the reasons read those tables; naming
their shapes here, at the bottom of the floor, lets every module use them without
importing the compiler that builds them, so no module of this floor imports one above it.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeAlias

from ..language._ast import Rule
from ..language._outcomes import Outcome
from ..language._policy import Policy

__all__ = ["Entry", "Step", "Tables"]

#: One compiled strategy position (a tuple whose first item is its kind; see ``_steps``).
Step: TypeAlias = tuple[Any, ...]

#: A rule, its compiled chain, its canonical text (for reasons)
#: and the methods it is limited to (``selector[GET,PUT]:``; ``None``: every method).
Entry: TypeAlias = tuple[Rule, tuple[Step, ...], str, frozenset[str] | None]


class Tables(Protocol):
    """What the decision paths read of a compiled policy."""

    policy: Policy
    positions: int
    by_status: tuple[Entry | None, ...]
    failures: dict[type, tuple[Entry, ...]]
    methods: frozenset[str] | None
    attempts: int | None
    max_retries: int
    deadline_s: float

    def entry_for(self, outcome: Outcome, method: str | None = None) -> Entry | None: ...
