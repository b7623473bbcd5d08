"""Placeholder: seed options conversion is being written."""

from __future__ import annotations

from typing import Any

from ._ast import Policy


def from_options(retry: Any = None, timeout: Any = None) -> Policy:
    raise NotImplementedError


def to_options(policy: Policy) -> dict[str, Any]:
    raise NotImplementedError
