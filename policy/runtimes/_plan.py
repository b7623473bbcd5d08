"""The shape every runtime shares: one retry set, one count, one back-off.

Envoy, Istio, Gateway API and gRPC each configure a route (or a method) with a single
retry policy: which outcomes to retry, how many retries, one back-off, perhaps a header
wait.  A policy says far more (a strategy per rule, chains, carve-outs, limits per rule),
so every conversion first flattens the policy into a ``Plan`` -- what it retries, for
each outcome, decided by the language's own precedence (the most specific rule, then
the later one) -- and reports what the flattening lost.  Each target then writes its
config from the plan and reads a plan back from a config; ``policy_of`` turns a plan into
the policy it stands for, so a round trip can be compared with what a conversion says
survives.
"""

from __future__ import annotations

from collections import Counter
from fractions import Fraction
from typing import Any

import attrs

import policy
from policy import Backoff, Headers, Jitter, Never

__all__ = [
    "ERROR_STATUSES",
    "Conversion",
    "Plan",
    "backoff_text",
    "clamp_timeout",
    "fmt_ms",
    "plan_of",
    "policy_of",
    "selector_text",
]

#: The statuses a plan can retry (``all``: 400-599).
ERROR_STATUSES = range(400, 600)


@attrs.frozen
class Plan:
    """A policy flattened to what a runtime can hold (durations in ms)."""

    retries: int = 0
    statuses: frozenset[int] = frozenset()
    connect: bool = False
    reset: bool = False
    timeout: bool = False
    backoff: Backoff | None = None  # its limit is ignored: ``retries`` counts
    headers: Headers | None = None  # its limit is ignored too
    timeout_ms: int | None = None
    deadline_ms: int | None = None
    budget: Fraction | None = None  # percent

    @property
    def retries_anything(self) -> bool:
        return self.retries > 0 and bool(
            self.statuses or self.connect or self.reset or self.timeout
        )


@attrs.frozen
class Conversion:
    """The result of a conversion: the ``output`` (a target's config as a dict, or a
    policy's text), the ``policy`` it stands for (what survives), and the report:
    ``lost`` (what the target cannot express and what it became) and ``widened`` (what
    the target retries that the source did not)."""

    target: str
    output: Any
    policy: policy.Policy
    lost: tuple[str, ...] = ()
    widened: tuple[str, ...] = ()

    @property
    def report(self) -> list[str]:
        """The loss report, one line each: ``lost: ...`` then ``widened: ...``."""
        return [f"lost: {x}" for x in self.lost] + [f"widened: {x}" for x in self.widened]

    @property
    def exact(self) -> bool:
        """Nothing was lost or widened."""
        return not self.lost and not self.widened


def clamp_timeout(ms: int, lost: list[str]) -> int | None:
    """A runtime's per-attempt timeout as the language's ``timeout=`` (1s..2m), or ``None``
    for 0 (no timeout)."""
    if ms == 0:
        return None
    kept = min(max(ms, 1000), 120_000)
    if kept != ms:
        lost.append(f"a per-attempt timeout of {fmt_ms(ms)} → timeout={fmt_ms(kept)} (1s..2m)")
    return kept


def fmt_ms(ms: int) -> str:
    """A duration in the policy's notation (``1.5s``, ``2m``, ``250ms``)."""
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms >= size and (ms * 1000) % size == 0:
            return f"{Fraction(ms, size).__float__():g}{unit}"
    return f"{ms}ms"


def _fmt_factor(f: Fraction) -> str:
    return f"x{float(f):g}"


def backoff_text(b: Backoff, limit: int | None = None) -> str:
    """``backoff(...)`` as written in a policy (``limit`` overrides the strategy's)."""
    n = b.limit if limit is None else limit
    delays = fmt_ms(b.min_ms) if b.fixed else f"{fmt_ms(b.min_ms)}..{fmt_ms(b.max_ms)}"
    parts = [str(n), delays]
    if not b.fixed:
        parts.append(_fmt_factor(b.factor))
    if b.jitter is not Jitter.NONE:
        parts.append("jitter" if b.jitter is Jitter.FULL else f"jitter={b.jitter.value}")
    return f"backoff({','.join(parts)})"


def selector_text(statuses: frozenset[int] | set[int]) -> str:
    """Statuses as matchers: whole classes as ``5xx``, runs as ``502-504``."""
    words: list[str] = []
    codes = sorted(statuses)
    i = 0
    while i < len(codes):
        c = codes[i]
        if c % 100 == 0 and all(x in statuses for x in range(c, c + 100)):
            words.append(f"{c // 100}xx")
            i += 100
            continue
        j = i
        while j + 1 < len(codes) and codes[j + 1] == codes[j] + 1 and codes[j + 1] % 100:
            j += 1
        words.append(str(c) if j == i else f"{c}-{codes[j]}")
        i = j + 1
    return ",".join(words)


def _strategy_text(s: Any) -> str:
    rule = policy.Policy([policy.Rule([policy.StatusCode(500)], [s])])
    return str(rule).split(":", 1)[1]


_STATUS_MATCHERS = (policy.StatusCode, policy.StatusRange, policy.StatusClass, policy.AllErrors)


def _decider(rules: tuple[policy.Rule, ...], status: int) -> policy.Rule | None:
    """The rule that decides ``status``: the most specific, then the later (as ``decide``)."""
    best: policy.Rule | None = None
    best_size = 0
    for r in rules:
        for m in r.matchers:
            if not isinstance(m, _STATUS_MATCHERS) or not m.covers(status):
                continue
            if best is None or m.size <= best_size:
                best, best_size = r, m.size
    return best


def _failure_rule(rules: tuple[policy.Rule, ...], kind: type[Any]) -> policy.Rule | None:
    found = None
    for r in rules:
        if any(isinstance(m, kind) for m in r.matchers):
            found = r
    return found


def plan_of(p: policy.Policy) -> tuple[Plan, list[str]]:
    """The plan a runtime can hold, and what flattening ``p`` into it lost."""
    lost: list[str] = []
    rules = p.rules
    chosen: dict[Any, policy.Rule] = {}
    for s in ERROR_STATUSES:
        r = _decider(rules, s)
        if r is not None:
            chosen[s] = r
    for kind in (policy.OnConnect, policy.OnReset, policy.OnTimeout):
        r = _failure_rule(rules, kind)
        if r is not None:
            chosen[kind.word] = r
    named_other = sorted(
        {
            str(policy.Policy([policy.Rule([m], [Never()])])).split(":", 1)[0]
            for r in rules
            for m in r.matchers
            if isinstance(m, _STATUS_MATCHERS) and not any(m.covers(s) for s in ERROR_STATUSES)
        }
    )
    if named_other:
        lost.append(f"statuses below 400 ({', '.join(named_other)}) → not retried")
    if any(isinstance(m, policy.OnError) for r in rules for m in r.matchers):
        lost.append("error (a caller's own failures) → not retried: a runtime sees HTTP only")
    retried = {k: r for k, r in chosen.items() if not isinstance(r.strategies[0], Never)}
    retried = {k: r for k, r in retried.items() if _limit(r) > 0}
    for r in {id(r): r for r in rules}.values():
        if r.methods is not None:
            lost.append(f"the method limit [{','.join(r.methods)}] of a rule → every method")
        if len(r.strategies) > 1 and not _envoy_chain(r):
            lost.append(
                f"the chain {_strategy_text(r.strategies[0])}|... → one strategy: "
                "a runtime has no fallback chain"
            )
    used = list({id(r): r for r in retried.values()}.values())
    weight = Counter(id(r) for r in retried.values())
    retries = max((_limit(r) for r in used), default=0)
    if len({_limit(r) for r in used}) > 1:
        lost.append(
            "limits per rule ("
            + ", ".join(f"{_limit(r)}" for r in used)
            + f") → {retries} retries for every outcome: a runtime has one retry count"
        )
    if p.attempts is not None:
        if p.attempts - 1 < retries:
            retries = p.attempts - 1
        lost.append(f"attempts={p.attempts} → {retries} retries (a runtime counts retries)")
    shapes = {tuple(type(s).__name__ for s in r.strategies) for r in used}
    if len(shapes) > 1:
        lost.append(
            "a strategy per rule ("
            + ", ".join(f"{selector_of(r)}:{_strategy_text(r.strategies[0])}" for r in used)
            + ") → one strategy for every retried outcome"
        )
    backoffs = _distinct(used, Backoff, weight)
    headers = _distinct(used, Headers, weight)
    if len(backoffs) > 1:
        lost.append(
            "back-offs per rule ("
            + ", ".join(backoff_text(b) for b in backoffs)
            + f") → {backoff_text(backoffs[0], retries)} for every outcome"
        )
    if len(headers) > 1:
        lost.append("header waits per rule → the first one for every outcome")
    if p.methods is not None:
        lost.append(f"methods={','.join(p.methods)} → every method")
    if p.pace:
        lost.append("pace=on → no pacing: a runtime waits only when it retries")
    budget = p.budget
    plan = Plan(
        retries=retries,
        statuses=frozenset(k for k in retried if isinstance(k, int)),
        connect="connect" in retried,
        reset="reset" in retried,
        timeout="timeout" in retried,
        backoff=backoffs[0] if backoffs else None,
        headers=headers[0] if headers else None,
        timeout_ms=p.timeout_ms,
        deadline_ms=p.deadline_ms,
        budget=None if budget is None else budget * 100,
    )
    if not plan.retries_anything:
        plan = attrs.evolve(plan, retries=0, statuses=frozenset(), backoff=None, headers=None)
        plan = attrs.evolve(plan, connect=False, reset=False, timeout=False)
    return plan, lost


def selector_of(r: policy.Rule) -> str:
    """A rule's selector as written (``429``, ``5xx,reset``)."""
    return str(policy.Policy([attrs.evolve(r, methods=None)])).split(":", 1)[0]


def _limit(r: policy.Rule) -> int:
    return sum(getattr(s, "limit", 0) for s in r.strategies)


def _envoy_chain(r: policy.Rule) -> bool:
    """``headers(...)|backoff(...)``: the one chain a runtime (Envoy) can hold."""
    kinds = [type(s) for s in r.strategies]
    return kinds == [Headers, Backoff]


def _distinct(rules: list[policy.Rule], kind: type[Any], weight: Counter[int]) -> list[Any]:
    """The distinct strategies of ``kind`` (limits aside), the most used first."""
    found: dict[Any, int] = {}
    for r in rules:
        for s in r.strategies:
            if isinstance(s, kind):
                key = attrs.evolve(s, limit=0)
                found[key] = found.get(key, 0) + weight[id(r)]
    return sorted(found, key=lambda k: -found[k])


def policy_of(plan: Plan) -> policy.Policy:
    """The policy a plan stands for: one rule (``headers|backoff`` when it waits for the
    server, with ``attempts=`` so that both count against one retry count)."""
    items: list[Any] = []
    if plan.retries_anything:
        matchers: list[Any] = [m for m in _matchers(plan.statuses)]
        matchers += [
            cls()
            for cls, on in (
                (policy.OnTimeout, plan.timeout),
                (policy.OnConnect, plan.connect),
                (policy.OnReset, plan.reset),
            )
            if on
        ]
        backoff = attrs.evolve(plan.backoff or Backoff(), limit=plan.retries)
        strategies: list[Any] = [backoff]
        if plan.headers is not None:
            strategies.insert(0, attrs.evolve(plan.headers, limit=plan.retries))
            items.append(policy.AttemptsSetting(plan.retries + 1))
        items.insert(0, policy.Rule(matchers, strategies))
    if plan.timeout_ms is not None:
        items.append(policy.TimeoutSetting(plan.timeout_ms))
    if plan.deadline_ms is not None:
        items.append(policy.DeadlineSetting(plan.deadline_ms))
    if plan.budget is not None:
        items.append(policy.BudgetSetting(plan.budget))
    return policy.Policy(items)


def _matchers(statuses: frozenset[int]) -> list[Any]:
    out: list[Any] = []
    for word in selector_text(statuses).split(",") if statuses else []:
        if word.endswith("xx"):
            out.append(policy.StatusClass(int(word[0])))
        elif "-" in word:
            lo, hi = word.split("-")
            out.append(policy.StatusRange(int(lo), int(hi)))
        else:
            out.append(policy.StatusCode(int(word)))
    return out
