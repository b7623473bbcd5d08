"""``policy simulate``: the decisions of a policy for a sequence of outcomes."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..language._outcomes import (
    Accept,
    ConnectFailure,
    ConnectionReset,
    Error,
    GiveUp,
    Outcome,
    Response,
    Retry,
    Timeout,
)
from ..language._words import seconds_text
from ._io import UsageError, out
from ._sources import one_policy
from ._words import epoch, outcome_label

if TYPE_CHECKING:
    import argparse

__all__ = ["parse_outcomes", "run"]

_WORDS: dict[str, Callable[[], Outcome]] = {
    "timeout": Timeout,
    "connect": ConnectFailure,
    "reset": ConnectionReset,
    "error": Error,
}


def parse_outcomes(spec: str, headers: list[str]) -> list[Outcome]:
    """The outcomes of ``--outcomes`` with the headers of ``--headers``."""
    names = [w.strip().lower() for w in spec.split(",") if w.strip()]
    if not names:
        raise UsageError("--outcomes: give a comma list such as 503,503,timeout,200")
    per: dict[int, list[tuple[str, str]]] = {}
    for h in headers:
        m = re.fullmatch(r"\s*(\d+)\s*:\s*([^:]+?)\s*:\s*(.*)", h)
        if m is None:
            raise UsageError(
                f"--headers {h!r}: expected 'N:Name: value' (N counts outcomes from 1)"
            )
        n = int(m.group(1))
        if not 1 <= n <= len(names):
            raise UsageError(f"--headers {h!r}: there is no outcome {n} (1..{len(names)})")
        per.setdefault(n, []).append((m.group(2), m.group(3)))
    found: list[Outcome] = []
    for i, name in enumerate(names, 1):
        if name in _WORDS:
            if i in per:
                raise UsageError(f"--headers: outcome {i} is {name}, which has no headers")
            found.append(_WORDS[name]())
        elif name.isdigit() and 100 <= int(name) <= 599:
            found.append(Response(int(name), per.get(i, [])))
        else:
            from ..language._raw import did_you_mean

            hint = did_you_mean(name, tuple(_WORDS))
            raise UsageError(
                f"--outcomes: {name!r} is not a status (100-599) or "
                f"timeout, connect, reset, error{hint}"
            )
    return found


def run(args: argparse.Namespace) -> int:
    """Print the timeline of decisions (``--json``: as one JSON object)."""
    import random

    if args.clients is not None:  # the fleet simulator
        from ..fleet._command import run as run_fleet
        from ..fleet._plot import PlotError

        policies = [one_policy(t) for t in args.policies]
        try:
            return run_fleet(policies, args, out())
        except (ValueError, PlotError) as exc:
            raise UsageError(str(exc)) from None
    from ..fleet._command import fleet_only

    problem = fleet_only(args)
    if problem is not None:
        raise UsageError(problem)
    if len(args.policies) != 1 or args.outcomes is None:
        raise UsageError("give one POLICY and --outcomes, or several with --clients N")
    p = one_policy(args.policies[0])
    outcomes = parse_outcomes(args.outcomes, args.headers)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    rand = random.Random(seed).random
    start = args.now if args.now is not None else time.time()
    steps: list[dict[str, Any]] = []
    state = p.start(now=start)
    now = start
    last: Any = None
    for i, outcome in enumerate(outcomes, 1):
        d = p.decide(state, outcome, now=now, rand=rand, method=args.method)
        step = {"attempt": i, "at": now - start, "outcome": outcome_label(outcome)}
        if isinstance(d, Retry):
            steps.append({**step, "decision": "retry", "wait": d.delay, "reason": d.reason})
            now += d.delay
            state = d.state
        elif isinstance(d, GiveUp):
            steps.append({**step, "decision": "give up", "wait": None, "reason": d.reason})
        else:
            assert isinstance(d, Accept)
            steps.append({**step, "decision": "accept", "wait": None, "reason": "2xx: done"})
        last = d
        if not isinstance(d, Retry):
            break
    model = {
        "policy": str(p),
        "start": start,
        "seed": seed,
        "method": args.method.upper(),
        "steps": steps,
        "not_reached": len(outcomes) - len(steps),
        "retry_due": now - start if isinstance(last, Retry) else None,
        "requests": state.requests,
        "waited": now - start,
    }
    if args.json:
        import json

        json.dump(model, out(), indent=2, ensure_ascii=False)
        print(file=out())
    else:
        _print(model)
    return 0


def _print(model: dict[str, Any]) -> None:
    stream = out()
    print(f"policy: {model['policy']}", file=stream)
    print(
        f"start {epoch(model['start'])} (--now), seed {model['seed']} (--seed), "
        f"method {model['method']}",
        file=stream,
    )
    rows = [("#", "at", "outcome", "decision", "wait", "reason")]
    for step in model["steps"]:
        wait = "" if step["wait"] is None else seconds_text(step["wait"])
        rows.append(
            (
                str(step["attempt"]),
                "+" + seconds_text(step["at"]),
                step["outcome"],
                step["decision"],
                wait,
                step["reason"],
            )
        )
    widths = [max(len(r[k]) for r in rows) for k in range(5)]
    for r in rows:
        cells = [r[k].ljust(widths[k]) for k in range(5)]
        print(("  ".join(cells) + "  " + r[5]).rstrip(), file=stream)
    if model["retry_due"] is not None:
        print(
            f"the outcomes ran out: a retry is due at +{seconds_text(model['retry_due'])}",
            file=stream,
        )
    elif model["not_reached"]:
        print(f"{model['not_reached']} outcome(s) not reached: the call is over", file=stream)
    n = model["requests"]
    print(
        f"{n} request{'s' * (n != 1)}, {seconds_text(model['waited'])} of waiting",
        file=stream,
    )
