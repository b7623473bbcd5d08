"""The errors a policy string can raise, with positions and a caret rendering.

Every problem with a policy raises ``PolicySyntaxError`` (bad text) or
``PolicyValueError`` (well-formed but invalid).  Both are ``PolicyError`` and
``ValueError``.  An error carries every problem found (``.problems``); its own position
and message are those of the first, so ``str(err)`` reads like::

    5xx:backoff(5,1s-30s,x1.8)
                  ^^^
    expected '..' between the minimum and maximum delay (1s..30s)
"""

from __future__ import annotations

import attrs

__all__ = ["PolicyError", "PolicySyntaxError", "PolicyValueError", "Problem"]


@attrs.frozen
class Problem:
    """One problem in a policy text: a message at 1-based ``line``/``column``.

    ``end_column`` is exclusive (the caret covers ``column`` .. ``end_column - 1``).
    ``syntax`` tells a syntax problem (lint code E001) from an invalid value (E002).
    """

    message: str
    line: int
    column: int
    end_column: int
    syntax: bool = False
    offset: int = 0

    @property
    def code(self) -> str:
        return "E001" if self.syntax else "E002"


def caret(text: str, line: int, column: int, end_column: int) -> str:
    """The source line and a caret line under ``column`` .. ``end_column - 1``."""
    lines = text.split("\n")
    src = lines[line - 1] if 0 < line <= len(lines) else ""
    src = src.replace("\t", " ").rstrip("\r")
    width = max(1, end_column - column)
    if column - 1 > len(src):
        column = len(src) + 1
    return f"{src}\n{' ' * (column - 1)}{'^' * width}"


class PolicyError(ValueError):
    """A policy string (or options object) that cannot be used, with where and why."""

    text: str
    line: int
    column: int
    end_column: int
    message: str
    problems: tuple[Problem, ...]

    def __init__(self, text: str, problems: list[Problem] | tuple[Problem, ...]) -> None:
        if not problems:
            raise ValueError("a PolicyError needs at least one problem")
        self.text = text
        self.problems = tuple(problems)
        first = self.problems[0]
        self.line = first.line
        self.column = first.column
        self.end_column = first.end_column
        self.message = first.message
        super().__init__(self._render())

    def _render(self) -> str:
        parts = []
        for p in self.problems:
            if self.text:
                parts.append(f"{caret(self.text, p.line, p.column, p.end_column)}\n{p.message}")
            else:
                parts.append(p.message)
        return "\n".join(parts)

    def __str__(self) -> str:
        return self._render()

    def __reduce__(self) -> tuple[type[PolicyError], tuple[str, tuple[Problem, ...]]]:
        return (type(self), (self.text, self.problems))


class PolicySyntaxError(PolicyError):
    """The text is not a policy: a typo, a missing ':', a bare number without a unit."""


class PolicyValueError(PolicyError):
    """The text is well formed but a value is invalid (``min > max``, status 600, ...)."""
