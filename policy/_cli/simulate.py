"""``policy simulate``: the decisions of a policy for a sequence of outcomes."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._lint import seconds_text
from .._outcomes import (
    Accept,
    ConnectFailure,
    ConnectionReset,
    GiveUp,
    Outcome,
    Response,
    Retry,
    Timeout,
)
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
            raise UsageError(
                f"--outcomes: {name!r} is not a status (100-599) or timeout, connect, reset"
            )
    return found


def run(args: argparse.Namespace) -> int:
    """Print the timeline of decisions."""
    import random

    p = one_policy(args.policy)
    outcomes = parse_outcomes(args.outcomes, args.headers)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    rand = random.Random(seed).random
    start = args.now if args.now is not None else time.time()
    stream = out()
    print(f"policy: {p}", file=stream)
    print(
        f"start {epoch(start)} (--now), seed {seed} (--seed), method {args.method.upper()}",
        file=stream,
    )
    rows = [("#", "at", "outcome", "decision", "wait", "reason")]
    state = p.start(now=start)
    now = start
    last: Any = None
    used = 0
    for i, outcome in enumerate(outcomes, 1):
        used = i
        d = p.decide(state, outcome, now=now, rand=rand, method=args.method)
        at = "+" + seconds_text(now - start)
        label = outcome_label(outcome)
        if isinstance(d, Retry):
            rows.append((str(i), at, label, "retry", seconds_text(d.delay), d.reason))
            now += d.delay
            state = d.state
        elif isinstance(d, GiveUp):
            rows.append((str(i), at, label, "give up", "", d.reason))
        else:
            assert isinstance(d, Accept)
            rows.append((str(i), at, label, "accept", "", "2xx: done"))
        last = d
        if not isinstance(d, Retry):
            break
    widths = [max(len(r[k]) for r in rows) for k in range(5)]
    for r in rows:
        cells = [r[k].ljust(widths[k]) for k in range(5)]
        print(("  ".join(cells) + "  " + r[5]).rstrip(), file=stream)
    if isinstance(last, Retry):
        print(
            f"the outcomes ran out: a retry is due at +{seconds_text(now - start)}",
            file=stream,
        )
    elif used < len(outcomes):
        print(f"{len(outcomes) - used} outcome(s) not reached: the call is over", file=stream)
    print(
        f"{state.requests} request{'s' * (state.requests != 1)}, "
        f"{seconds_text(now - start)} of waiting",
        file=stream,
    )
    return 0
