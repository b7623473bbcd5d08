"""The words of a decision: reason texts, built only when someone reads them.

A ``Retry`` carries its reason as a template and its numbers (``WHY_BACKOFF``,
``WHY_HEADERS``), formatted when the reason is read, so a granted retry costs no string
work.  A ``GiveUp`` is rare and final, so its text is written at once, here: the wording
of every give-up the evaluator can produce (a spent chain, a deadline about to pass, a
server wait longer than ``max``) lives in one place, and the deciding code stays numbers.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Final

from ..language._ast import Backoff, Headers, Rule, Strategy
from ..language._outcomes import (
    AttemptState,
    ConnectFailure,
    Error,
    GiveUp,
    Outcome,
    Response,
    Timeout,
)
from ..language._render import duration, render_matcher

if TYPE_CHECKING:
    from ._tables import Entry

#: The reason templates of a granted retry (``Retry.reason`` formats them on demand).
WHY_BACKOFF: Final = "{0} matched {1}: retry {2}/{3} of its backoff, waiting {4:.3f}s"
WHY_HEADERS: Final = "{0} matched {1}: retry {2}/{3}, waiting {4:.3f}s as {5} says"


def duration_text(seconds: float) -> str:
    """Seconds in the policy language's canonical duration form (``90`` → ``1.5m``)."""
    return duration(round(seconds * 1000))


def seconds_text(seconds: float) -> str:
    if seconds == math.inf:
        return "forever"
    if seconds >= 1e15:  # past the digits a float holds exactly: 1e+23s
        return f"{seconds:.3g}s"
    return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"


_YEAR_S: Final = 365.2425 * 86400


def wait_text(seconds: float) -> str:
    """A server's wait for a reason: exact seconds, and in days or years when that long
    (``315360000s, about 10 years``)."""
    text = seconds_text(seconds)
    if seconds >= 2 * _YEAR_S:
        return f"{text}, about {_about(seconds / _YEAR_S)} years"
    if seconds >= 2 * 86400:
        return f"{text}, about {_about(seconds / 86400)} days"
    return text


def _about(x: float) -> str:
    """``x`` rounded for a reader: ``2.31``, ``7,974``, ``3.2e+15``."""
    if x >= 1e6:
        return f"{x:.2g}"
    if x >= 10:
        return f"{round(x):,}"
    return f"{x:.3g}"


def selector_text(rule: Rule) -> str:
    return ",".join(render_matcher(m) for m in rule.matchers)


def kind_text(strategy: Strategy) -> str:
    if type(strategy) is Backoff:
        return "backoff"
    if type(strategy) is Headers:
        return "headers"
    return "never"


def outcome_text(outcome: Outcome) -> str:
    if type(outcome) is Response:
        return str(outcome.status)
    if type(outcome) is Timeout:
        return "timeout"
    if type(outcome) is ConnectFailure:
        return "connect"
    if type(outcome) is Error:
        return "error"
    return "reset"


def deadline_give_up(
    deadline_s: float, delay: float, label: Any, now: float, at: float, rule: Rule
) -> GiveUp:
    """The give-up of a wait that would end after the call's deadline."""
    return GiveUp(
        f"deadline {duration_text(deadline_s)} would pass: "
        f"waiting {seconds_text(delay)} after {label} would end "
        f"{seconds_text(now + delay - at)} past it",
        rule,
    )


def ran_out(entry: Entry, state: AttemptState, outcome: Outcome, now: float, label: Any) -> GiveUp:
    """The give-up of a chain in which every strategy yielded no decision."""
    rule, steps, _text, _only = entry
    spent = []
    unusable = []
    selector = selector_text(rule)
    for step in steps:
        i, limit, strategy = step[1], step[2], step[-1]
        n = state.counters[i]
        if n >= limit:
            spent.append(f"{selector}:{kind_text(strategy)} {n}/{limit}")
        else:
            unusable.append(strategy)
    if unusable:
        why = (
            f"no usable rate-limit header for {label} "
            f"({selector}:headers found nothing to wait for)"
        )
        if spent:
            why += "; limit reached: " + ", ".join(spent)
        return GiveUp(why, rule)
    return GiveUp("limit reached: " + ", ".join(spent), rule)
