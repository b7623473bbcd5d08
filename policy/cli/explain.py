"""``policy explain``: per rule, what it decides and how long it waits."""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Any

from ..evaluate._evaluate import compiled_of
from ..language._ast import Never, Rule
from ..language._outcomes import ConnectFailure, ConnectionReset, Outcome, Response, Timeout
from ..language._policy import Policy
from ..language._render import duration, render_item, render_rule
from ..language._settings import PresetRef
from ..language._words import seconds_text, statuses_text
from ._io import UsageError, err, out
from ._sources import one_policy
from ._words import envelope_text, outcome_label

if TYPE_CHECKING:
    import argparse

__all__ = ["explain", "run"]

_SHOW_HEAD = 5
_SHOW_TAIL = 2


def _probe_outcomes() -> list[Outcome]:
    found: list[Outcome] = [Response(s) for s in range(100, 600) if not 200 <= s <= 299]
    return [*found, Timeout(), ConnectFailure(), ConnectionReset()]


def run(args: argparse.Namespace) -> int:
    """Print the explanation of the policy (``--json``: as one JSON object); with
    ``--plot``, draw its delay envelope too (the file name is checked first)."""
    if args.plot:
        from ..fleet._plot import PlotError, check_plot

        try:
            check_plot(args.plot)
        except PlotError as exc:
            raise UsageError(str(exc)) from None
    p = one_policy(args.policy)
    model = explain(p)
    if args.json:
        import json

        json.dump(model, out(), indent=2, ensure_ascii=False)
        print(file=out())
    else:
        _print(model, out())
        for note in model["fleet"]:
            print(note, file=out())
    if args.plot:
        _plot(p, args.plot, err() if args.json else out())
    return 0


def _plot(p: Policy, path: str, stream: IO[str]) -> None:
    from ..fleet._plot import PlotError, envelope_series, plot_envelope

    if not envelope_series(p):
        print(f"nothing to draw: no rule of this policy retries ({path} not written)", file=stream)
        return
    try:
        where = plot_envelope(p, path)
    except PlotError as exc:
        raise UsageError(str(exc)) from None
    print(f"envelope drawn in {where}", file=stream)


def _fleet_notes(p: Policy) -> list[str]:
    """What pacing and the retry budget mean for this policy (lint I203, I204), in words."""
    from ..check._lint import lint

    notes = [d.message for d in lint(p) if d.code in ("I203", "I204")]
    if p.pace:
        notes.append("pacing: on (a response that says the quota is spent holds the origin)")
    return notes


def _worst(w: Any) -> dict[str, Any]:
    return {"wait": w.wait, "requests": w.requests}


#: Stands for every method that no rule and no ``methods=`` names.
_OTHER = "<other>"


def _method_classes(p: Policy) -> list[str]:
    """The methods some rule or ``methods=`` names, in order, then ``_OTHER``."""
    named: list[str] = []
    for limit in [*(r.methods for r in p.rules), p.methods]:
        for m in limit or ():
            if m not in named:
                named.append(m)
    return [*named, _OTHER]


def _retries(rule: Rule) -> bool:
    """Whether the rule's chain can grant a retry (it does not start with ``never``)."""
    for s in rule.strategies:
        if isinstance(s, Never):
            return False
        if s.limit > 0:
            return True
    return False


def _groups(
    methods_of: dict[int, frozenset[str]], probes: list[Outcome], classes: list[str]
) -> list[dict[str, Any]]:
    """Outcomes grouped by the methods they are decided (or retried) for, in probe order:
    ``{"statuses", "outcomes", "methods", "except"}``, where ``methods`` null means every
    method but those in ``except``, and a list means those methods only."""
    named = [m for m in classes if m != _OTHER]
    order: list[frozenset[str]] = []
    members: dict[frozenset[str], list[Outcome]] = {}
    for k, ms in methods_of.items():
        if not ms:
            continue
        if ms not in members:
            order.append(ms)
            members[ms] = []
        members[ms].append(probes[k])
    groups = []
    for ms in order:
        found = members[ms]
        every = _OTHER in ms
        groups.append(
            {
                "statuses": [o.status for o in found if isinstance(o, Response)],
                "outcomes": [outcome_label(o) for o in found if not isinstance(o, Response)],
                "methods": None if every else [m for m in named if m in ms],
                "except": [m for m in named if m not in ms] if every else [],
            }
        )
    return groups


def explain(p: Policy) -> dict[str, Any]:
    """What ``explain`` says of ``p``, as data (the ``--json`` schema in docs/cli.md).

    Which rule decides an outcome can depend on the request's method (a rule limited to
    ``[idempotent]`` methods leaves the others to a broader rule, or to none): each
    outcome is asked of the evaluator once per method that some rule or ``methods=``
    names, and once for every other method.
    """
    compiled = compiled_of(p)
    classes = _method_classes(p)
    index = {id(e): i for i, e in enumerate(compiled.entries)}
    probes = _probe_outcomes()
    decides: dict[int, dict[int, set[str]]] = {}
    retried: dict[int, frozenset[str]] = {}
    for k, o in enumerate(probes):
        allowed: set[str] = set()
        for m in classes:
            e = compiled.entry_for(o, m)
            if e is None:
                continue
            decides.setdefault(index[id(e)], {}).setdefault(k, set()).add(m)
            policy_allows = p.methods is None or isinstance(o, ConnectFailure) or m in p.methods
            if _retries(e[0]) and policy_allows:
                allowed.add(m)
        retried[k] = frozenset(allowed)
    origins: list[tuple[Rule, str | None]] = []
    for item in p.items:
        if isinstance(item, Rule):
            origins.append((item, None))
        elif isinstance(item, PresetRef):
            origins.extend((r, item.name) for r in item.rules)
    settings = list(p.settings)  # the written ones and those presets give
    rules: list[dict[str, Any]] = []
    for i, (rule, preset) in enumerate(origins):
        won = decides.get(i, {})
        decided = [probes[k] for k in won]
        alone = Policy([rule, *settings])
        sched = alone.schedule(decided[0]) if decided else []
        n = len(sched)
        shown = (
            list(range(n))
            if n <= _SHOW_HEAD + _SHOW_TAIL + 1
            else [*range(_SHOW_HEAD), *range(n - _SHOW_TAIL, n)]
        )
        rules.append(
            {
                "rule": render_rule(rule),
                "preset": preset,
                "statuses": [o.status for o in decided if isinstance(o, Response)],
                "outcomes": [outcome_label(o) for o in decided if not isinstance(o, Response)],
                "methods": None if rule.methods is None else list(rule.methods),
                "decides_for": _groups(
                    {k: frozenset(ms) for k, ms in won.items()}, probes, classes
                ),
                "strategy": " | ".join(_strategy_words(s) for s in rule.strategies),
                "retries": n,
                "schedule": [
                    {"retry": k + 1, "min": sched[k].min, "max": sched[k].max} for k in shown
                ],
                "worst_case": _worst(alone.worst_case()) if decided else None,
            }
        )
    return {
        "policy": str(p),
        "rules": rules,
        "worst_case": _worst(p.worst_case()),
        "attempts": p.attempts,
        "deadline": None if p.deadline_ms is None else p.deadline_ms / 1000,
        "timeout": None if p.timeout_ms is None else p.timeout_ms / 1000,
        "methods": None if p.methods is None else list(p.methods),
        "retried_for": _groups(retried, probes, classes),
        "pace": p.pace,
        "sse": p.sse,
        "budget": None if p.budget is None else float(p.budget),
        "inherited": [
            {"setting": render_item(setting), "preset": name} for setting, name in p.inherited
        ],
        "fleet": _fleet_notes(p),
    }


def _group_text(g: dict[str, Any], *, every: str = "") -> str:
    """``429, 502-504, connect`` and, unless every method, ``(GET, HEAD only)``."""
    labels = ([statuses_text(g["statuses"])] if g["statuses"] else []) + g["outcomes"]
    what = ", ".join(labels)
    if g["methods"] is not None:
        return f"{what} ({', '.join(g['methods'])} only)"
    if g["except"]:
        return f"{what} (every method except {', '.join(g['except'])})"
    return f"{what}{every}"


def _print(model: dict[str, Any], stream: IO[str]) -> None:
    print(f"policy: {model['policy']}", file=stream)
    if not model["rules"]:
        print("no rules: nothing is retried", file=stream)
    for r in model["rules"]:
        origin = f"  (from @{r['preset']})" if r["preset"] else ""
        print(f"\n{r['rule']}{origin}", file=stream)
        if r["worst_case"] is None:
            print("  decides nothing: more specific or later rules take every outcome", file=stream)
            continue
        print(f"  decides: {'; '.join(_group_text(g) for g in r['decides_for'])}", file=stream)
        print(f"  strategy: {r['strategy']}", file=stream)
        n = r["retries"]
        if not n:
            print("  retries: none", file=stream)
        else:
            print(f"  retries ({n}):", file=stream)
            previous = 0
            for step in r["schedule"]:
                if step["retry"] != previous + 1:
                    print("    …", file=stream)
                previous = step["retry"]
                wait = envelope_text(step["min"], step["max"])
                print(f"    {step['retry']:>3}. wait {wait}", file=stream)
        worst = r["worst_case"]
        print(
            f"  worst case: {seconds_text(worst['wait'])} of waiting, {worst['requests']} "
            f"request{'s' * (worst['requests'] != 1)}",
            file=stream,
        )
    worst = model["worst_case"]
    notes = []
    if model["attempts"] is not None:
        notes.append(f"attempts={model['attempts']}")
    if model["deadline"] is not None:
        notes.append(f"deadline={duration(round(model['deadline'] * 1000))}")
    capped = f" (capped by {', '.join(notes)})" if notes else ""
    print(
        f"\nwhole policy, worst case: {seconds_text(worst['wait'])} of waiting, "
        f"{worst['requests']} request{'s' * (worst['requests'] != 1)}{capped}",
        file=stream,
    )
    for inh in model["inherited"]:
        print(f"{inh['setting']}  (from @{inh['preset']}; write it to change it)", file=stream)
    if model["timeout"] is not None:
        print(
            f"each attempt times out after {duration(round(model['timeout'] * 1000))}",
            file=stream,
        )
    methods = model["methods"]
    if not any(r["methods"] for r in model["rules"]):
        print(
            "methods retried: "
            + ("every method" if methods is None else ", ".join(methods))
            + ("" if methods is None else " (connect failures: every method)"),
            file=stream,
        )
        return
    # Rules limited to some methods: say, per group of outcomes, which methods are retried.
    print("methods retried:", file=stream)
    for g in model["retried_for"]:
        print(f"  {_group_text(g, every=': every method')}", file=stream)
    if not model["retried_for"]:
        print("  none: no rule retries", file=stream)


def _strategy_words(s: Any) -> str:
    from ..language._ast import Backoff, Headers

    if isinstance(s, Backoff):
        if s.fixed:
            shape = f"a fixed {duration(s.min_ms)} delay"
        else:
            shape = (
                f"exponential backoff {duration(s.min_ms)}..{duration(s.max_ms)} "
                f"x{float(s.factor):g}"
            )
        jit = "" if s.jitter.value == "none" else f", {s.jitter.value} jitter"
        return f"{shape}{jit}, up to {s.limit} retries"
    if isinstance(s, Headers):
        if s.named:
            names = ", ".join(n for n in (s.limit_header, s.remaining_header, s.reset_header) if n)
            what = f"Retry-After, then {names}"
        else:
            what = "Retry-After, RateLimit, RateLimit-Reset, X-RateLimit-Reset"
        return (
            f"wait as the server says ({what}), at most {duration(s.max_ms)} "
            f"(longer: {s.over.value}), up to {s.limit} retries"
        )
    return "never retry"
