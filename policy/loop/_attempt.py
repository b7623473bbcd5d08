"""What a call is made of: one ``Attempt`` per request, and the three steps ``Call`` answers.

The attempt loop (``_loop.Call``) is the part of this floor that decides; the values it
hands out -- the ``Attempt`` records every adapter returns and stores, and the ``Send`` /
``Wait`` / ``Done`` steps every shell obeys -- are kept here so the loop stays a single
readable conversation, and so that code that only reads a history (stores, hooks, the
simulator) depends on the records, not on the driver.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias

import policy

__all__ = ["Attempt", "Done", "Outcome", "Send", "Wait", "as_policy", "fleet_settings", "label_of"]

Outcome: TypeAlias = Any  # policy.Outcome (Response, Timeout, ConnectFailure, ...)


def label_of(outcome: Outcome) -> str:
    """The outcome in a word: the status code, ``timeout``, ``connect``, ``reset``, ``error``."""
    if isinstance(outcome, policy.Response):
        return str(outcome.status)
    if isinstance(outcome, policy.Timeout):
        return "timeout"
    if isinstance(outcome, policy.ConnectFailure):
        return "connect"
    if isinstance(outcome, policy.ConnectionReset):
        return "reset"
    return "error"


def as_policy(p: object) -> policy.Policy:
    """``p`` as a ``Policy``: a ``Policy`` as is, a policy string parsed (``policy.parse``
    caches, so the same text is parsed once); anything else is a ``TypeError``."""
    if isinstance(p, policy.Policy):
        return p
    if isinstance(p, str):
        return policy.parse(p)
    raise TypeError(f"policy must be a policy string or a policy.Policy, not {type(p).__name__}")


def _rule_text(rule: Any) -> str | None:
    if rule is None:
        return None
    if isinstance(rule, str):
        return rule
    return str(policy.Policy(items=(rule,)))


class Attempt:
    """One request of a call: its outcome, the wait after it and why.

    ``number`` counts from 1; ``outcome`` is the ``policy`` outcome (``Response``,
    ``Timeout``, ``ConnectFailure``, ``ConnectionReset`` or ``Error``); ``delay`` is the
    wait in seconds before the next attempt (``None`` for the last one); ``reason`` is the
    evaluator's sentence; ``rule`` the deciding rule in canonical form (``None``: no rule).
    ``reason`` and ``rule`` are formatted when first read, so an attempt costs little.
    """

    __slots__ = ("_reason", "_rule", "delay", "number", "outcome")

    def __init__(
        self,
        number: int,
        outcome: Outcome,
        delay: float | None,
        reason: Any,
        rule: Any,
    ) -> None:
        self.number = number
        self.outcome = outcome
        self.delay = delay
        self._reason = reason  # a str, or a decision whose .reason formats lazily
        self._rule = rule  # a str, a policy.Rule, or None

    @property
    def label(self) -> str:
        """The outcome in a word: the status code, ``timeout``, ``connect``, ``reset``..."""
        return label_of(self.outcome)

    @property
    def status(self) -> int | None:
        """The response status, or ``None`` for a connection failure, timeout or error."""
        o = self.outcome
        return o.status if isinstance(o, policy.Response) else None

    @property
    def reason(self) -> str:
        r = self._reason
        if not isinstance(r, str):
            r = self._reason = str(getattr(r, "reason", "accepted"))
        return r

    @property
    def rule(self) -> str | None:
        r = self._rule
        if r is not None and not isinstance(r, str):
            r = self._rule = _rule_text(r)
        return r

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able summary (what stores keep)."""
        return {
            "number": self.number,
            "outcome": self.label,
            "delay": self.delay,
            "reason": self.reason,
            "rule": self.rule,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Attempt:
        """The attempt ``as_dict`` described (response headers are not kept)."""
        label = str(d["outcome"])
        outcome: Outcome
        if label.isdigit():
            outcome = policy.Response(int(label), {})
        elif label == "timeout":
            outcome = policy.Timeout()
        elif label == "connect":
            outcome = policy.ConnectFailure()
        elif label == "error":
            outcome = policy.Error()
        else:
            outcome = policy.ConnectionReset()
        return cls(int(d["number"]), outcome, d.get("delay"), str(d["reason"]), d.get("rule"))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Attempt):
            return NotImplemented
        return self.as_dict() == other.as_dict() and self.outcome == other.outcome

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        wait = "" if self.delay is None else f", waited {self.delay:.3g}s"
        return f"<Attempt {self.number}: {self.label}{wait}: {self.reason}>"


class Send:
    """Send the next attempt now, bounded by ``timeout`` seconds (connect to last byte)."""

    __slots__ = ("timeout",)

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"Send(timeout={self.timeout!r})"


class Wait:
    """Sleep ``seconds``, then ask ``before`` again.

    ``attempt`` is the attempt that is being retried (``None`` for a pacing hold).
    """

    __slots__ = ("attempt", "seconds")

    def __init__(self, seconds: float, attempt: Attempt | None) -> None:
        self.seconds = seconds
        self.attempt = attempt

    def __repr__(self) -> str:
        return f"Wait(seconds={self.seconds!r}, attempt={self.attempt!r})"


class Done:
    """The call is over.

    ``gave_up`` is false only when the last outcome was accepted (a 2xx).  ``reason`` is
    the final sentence; ``attempt`` the last attempt (``None`` when the call gave up
    before sending anything, e.g. a pacing hold past the deadline).
    """

    __slots__ = ("attempt", "gave_up", "reason")

    def __init__(self, gave_up: bool, reason: str, attempt: Attempt | None) -> None:
        self.gave_up = gave_up
        self.reason = reason
        self.attempt = attempt

    def __repr__(self) -> str:
        return f"Done(gave_up={self.gave_up!r}, reason={self.reason!r})"


#: Per policy (by identity): (policy, pace, budget), so a call does not re-read settings.
_fleet_cache: dict[int, tuple[policy.Policy, bool, Any]] = {}


def fleet_settings(p: policy.Policy) -> tuple[bool, Any]:
    """``(pace on?, budget ratio or None)`` of ``p``, cached per policy object."""
    hit = _fleet_cache.get(id(p))
    if hit is not None and hit[0] is p:
        return hit[1], hit[2]
    if len(_fleet_cache) >= 256:
        _fleet_cache.clear()
    pace, budget = bool(p.pace), p.budget
    _fleet_cache[id(p)] = (p, pace, budget)
    return pace, budget
