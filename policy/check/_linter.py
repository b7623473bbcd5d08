"""The checks behind ``lint``: one pass over a policy's items and compiled tables.

Each method adds findings with a code from the catalogue (``_rules.RULES``).  The checks
read the AST and ask the evaluator (``compiled_of``: the same precedence ``decide``
uses), never the text, so a finding and the evaluator's behaviour cannot disagree.
"""

from __future__ import annotations

import attrs

from ..evaluate._evaluate import compiled_of
from ..language._ast import (
    Backoff,
    Headers,
    Jitter,
    OnReset,
    OnTimeout,
    Rule,
    Span,
    StatusCode,
)
from ..language._outcomes import (
    ConnectFailure,
    ConnectionReset,
    Error,
    Outcome,
    Response,
    Retry,
    Timeout,
)
from ..language._policy import Policy
from ..language._render import duration, render_matcher, render_strategy
from ..language._settings import (
    AttemptsSetting,
    BudgetSetting,
    DeadlineSetting,
    MethodsSetting,
    PaceSetting,
    PresetRef,
    TimeoutSetting,
)
from ..language._words import budget_text, pace_text, seconds_text, statuses_text
from ._resilience import resilience
from ._rules import (
    ERROR_STATUSES,
    LIMIT_WARN,
    NO_HEAL,
    Diagnostic,
    Origin,
    covers,
    keys,
    narrow,
    nonzero_min,
    outcome_key,
    retries,
    rule_text,
    spread,
    unprocessed_only,
    zero,
)

_PROBES: list[tuple[int | str, Outcome]] = []


def _probes() -> list[tuple[int | str, Outcome]]:
    """The outcomes each lint asks the compiled policy about (immutable values, built once:
    building 400 responses per policy made linting a long file slow)."""
    if not _PROBES:
        _PROBES.extend((s, Response(s)) for s in ERROR_STATUSES)
        _PROBES.extend(
            [
                ("timeout", Timeout()),
                ("connect", ConnectFailure()),
                ("reset", ConnectionReset()),
                ("error", Error()),
            ]
        )
    return _PROBES


class Linter:
    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.out: list[Diagnostic] = []
        origins: list[Origin] = []
        for item in policy.items:
            if isinstance(item, Rule):
                origins.append(Origin(item, item.span, None))
            elif isinstance(item, PresetRef):
                origins.extend(Origin(r, item.span, item.name) for r in item.rules)
        self.origins = origins
        compiled = compiled_of(policy)
        index = {id(entry): i for i, entry in enumerate(compiled.entries)}
        # What each rule decides, by the evaluator's own precedence.
        self.wins: list[list[Outcome]] = [[] for _ in origins]
        self.decider: dict[int | str, int] = {}
        for key, outcome in _probes():
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
                self.every_method(origin)
            else:
                self.partly(i, origin)
        self.methods()
        self.timing()
        self.fleet()
        self.preset_caps()
        resilience(self)
        rank = {"error": 0, "warning": 1, "info": 2}
        self.out.sort(key=lambda d: (rank[d.severity], d.line, d.column, d.code))
        return self.out

    # W101, W109, W110
    def jitter(self, origin: Origin) -> None:
        for s in origin.rule.strategies:
            if not isinstance(s, Backoff) or not s.limit or not s.max_ms:
                continue
            if s.min_ms == 0:
                # 0·factorⁿ is 0 for every n, and every jitter kind scales from min.
                better = render_strategy(spread(attrs.evolve(s, min_ms=nonzero_min(s))))
                self.add(
                    "W110",
                    f"{render_strategy(s)} starts at 0s: 0s·factorⁿ is 0s, so every retry "
                    f"waits 0s whatever the factor and jitter; give it a min above 0 ({better})",
                    s.span,
                )
            elif s.jitter is Jitter.NONE:
                better = render_strategy(spread(s))
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
                    f"give it a window ({render_strategy(spread(s))})",
                    s.span,
                )

    # W102
    def shadowed(self, i: int, origin: Origin) -> None:
        if self.wins[i]:
            return
        others: list[str] = []
        for m in origin.rule.matchers:
            for key in keys(m):
                j = self.decider.get(key)
                if j is not None and j != i:
                    label = rule_text(self.origins[j].rule)
                    if self.origins[j].preset is not None:
                        label = f"@{self.origins[j].preset}'s {label}"
                    if label not in others:
                        others.append(label)
        decided_by = "; ".join(others) if others else "other rules"
        self.add(
            "W102",
            f"{rule_text(origin.rule)} never decides anything: every outcome it matches is "
            f"decided by a more specific or later rule ({decided_by})",
            origin.span,
        )

    # W103
    def no_heal(self, i: int, origin: Origin) -> None:
        if not retries(origin.rule):
            return
        won = {o.status for o in self.wins[i] if isinstance(o, Response)}
        for m in origin.rule.matchers:
            if not narrow(m):
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
    def server_wait(self, i: int, origin: Origin) -> None:
        rule = origin.rule
        if any(isinstance(s, Headers) for s in rule.strategies) or not retries(rule):
            return
        won = {o.status for o in self.wins[i] if isinstance(o, Response)}
        for m in rule.matchers:
            if not narrow(m):
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
    def limits(self, origin: Origin) -> None:
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
    def partly(self, i: int, origin: Origin) -> None:
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
                if not isinstance(m, OnTimeout | OnReset) and covers(m, s)
            )
            if taken:
                self.add(
                    "I202",
                    f"{rule_text(later.rule)} is only partly effective: @{origin.preset}'s "
                    f"{rule_text(origin.rule)} is more specific and still decides "
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
            d = p.decide(p.start(now=0.0), outcome, now=0.0, rand=zero, method="POST")
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
                (m.span for m in origin.rule.matchers if outcome_key(m) == key), origin.span
            )
            where = f" (from @{origin.preset})" if origin.preset else ""
            self.add(
                "W108",
                f"{key} is retried for every method{where}: the server may already have "
                f"processed the request, so a POST may run twice; add methods= with the "
                "idempotent methods (methods=GET,HEAD,PUT,DELETE,OPTIONS)",
                origin.where(span),
            )

    # W111
    def every_method(self, origin: Origin) -> None:
        rule = origin.rule
        # methods= written, even methods=* (every method, on purpose), is the user's choice
        chosen = any(isinstance(i, MethodsSetting) for i in self.policy.items)
        if chosen or rule.methods is not None or not retries(rule):
            return
        statuses = [m for m in rule.matchers if outcome_key(m) is None and not unprocessed_only(m)]
        if not statuses:
            return
        names = ",".join(render_matcher(m) for m in statuses)
        self.add(
            "W111",
            f"{names} is retried for every method, POST included: a request the server "
            f"already processed may run twice; limit the rule ({names}[idempotent]:...) or "
            "set methods=",
            statuses[0].span or origin.span,
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

    # I205
    def preset_caps(self) -> None:
        p = self.policy
        for setting, name in p.inherited:
            if not isinstance(setting, AttemptsSetting):
                continue
            cap = setting.count - 1
            for origin in self.origins:
                if origin.preset is not None:
                    continue
                granted = sum(getattr(s, "limit", 0) for s in origin.rule.strategies)
                if granted > cap:
                    self.add(
                        "I205",
                        f"attempts={setting.count} from @{name} caps this rule at "
                        f"{cap} retr{'y' if cap == 1 else 'ies'} (it grants {granted}); "
                        f"write attempts= to change the cap",
                        origin.rule.span,
                    )
