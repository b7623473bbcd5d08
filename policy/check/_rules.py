"""The lint catalogue (codes, severities, rationales), the ``Diagnostic`` value and the
small readings of rules that the checks share.

``_linter`` runs the checks; ``_lint`` is the entry point, ``lint(policy_or_text)``.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import attrs

from ..language._ast import (
    MAX_DURATION_MS,
    Backoff,
    Jitter,
    Matcher,
    Never,
    OnConnect,
    OnError,
    OnReset,
    OnTimeout,
    Rule,
    Span,
    StatusCode,
    StatusRange,
)
from ..language._render import render_rule as _render_rule

__all__ = [
    "LIMIT_WARN",
    "NO_HEAL",
    "RULES",
    "Diagnostic",
    "Origin",
    "Severity",
]

Severity: TypeAlias = Literal["error", "warning", "info"]

#: code → (severity, one-line rationale).  The catalogue in ``docs/lint.md`` follows it.
RULES: dict[str, tuple[Severity, str]] = {
    "E001": ("error", "syntax error: the text is not a policy"),
    "E002": ("error", "invalid value: well formed, but a value is out of range or unknown"),
    "W101": ("warning", "backoff without jitter: synchronized clients retry in lockstep"),
    "W102": ("warning", "a rule wholly shadowed by more specific or later rules"),
    "W103": ("warning", "retrying a status that does not heal by waiting"),
    "W104": ("warning", "429 or 503 retried without headers: the server's wait is ignored"),
    "W105": ("warning", "the worst-case total wait exceeds the deadline"),
    "W106": ("warning", "the per-attempt timeout is not shorter than the deadline"),
    "W107": ("warning", "a limit over 10: retries multiply across layers"),
    "W108": ("warning", "reset or timeout retried for every method: a POST may run twice"),
    "W109": ("warning", "jitter on a fixed delay (min = max): it cannot spread the retries"),
    "W110": ("warning", "a backoff with min 0 and a factor: every wait is 0s"),
    "W111": ("warning", "a status rule retries every method: a POST may run twice"),
    "W112": ("warning", "breaker=N that one call's own retries can trip"),
    "I201": ("info", "the worst-case total wait and request count"),
    "I202": ("info", "a rule only partly effective: a narrower preset rule still decides"),
    "I203": ("info", "what the retry budget means in requests"),
    "I204": ("info", "pace=on without a headers strategy: pacing reads the default headers"),
    "I205": ("info", "a preset's attempts= caps a written rule's limit"),
    "I206": ("info", "how breaker= and budget= compose"),
}

#: Statuses that do not heal by waiting (SPEC §4, W103), with their reason phrases.
NO_HEAL: dict[int, str] = {
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    410: "Gone",
    422: "Unprocessable Content",
    501: "Not Implemented",
    505: "HTTP Version Not Supported",
}

#: A limit above this is flagged (W107).
LIMIT_WARN = 10

ERROR_STATUSES = tuple(s for s in range(100, 600) if not 200 <= s <= 299)


@attrs.frozen
class Diagnostic:
    """One finding: ``code`` and ``message`` at 1-based ``line``/``column`` of the policy.

    ``end_column`` is exclusive (the caret covers ``column .. end_column - 1``).
    """

    code: str
    message: str
    line: int
    column: int
    end_column: int
    severity: Severity

    @classmethod
    def at(cls, code: str, message: str, span: Span | None) -> Diagnostic:
        """A diagnostic of ``code`` over ``span`` (line 1, column 1 when unknown)."""
        severity = RULES[code][0]
        if span is None:
            return cls(code, message, 1, 1, 2, severity)
        end = span.end_column if span.end_line == span.line else span.column + 1
        return cls(code, message, span.line, span.column, max(end, span.column + 1), severity)


# --- the rules ------------------------------------------------------------------------------


@attrs.frozen
class Origin:
    """Where a rule of ``policy.rules`` comes from: the user's text or a preset."""

    rule: Rule
    span: Span | None
    preset: str | None

    def where(self, span: Span | None) -> Span | None:
        """``span`` inside the user's rule, or the ``@name`` of the preset it came from."""
        return self.span if self.preset is not None else (span or self.span)


def rule_text(rule: Rule) -> str:
    return _render_rule(rule)


def retries(rule: Rule) -> bool:
    """Whether the rule's chain can grant a retry (it does not start with ``never``)."""
    for s in rule.strategies:
        if isinstance(s, Never):
            return False
        if s.limit > 0:
            return True
    return False


def narrow(m: Matcher) -> bool:
    """An exact code, or a range narrower than a class (SPEC W103/W104)."""
    return isinstance(m, StatusCode) or (isinstance(m, StatusRange) and m.size < 100)


def covers(m: Matcher, status: int) -> bool:
    covers = getattr(m, "covers", None)
    return bool(covers(status)) if covers is not None else False


def spread(s: Backoff) -> Backoff:
    """``s`` with jitter, a fixed delay turned into the window [d, 2·d] (factor 1)."""
    jitter = Jitter.FULL if s.jitter is Jitter.NONE else s.jitter
    if not s.fixed:
        return attrs.evolve(s, jitter=jitter, span=None)
    if 2 * s.min_ms <= MAX_DURATION_MS:
        low, high = s.min_ms, 2 * s.min_ms
    else:
        low, high = s.min_ms // 2, s.min_ms
    return attrs.evolve(s, min_ms=low, max_ms=high, factor=1, jitter=jitter, span=None)


def nonzero_min(s: Backoff) -> int:
    """A min above 0 to suggest for ``s`` (1s, or a tenth of max when max is short)."""
    return min(1000, max(1, s.max_ms // 10))


def zero() -> float:
    return 0.0


def outcome_key(m: Matcher) -> str | None:
    if isinstance(m, OnTimeout):
        return "timeout"
    if isinstance(m, OnReset):
        return "reset"
    if isinstance(m, OnError):
        return "error"
    return "connect" if isinstance(m, OnConnect) else None


def keys(m: Matcher) -> list[int | str]:
    key = outcome_key(m)
    if key is not None:
        return [key]
    return [s for s in ERROR_STATUSES if covers(m, s)]


#: Statuses that say the request was not processed, so retrying any method is safe:
#: 408 Request Timeout, 425 Too Early, 429 Too Many Requests (W111 leaves them alone).
UNPROCESSED = frozenset({408, 425, 429})


def unprocessed_only(m: Matcher) -> bool:
    """Whether every status ``m`` covers says the request was not processed."""
    if isinstance(m, StatusCode):
        return m.code in UNPROCESSED
    if isinstance(m, StatusRange):
        return all(s in UNPROCESSED for s in range(m.low, m.high + 1))
    return False
