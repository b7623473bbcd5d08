"""Placeholder: the evaluator is being written (issue 3)."""

from __future__ import annotations

from typing import Any

import attrs

from ._ast import Policy


@attrs.frozen
class Envelope:
    min: float
    max: float


class Schedule:
    pass


@attrs.frozen
class WorstCase:
    wait: float
    requests: int


class Compiled:
    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def __getattr__(self, name: str) -> Any:
        raise NotImplementedError(name)
