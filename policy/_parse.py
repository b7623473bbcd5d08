"""Placeholder: the parser is being written."""

from __future__ import annotations

from ._ast import Policy


def parse(text: str) -> Policy:
    raise NotImplementedError
