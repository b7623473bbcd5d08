"""``policy explain``: per rule, what it decides and how long it waits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._ast import Policy, PresetRef, Rule
from .._lint import seconds_text, statuses_text
from .._outcomes import ConnectFailure, ConnectionReset, Outcome, Response, Timeout
from .._render import duration, render_rule
from ._io import out
from ._sources import one_policy
from ._words import envelope_text, outcome_label

if TYPE_CHECKING:
    import argparse

__all__ = ["run"]

_SHOW_HEAD = 5
_SHOW_TAIL = 2


def _probe_outcomes() -> list[Outcome]:
    found: list[Outcome] = [Response(s) for s in range(100, 600) if not 200 <= s <= 299]
    return [*found, Timeout(), ConnectFailure(), ConnectionReset()]


def run(args: argparse.Namespace) -> int:
    """Print the explanation of the policy."""
    p = one_policy(args.policy)
    stream = out()
    compiled = p.compiled()
    index = {id(e): i for i, e in enumerate(compiled.entries)}
    wins: dict[int, list[Outcome]] = {}
    for o in _probe_outcomes():
        e = compiled.entry_for(o)
        if e is not None:
            wins.setdefault(index[id(e)], []).append(o)
    origins: list[tuple[Rule, str | None]] = []
    for item in p.items:
        if isinstance(item, Rule):
            origins.append((item, None))
        elif isinstance(item, PresetRef):
            origins.extend((r, item.name) for r in item.rules)
    settings = [i for i in p.items if not isinstance(i, Rule | PresetRef)]
    print(f"policy: {p}", file=stream)
    if not origins:
        print("no rules: nothing is retried", file=stream)
    for i, (rule, preset) in enumerate(origins):
        origin = f"  (from @{preset})" if preset else ""
        print(f"\n{render_rule(rule)}{origin}", file=stream)
        decided = wins.get(i, [])
        if not decided:
            print("  decides nothing: more specific or later rules take every outcome", file=stream)
            continue
        statuses = [o.status for o in decided if isinstance(o, Response)]
        others = [outcome_label(o) for o in decided if not isinstance(o, Response)]
        labels = ([statuses_text(statuses)] if statuses else []) + others
        print(f"  decides: {', '.join(labels)}", file=stream)
        print(f"  strategy: {' | '.join(_strategy_words(s) for s in rule.strategies)}", file=stream)
        sched = p.schedule(decided[0])
        if not len(sched):
            print("  retries: none", file=stream)
        else:
            print(f"  retries ({len(sched)}):", file=stream)
            n = len(sched)
            shown = range(n) if n <= _SHOW_HEAD + _SHOW_TAIL + 1 else None
            idx = (
                list(shown)
                if shown is not None
                else [*range(_SHOW_HEAD), -1, *range(n - _SHOW_TAIL, n)]
            )
            for k in idx:
                if k == -1:
                    print("    …", file=stream)
                    continue
                env = sched[k]
                print(f"    {k + 1:>3}. wait {envelope_text(env.min, env.max)}", file=stream)
        alone = Policy([rule, *settings]).worst_case()
        print(
            f"  worst case: {seconds_text(alone.wait)} of waiting, {alone.requests} "
            f"request{'s' * (alone.requests != 1)}",
            file=stream,
        )
    worst = p.worst_case()
    notes = []
    if p.attempts is not None:
        notes.append(f"attempts={p.attempts}")
    if p.deadline_ms is not None:
        notes.append(f"deadline={duration(p.deadline_ms)}")
    capped = f" (capped by {', '.join(notes)})" if notes else ""
    print(
        f"\nwhole policy, worst case: {seconds_text(worst.wait)} of waiting, "
        f"{worst.requests} request{'s' * (worst.requests != 1)}{capped}",
        file=stream,
    )
    if p.timeout_ms is not None:
        print(f"each attempt times out after {duration(p.timeout_ms)}", file=stream)
    methods = p.methods
    print(
        "methods retried: "
        + ("every method" if methods is None else ", ".join(methods))
        + ("" if methods is None else " (connect failures: every method)"),
        file=stream,
    )
    return 0


def _strategy_words(s: Any) -> str:
    from .._ast import Backoff, Headers

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
