"""The linter behind ``policy check``: stable codes for what a valid policy gets wrong.

A policy can parse and still hurt: a backoff without jitter makes every client that
failed together retry together; a ``404`` retried never heals; a rule written after a
more specific one may never decide anything.  Each finding here has a stable code (SPEC
§4), a severity (``E`` error, ``W`` warning, ``I`` info), and a position in the policy
text.  ``docs/lint.md`` is the catalogue, with a triggering example for each code.

The rules read the AST and ask the evaluator, never the text: which rule decides an
outcome is ``Compiled.entry_for`` (the same precedence ``decide`` uses), what a retry can
wait is ``Policy.schedule`` and the totals are ``Policy.worst_case``.  So a lint finding
and the evaluator's behaviour cannot disagree.

Rules that come from a preset (``@github``) are curated: the linter does not second-guess
their jitter or limits, and overriding them with a later rule is the point of presets.
It does say (``I202``) when a later rule of the user's is only partly effective because a
narrower preset rule still decides some statuses (SPEC §1.2).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from fractions import Fraction
from typing import Literal, TypeAlias

import attrs

from ._ast import (
    BUDGET_FLOOR,
    BUDGET_WINDOW_S,
    MAX_DURATION_MS,
    Backoff,
    BudgetSetting,
    DeadlineSetting,
    Headers,
    Jitter,
    Matcher,
    Never,
    OnConnect,
    OnError,
    OnReset,
    OnTimeout,
    PaceSetting,
    Policy,
    PresetRef,
    Rule,
    Span,
    StatusCode,
    StatusRange,
    TimeoutSetting,
)
from ._errors import PolicyError
from ._outcomes import (
    ConnectFailure,
    ConnectionReset,
    Error,
    Outcome,
    Response,
    Retry,
    Timeout,
)
from ._render import duration, percent, render_matcher, render_strategy
from ._render import render_rule as _render_rule

__all__ = [
    "NO_HEAL",
    "RULES",
    "Diagnostic",
    "Severity",
    "budget_text",
    "lint",
    "pace_text",
    "seconds_text",
    "statuses_text",
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
    "I201": ("info", "the worst-case total wait and request count"),
    "I202": ("info", "a rule only partly effective: a narrower preset rule still decides"),
    "I203": ("info", "what the retry budget means in requests"),
    "I204": ("info", "pace=on without a headers strategy: pacing reads the default headers"),
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

_ERROR_STATUSES = tuple(s for s in range(100, 600) if not 200 <= s <= 299)


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


def lint(policy_or_text: Policy | str) -> list[Diagnostic]:
    """Every finding for a policy (or a policy string), errors first then by position.

    A string that does not parse yields its ``E001``/``E002`` problems, all of them; a
    valid policy yields the ``W`` and ``I`` findings.
    """
    if isinstance(policy_or_text, Policy):
        p = policy_or_text
    else:
        from ._parse import parse

        try:
            p = parse(policy_or_text)
        except PolicyError as exc:
            return [
                Diagnostic(
                    pr.code, pr.message, pr.line, pr.column, pr.end_column, RULES[pr.code][0]
                )
                for pr in exc.problems
            ]
    return _Linter(p).run()


# --- the rules ------------------------------------------------------------------------------


@attrs.frozen
class _Origin:
    """Where a rule of ``policy.rules`` comes from: the user's text or a preset."""

    rule: Rule
    span: Span | None
    preset: str | None

    def where(self, span: Span | None) -> Span | None:
        """``span`` inside the user's rule, or the ``@name`` of the preset it came from."""
        return self.span if self.preset is not None else (span or self.span)


def _text(rule: Rule) -> str:
    return _render_rule(rule)


def _retries(rule: Rule) -> bool:
    """Whether the rule's chain can grant a retry (it does not start with ``never``)."""
    for s in rule.strategies:
        if isinstance(s, Never):
            return False
        if s.limit > 0:
            return True
    return False


def statuses_text(statuses: Iterable[int]) -> str:
    """``[500, 501, 502, 504]`` → ``'500-502, 504'``."""
    runs: list[list[int]] = []
    for s in sorted(statuses):
        if runs and runs[-1][1] == s - 1:
            runs[-1][1] = s
        else:
            runs.append([s, s])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


class _Linter:
    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.out: list[Diagnostic] = []
        origins: list[_Origin] = []
        for item in policy.items:
            if isinstance(item, Rule):
                origins.append(_Origin(item, item.span, None))
            elif isinstance(item, PresetRef):
                origins.extend(_Origin(r, item.span, item.name) for r in item.rules)
        self.origins = origins
        compiled = policy.compiled()
        index = {id(entry): i for i, entry in enumerate(compiled.entries)}
        # What each rule decides, by the evaluator's own precedence.
        self.wins: list[list[Outcome]] = [[] for _ in origins]
        self.decider: dict[int | str, int] = {}
        probes: list[tuple[int | str, Outcome]] = [(s, Response(s)) for s in _ERROR_STATUSES]
        probes += [
            ("timeout", Timeout()),
            ("connect", ConnectFailure()),
            ("reset", ConnectionReset()),
            ("error", Error()),
        ]
        for key, outcome in probes:
            entry = compiled.entry_for(outcome)
            if entry is not None:
                i = index[id(entry)]
                self.wins[i].append(outcome)
                self.decider[key] = i

    def add(self, code: str, message: str, span: Span | None) -> None:
        self.out.append(Diagnostic.at(code, message, span))

    def run(self) -> list[Diagnostic]:
        for i, origin in enumerate(self.origins):
            if origin.preset is None:
                self.jitter(origin)
                self.shadowed(i, origin)
                self.no_heal(i, origin)
                self.server_wait(i, origin)
                self.limits(origin)
            else:
                self.partly(i, origin)
        self.methods()
        self.timing()
        self.fleet()
        rank = {"error": 0, "warning": 1, "info": 2}
        self.out.sort(key=lambda d: (rank[d.severity], d.line, d.column, d.code))
        return self.out

    # W101, W109, W110
    def jitter(self, origin: _Origin) -> None:
        for s in origin.rule.strategies:
            if not isinstance(s, Backoff) or not s.limit or not s.max_ms:
                continue
            if s.min_ms == 0:
                # 0·factorⁿ is 0 for every n, and every jitter kind scales from min.
                better = render_strategy(_spread(attrs.evolve(s, min_ms=_nonzero_min(s))))
                self.add(
                    "W110",
                    f"{render_strategy(s)} starts at 0s: 0s·factorⁿ is 0s, so every retry "
                    f"waits 0s whatever the factor and jitter; give it a min above 0 ({better})",
                    s.span,
                )
            elif s.jitter is Jitter.NONE:
                better = render_strategy(_spread(s))
                self.add(
                    "W101",
                    f"{render_strategy(s)} has no jitter: clients that failed together retry "
                    f"together; add jitter ({better})",
                    s.span,
                )
            elif s.fixed:
                self.add(
                    "W109",
                    f"{render_strategy(s)} jitters a fixed delay: min = max leaves the "
                    "jitter no room, so clients that failed together still retry together; "
                    f"give it a window ({render_strategy(_spread(s))})",
                    s.span,
                )

    # W102
    def shadowed(self, i: int, origin: _Origin) -> None:
        if self.wins[i]:
            return
        others: list[str] = []
        for m in origin.rule.matchers:
            for key in _keys(m):
                j = self.decider.get(key)
                if j is not None and j != i:
                    label = _text(self.origins[j].rule)
                    if self.origins[j].preset is not None:
                        label = f"@{self.origins[j].preset}'s {label}"
                    if label not in others:
                        others.append(label)
        decided_by = "; ".join(others) if others else "other rules"
        self.add(
            "W102",
            f"{_text(origin.rule)} never decides anything: every outcome it matches is "
            f"decided by a more specific or later rule ({decided_by})",
            origin.span,
        )

    # W103
    def no_heal(self, i: int, origin: _Origin) -> None:
        if not _retries(origin.rule):
            return
        won = {o.status for o in self.wins[i] if isinstance(o, Response)}
        for m in origin.rule.matchers:
            if not _narrow(m):
                continue
            bad = sorted(s for s in NO_HEAL if s in won and m.covers(s))  # type: ignore[union-attr]
            if bad:
                names = ", ".join(f"{s} ({NO_HEAL[s]})" for s in bad)
                what = (
                    f"{names} is retried"
                    if isinstance(m, StatusCode)
                    else f"{render_matcher(m)} retries {names}"
                )
                self.add(
                    "W103",
                    f"{what}: waiting does not change the answer; fix the request, or "
                    f"carve it out with {bad[0]}:never",
                    m.span,
                )

    # W104
    def server_wait(self, i: int, origin: _Origin) -> None:
        rule = origin.rule
        if any(isinstance(s, Headers) for s in rule.strategies) or not _retries(rule):
            return
        won = {o.status for o in self.wins[i] if isinstance(o, Response)}
        for m in rule.matchers:
            if not _narrow(m):
                continue
            named = [s for s in (429, 503) if s in won and m.covers(s)]  # type: ignore[union-attr]
            if named:
                codes = " and ".join(str(s) for s in named)
                what = (
                    f"{codes} is retried"
                    if isinstance(m, StatusCode)
                    else f"{render_matcher(m)} retries {codes}"
                )
                self.add(
                    "W104",
                    f"{what} without headers: the server's Retry-After is ignored; "
                    f"use {render_matcher(m)}:headers()|"
                    f"{'|'.join(render_strategy(s) for s in rule.strategies)}",
                    m.span,
                )

    # W107
    def limits(self, origin: _Origin) -> None:
        for s in origin.rule.strategies:
            if isinstance(s, Backoff | Headers) and s.limit > LIMIT_WARN:
                self.add(
                    "W107",
                    f"{render_strategy(s)} grants {s.limit} retries: retries multiply across "
                    f"layers (a client, a proxy, a queue); keep a limit at {LIMIT_WARN} or "
                    "below, or cap the call with attempts= or deadline=",
                    s.span,
                )

    # I202
    def partly(self, i: int, origin: _Origin) -> None:
        """A preset rule that still decides some statuses a later user rule names."""
        won = {o.status for o in self.wins[i] if isinstance(o, Response)}
        if not won:
            return
        for later in self.origins[i + 1 :]:
            if later.preset is not None:
                continue
            taken = sorted(
                s
                for s in won
                for m in later.rule.matchers
                if not isinstance(m, OnTimeout | OnReset) and _covers(m, s)
            )
            if taken:
                self.add(
                    "I202",
                    f"{_text(later.rule)} is only partly effective: @{origin.preset}'s "
                    f"{_text(origin.rule)} is more specific and still decides "
                    f"{statuses_text(set(taken))}",
                    later.span,
                )

    # W108
    def methods(self) -> None:
        if self.policy.methods is not None:
            return
        p = self.policy
        for key, outcome in (("reset", ConnectionReset()), ("timeout", Timeout())):
            # Would a POST get a retry?  Asked of the evaluator itself, so rules limited
            # to methods (``reset,timeout[idempotent]:``) and their fallbacks count right.
            d = p.decide(p.start(now=0.0), outcome, now=0.0, rand=_zero, method="POST")
            if not isinstance(d, Retry):
                continue
            j = next(
                (i for i, o in enumerate(self.origins) if o.rule is d.rule),
                self.decider.get(key),
            )
            if j is None:  # pragma: no cover - every deciding rule has an origin
                continue
            origin = self.origins[j]
            span = next(
                (m.span for m in origin.rule.matchers if _outcome_key(m) == key), origin.span
            )
            where = f" (from @{origin.preset})" if origin.preset else ""
            self.add(
                "W108",
                f"{key} is retried for every method{where}: the server may already have "
                f"processed the request, so a POST may run twice; add methods= with the "
                "idempotent methods (methods=GET,HEAD,PUT,DELETE,OPTIONS)",
                origin.where(span),
            )

    # W105, W106, I201
    def timing(self) -> None:
        p = self.policy
        deadline_ms = p.deadline_ms
        timeout_ms = p.timeout_ms
        deadline_span = next((i.span for i in p.items if isinstance(i, DeadlineSetting)), None)
        timeout_span = next((i.span for i in p.items if isinstance(i, TimeoutSetting)), None)
        worst = p.worst_case()
        if deadline_ms is not None:
            unbounded = Policy([i for i in p.items if not isinstance(i, DeadlineSetting)])
            wait = unbounded.worst_case().wait
            if wait * 1000 > deadline_ms:
                self.add(
                    "W105",
                    f"the worst-case total wait ({seconds_text(wait)}) exceeds "
                    f"deadline={duration(deadline_ms)}: the later retries can never be taken",
                    deadline_span,
                )
            if timeout_ms is not None and timeout_ms >= deadline_ms:
                self.add(
                    "W106",
                    f"timeout={duration(timeout_ms)} is not shorter than "
                    f"deadline={duration(deadline_ms)}: the first attempt can use the whole "
                    "budget and no retry fits",
                    timeout_span,
                )
        first = p.items[0].span if p.items else None
        self.add(
            "I201",
            f"worst case: {worst.requests} request{'s' if worst.requests != 1 else ''}, "
            f"{seconds_text(worst.wait)} of waiting"
            + (" (capped by the deadline)" if deadline_ms is not None else ""),
            first,
        )

    # I203, I204
    def fleet(self) -> None:
        p = self.policy
        for item in p.items:
            if isinstance(item, BudgetSetting):
                self.add("I203", budget_text(item.percent), item.span)
            elif (
                isinstance(item, PaceSetting)
                and item.on
                and not any(isinstance(s, Headers) for r in p.rules for s in r.strategies)
            ):
                self.add("I204", pace_text(p), item.span)


def budget_text(pct: Fraction) -> str:
    """What ``budget=pct`` means in requests, in one line (``policy check``, ``explain``)."""
    per100 = percent(pct)[:-1]
    per1000 = BUDGET_FLOOR + pct * 10
    shown = percent(per1000)[:-1]
    return (
        f"budget={percent(pct)}: at most {BUDGET_FLOOR} + {per100} retries per 100 requests "
        f"per origin in any {BUDGET_WINDOW_S:g}s ({shown} per 1000); a retry past it gives up"
    )


def pace_text(p: Policy) -> str:
    """What ``pace=on`` reads in a policy with no ``headers`` strategy."""
    return (
        "pace=on: no rule uses headers(), so pacing reads its defaults (Retry-After on 429 "
        "and 503, RateLimit, RateLimit-Remaining/-Reset, X-RateLimit-Remaining/-Reset) and "
        f"holds an origin at most {duration(15 * 60_000)}; add 429:headers(...) to choose "
        "the family and max"
    )


def seconds_text(s: float) -> str:
    """Seconds in the policy's notation (``90.0`` → ``1.5m``), to the millisecond below a
    minute, to a tenth of a minute below an hour and to a hundredth of an hour above
    (``~`` marks a rounded value: ``4522.37`` → ``~75.4m``)."""
    if math.isinf(s):
        return "forever"
    ms = round(s * 1000)
    step = 36_000 if ms >= 3_600_000 else 6000 if ms >= 60_000 else 1
    rounded = round(ms / step) * step
    return ("~" if rounded != ms else "") + duration(rounded)


def _narrow(m: Matcher) -> bool:
    """An exact code, or a range narrower than a class (SPEC W103/W104)."""
    return isinstance(m, StatusCode) or (isinstance(m, StatusRange) and m.size < 100)


def _covers(m: Matcher, status: int) -> bool:
    covers = getattr(m, "covers", None)
    return bool(covers(status)) if covers is not None else False


def _spread(s: Backoff) -> Backoff:
    """``s`` with jitter, a fixed delay turned into the window [d, 2·d] (factor 1)."""
    jitter = Jitter.FULL if s.jitter is Jitter.NONE else s.jitter
    if not s.fixed:
        return attrs.evolve(s, jitter=jitter, span=None)
    if 2 * s.min_ms <= MAX_DURATION_MS:
        low, high = s.min_ms, 2 * s.min_ms
    else:
        low, high = s.min_ms // 2, s.min_ms
    return attrs.evolve(s, min_ms=low, max_ms=high, factor=1, jitter=jitter, span=None)


def _nonzero_min(s: Backoff) -> int:
    """A min above 0 to suggest for ``s`` (1s, or a tenth of max when max is short)."""
    return min(1000, max(1, s.max_ms // 10))


def _zero() -> float:
    return 0.0


def _outcome_key(m: Matcher) -> str | None:
    if isinstance(m, OnTimeout):
        return "timeout"
    if isinstance(m, OnReset):
        return "reset"
    if isinstance(m, OnError):
        return "error"
    return "connect" if isinstance(m, OnConnect) else None


def _keys(m: Matcher) -> list[int | str]:
    key = _outcome_key(m)
    if key is not None:
        return [key]
    return [s for s in _ERROR_STATUSES if _covers(m, s)]
