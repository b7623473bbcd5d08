"""Lint checks of the resilience settings (``breaker=``, with ``budget=``): W112, I206."""

from __future__ import annotations

from typing import Any

from ..language._ast import AllErrors, StatusClass, StatusCode, StatusRange
from ..language._outcomes import is_failure
from ..language._render import duration, render_matcher
from ..language._settings import BudgetSetting
from ._rules import outcome_key

__all__ = ["resilience"]


def _fails(m: Any) -> bool:
    """Whether matcher ``m`` matches an outcome the breaker counts as failed."""
    if outcome_key(m) is not None or isinstance(m, AllErrors):
        return True
    if isinstance(m, StatusCode):
        return m.code >= 500
    if isinstance(m, StatusClass):
        return m.digit == 5
    return isinstance(m, StatusRange) and m.high >= 500


def resilience(linter: Any) -> None:
    """W112: a breaker that one call's own retries can trip; I206: how ``breaker=``
    and ``budget=`` compose."""
    p = linter.policy
    breaker = p.breaker
    if breaker is None:
        return
    name = f"breaker={breaker.threshold}{'%' if breaker.ratio else ''}"
    open_text = duration(breaker.open_ms)
    # Every strategy position counts its own retries (a call failing with a 503, then a
    # timeout, then a 503 retries by two rules): the worst call makes one request plus
    # every failing rule's retries, at most ``attempts=``.
    # Only the rules that decide some failure count (by the evaluator's precedence: a
    # rule another one shadows for 5xx retries no 5xx), and only those that retry.
    retries, seen = 0, set()
    failing: list[str] = []
    for i, origin in enumerate(linter.origins):
        rule = origin.rule
        if id(rule) in seen or not any(is_failure(o) for o in linter.wins[i]):
            continue
        seen.add(id(rule))
        granted = sum(getattr(s, "limit", 0) for s in rule.strategies)
        if granted:
            retries += granted
            failing.extend(render_matcher(m) for m in rule.matchers if _fails(m))
    most = 1 + retries
    if p.attempts is not None:
        most = min(most, p.attempts)
    worst = ",".join(dict.fromkeys(failing)) or "its first attempt alone"
    harm = (
        "a single request that keeps failing (a payload the server chokes on, one slow "
        f"query) opens the circuit for every call to the origin for {open_text}"
    )
    if not breaker.ratio and most >= breaker.threshold:
        linter.add(
            "W112",
            f"{name} opens after {breaker.threshold} failed attempts in a row, and one "
            f"call can make {most} on {worst}: {harm}; make it larger than one call's "
            f"attempts (breaker={2 * most}) or a ratio (breaker=50%)",
            breaker.span,
        )
    elif breaker.ratio and most >= breaker.min:
        # a quiet origin: one call's failures alone fill the window past min=
        linter.add(
            "W112",
            f"{name} with min={breaker.min} opens once {breaker.min} attempts in its window "
            f"failed that much, and one call can make {most} on {worst}: on a quiet origin "
            f"{harm}; make min= larger than one call's attempts (min={max(20, 2 * most)})",
            breaker.span,
        )
    budget = next((i for i in p.items if isinstance(i, BudgetSetting)), None)
    if budget is not None:
        percent = f"{float(budget.percent):g}%"
        trips = (
            f"{breaker.threshold} attempts in a row fail"
            if not breaker.ratio
            else f"{breaker.threshold}% of the attempts fail"
        )
        linter.add(
            "I206",
            f"{name} with budget={percent}: while the circuit is closed the budget caps the "
            f"retries at {percent} of the first attempts (plus 10); when {trips} the circuit "
            f"opens and nothing is sent to the origin, first attempts nor retries, for "
            f"{open_text}; retries the budget refuses are not attempts: they neither trip "
            "nor heal the breaker",
            breaker.span,
        )
