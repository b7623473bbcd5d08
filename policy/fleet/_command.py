"""``policy simulate P1 P2 ... --clients N --capacity R/s``: the fleet table (and picture).

The command's arguments (defined in ``policy.cli``) are read here, the model is
``_fleet.simulate_fleet`` and the picture ``_plot.plot_fleet``.  A bad argument raises
``ValueError`` with a message for the user (the CLI turns it into a usage error, exit 2).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import IO, Any

from ..language._policy import Policy
from ..language._words import seconds_text

__all__ = ["fleet_only", "parse_capacity", "parse_seconds", "parse_window", "run"]

_SECONDS = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h)?\s*", re.IGNORECASE)
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
#: Bounds that keep a simulation finite on a laptop.
MAX_CLIENTS = 100_000
MAX_HORIZON_S = 24 * 3600.0


def fleet_only(args: Any) -> str | None:
    """The first fleet-mode option given without ``--clients`` (a usage error), or ``None``."""
    for name in ("capacity", "fail", "outage", "plot"):
        if getattr(args, name) is not None:
            return f"--{name} needs --clients (fleet mode)"
    for name in ("refuse", "no_headers"):
        if getattr(args, name, False):
            return f"--{name.replace('_', '-')} needs --clients (fleet mode)"
    if args.work != 1 or args.horizon != "10m":
        return "--work and --horizon need --clients (fleet mode)"
    return None


def parse_seconds(text: str, what: str) -> float:
    """``"90s"`` / ``"1.5m"`` / ``"250ms"`` / ``"12"`` (seconds) as seconds."""
    m = _SECONDS.fullmatch(text)
    if m is None:
        raise ValueError(f"{what}: expected a duration such as 30s or 10m (got {text!r})")
    return float(m.group(1)) * _UNIT[(m.group(2) or "s").lower()]


def parse_capacity(text: str | None) -> int:
    """``"10/s"`` or ``"10"``: whole requests per second, at least 1."""
    if text is None:
        raise ValueError("--capacity is required with --clients (e.g. --capacity 10/s)")
    m = re.fullmatch(r"\s*([0-9]{1,9})\s*(?:/\s*s)?\s*", text)
    if m is None or int(m.group(1)) < 1:
        raise ValueError(
            f"--capacity: expected whole requests per second such as 10/s (got {text!r})"
        )
    return int(m.group(1))


def parse_window(text: str | None) -> tuple[float, float] | None:
    """``"10s..40s"``: an outage from 10 s to 40 s after the start."""
    if text is None:
        return None
    start, sep, end = text.partition("..")
    if not sep:
        raise ValueError(f"--outage: expected START..END such as 10s..40s (got {text!r})")
    a, b = parse_seconds(start, "--outage"), parse_seconds(end, "--outage")
    if a >= b:
        raise ValueError(f"--outage: the start must come before the end (got {text!r})")
    return a, b


def _time(s: float) -> str:
    return "never" if math.isinf(s) else seconds_text(s)


def run(policies: Sequence[Policy], args: Any, out: IO[str]) -> int:
    """Simulate each policy against the same fleet and print the table (or JSON)."""
    from ._simulate import simulate_fleet

    clients = args.clients
    if not 1 <= clients <= MAX_CLIENTS:
        raise ValueError(f"--clients: between 1 and {MAX_CLIENTS:,} (got {clients})")
    capacity = parse_capacity(args.capacity)
    if args.work < 1:
        raise ValueError(f"--work: at least 1 success per client (got {args.work})")
    horizon = parse_seconds(args.horizon, "--horizon")
    if not 0 < horizon <= MAX_HORIZON_S:
        raise ValueError(f"--horizon: more than 0s and at most 24h (got {args.horizon})")
    if args.fail is not None and not 400 <= args.fail <= 599:
        raise ValueError(f"--fail: an error status such as 503 (got {args.fail})")
    outage = parse_window(args.outage)
    refuse = bool(getattr(args, "refuse", False))
    headers = not getattr(args, "no_headers", False)
    if refuse and outage is None:
        raise ValueError("--refuse needs --outage (when connections are refused)")
    path = None
    if args.plot:
        from ._plot import check_path

        path = check_path(args.plot)
    seed = args.seed if args.seed is not None else 0
    results = simulate_fleet(
        policies,
        clients=clients,
        capacity=capacity,
        work=args.work,
        seed=seed,
        fail=args.fail,
        outage=outage,
        horizon=horizon,
        headers=headers,
        refuse=refuse,
    )
    setup = {
        "clients": clients,
        "capacity": capacity,
        "work": args.work,
        "seed": seed,
        "horizon": horizon,
        "fail": args.fail,
        "outage": list(outage) if outage else None,
        "refuse": refuse,
        "headers": headers,
    }
    if args.json:
        import json

        json.dump({**setup, "results": [r.as_dict() for r in results]}, out, indent=2)
        out.write("\n")
    else:
        failing = f", refusals answered {args.fail}" if args.fail else ""
        down = f", outage {_time(outage[0])}..{_time(outage[1])}" if outage else ""
        if outage and refuse:
            down += " (connections refused)"
        if not headers:
            down += ", 429s without rate-limit headers"
        print(
            f"fleet: {clients} clients, capacity {capacity}/s (fixed 1s windows), "
            f"{args.work} success{'es' * (args.work != 1)} each, seed {seed}, "
            f"horizon {_time(horizon)}{failing}{down}",
            file=out,
        )
        head = ["", "calls", "requests", "rejected", "gave up", "done", "makespan", "p50", "p99"]
        if outage:
            head += ["requests while down", "time to recover"]
        rows: list[tuple[str, ...]] = [tuple(head)]
        for i, r in enumerate(results, 1):
            row = [
                f"P{i}",
                str(r.calls),
                str(r.requests),
                str(r.rejected),
                str(r.gave_up),
                f"{r.done}/{r.clients}",
                _time(r.makespan),
                _time(r.p50),
                _time(r.p99),
            ]
            if outage:
                row += [str(r.while_down), "-" if r.recover is None else _time(r.recover)]
            rows.append(tuple(row))
        widths = [max(len(row[k]) for row in rows) for k in range(len(rows[0]))]
        for line in rows:
            cells = [line[0].ljust(widths[0])] + [
                c.rjust(w) for c, w in zip(line[1:], widths[1:], strict=True)
            ]
            print("  ".join(cells), file=out)
        for i, r in enumerate(results, 1):
            print(f"P{i}: {r.policy or '(empty policy: no retries)'}", file=out)
    if path is not None:
        from ._plot import plot_fleet

        plot_fleet(
            results,
            str(path),
            title=f"{clients} clients, capacity {capacity}/s: requests per second",
            capacity=capacity,
            outage=outage,
        )
    return 0
