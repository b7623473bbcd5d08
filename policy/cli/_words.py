"""Outcomes and times in the words ``explain`` and ``simulate`` print."""

from __future__ import annotations

from ..language._outcomes import ConnectFailure, Error, Outcome, Response, Timeout
from ..language._words import seconds_text

__all__ = ["envelope_text", "epoch", "outcome_label"]


def envelope_text(lo: float, hi: float) -> str:
    """A delay range, ``1s–1.8s``, or one value when both ends print alike."""
    a, b = seconds_text(lo), seconds_text(hi)
    return a if a == b else f"{a}–{b}"


def outcome_label(o: Outcome) -> str:
    """``503``, ``timeout``, ``connect``, ``reset`` or ``error``."""
    if isinstance(o, Response):
        return str(o.status)
    if isinstance(o, Timeout):
        return "timeout"
    if isinstance(o, ConnectFailure):
        return "connect"
    if isinstance(o, Error):
        return "error"
    return "reset"


def epoch(t: float) -> str:
    """Epoch seconds without trailing zeros."""
    return f"{t:.3f}".rstrip("0").rstrip(".")
