"""The long fuzz run (outside CI): ≥ 10⁶ generated and mutated inputs, with figures.

``tests/test_fuzz.py`` checks the contract with Hypothesis on a few hundred inputs per
run; this script checks the same contract on a million or more, fast, with a seeded
``random.Random`` (no Hypothesis, whose shrinking machinery costs more than the calls):

* ``parse``        -- raises ``PolicyError`` (a ``ValueError``) or returns a ``Policy``;
* ``from_options`` -- the same;
* ``headers``      -- every header parser returns ``None`` or a finite, non-negative wait;
* ``decide``       -- returns a ``Retry`` (finite delay ≥ 0), ``GiveUp`` or ``Accept``.

Inputs: mutations (insert, delete, replace, duplicate, splice) of real policy strings
(every preset and a corpus of valid and invalid texts), random bytes decoded as UTF-8 or
Latin-1, huge numbers, deep nesting, texts around the 8 kB bound, random JSON-like
objects for options, random header maps with hostile values.

Usage::

    python bench/fuzz_long.py                  # 1 000 000 inputs, all cores
    python bench/fuzz_long.py -n 20000 -j 1    # a quick look
    python bench/fuzz_long.py --seed 7 --json  # machine-readable summary

It prints, per target: inputs run, unexpected exceptions (with the first few inputs that
raised them, to reproduce), and the slowest input's time.  Exit status 1 if anything
unexpected was raised.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing
import os
import random
import sys
import time
import traceback
from typing import Any

import policy
import policy.evaluate._headers as H
from policy.language._ast import ResetFormat

TARGETS = ("parse", "from_options", "headers", "decide")

CORPUS = [
    "429:headers(x-ratelimit-*) 5xx:backoff(5,1s..30s,x1.8,jitter)",
    "5xx:backoff()",
    "501:never 5xx:backoff(3)",
    "429:headers(limit-header=a,remaining-header=b,reset-header=c,format=epoch,max=15m,"
    "over=clamp,jitter=2s,limit=3)|backoff(2,1s) timeout=10s deadline=2m attempts=5",
    "timeout,connect,reset:backoff(limit=3,min=250ms,max=1h,factor=2,jitter=decorrelated)",
    "all:headers()|never methods=GET,PUT; 500-599:backoff(2s) # comment",
    "reset,timeout[idempotent]:backoff(3)",
    "@github @openai @anthropic @stripe @standard 429:never",
    "5xx:backoff(5,1s-30s,x1.8)",
    "429:never5xx:never",
    "5xx : backoff()",
    "backof(3)",
    "",
    *(p.text for p in policy.PRESETS.values()),
]
TOKENS = [
    "(", ")", ",", "..", "=", ":", ";", "|", "#", "@", "*", "-", " ", "\n", "\t", "x", "ms",
    "s", "m", "h", "d", "1", "0", "5", "9" * 30, "1.5", ".", "backoff", "headers", "never",
    "jitter", "nojitter", "limit", "min", "max", "factor", "format", "over", "timeout",
    "deadline", "attempts", "methods", "all", "5xx", "429", "500-599", "connect", "reset",
    "x-ratelimit-*", "\u00e9", "\u0660", "\ufeff", "\x00", "\r", "[", "]", "idempotent",
]  # fmt: skip

HEADER_NAMES = [
    "retry-after", "date", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset",
    "ratelimit", "ratelimit-reset", "x-should-retry", "stripe-should-retry",
    "x-ratelimit-reset-requests", "anthropic-ratelimit-requests-reset", "x-reset",
]  # fmt: skip
VALUE_SEEDS = [
    "0", "1", "5", "5.0", "-1", "nan", "inf", "1e3", "120", "315360000", "1700000000",
    "1700000000000", "1700000000.5", "Thu, 01 Jan 1970 00:00:00 GMT",
    "Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT",
    "Sun Nov  6 08:49:37 1994", "Fri, 31 Dec 9999 23:59:59 GMT", "2026-11-28T12:00:30Z",
    "2026-11-28t13:00:30.5+01:00", "0001-01-01T00:00:00Z", "6m0s", "1h2m3.5s", "72ms",
    "1d22h8m1s", '"default";r=0;t=30, "burst";r=5;t=1', "false", "true", "",
]  # fmt: skip
POLICIES = [
    policy.parse(t)
    for t in (
        "429,503:headers(x-ratelimit-*)|backoff(3,1s..30s,jitter)",
        "all:headers()|backoff(2,1ms..1h,x1000,jitter=decorrelated) deadline=10m",
        "all:headers(reset-header=x-reset,format=epoch,over=clamp,jitter=1h,max=1m)",
        "all:headers(reset-header=x-reset,format=date,over=skip)|never attempts=3",
        "all:headers(reset-header=x-reset,format=duration,limit=1000000)",
        "@github @openai @anthropic @stripe @standard methods=GET",
        "5xx,timeout,connect,reset:backoff(1000000,1ms..168h,x1000,jitter=scale)",
    )
]
SEED_KEYS = [
    "strategy", "type", "limit", "minTimeoutInMs", "maxTimeoutInMs", "factor", "randomize",
    "limitHeader", "remainingHeader", "resetHeader", "resetFormat", "bodyFilter",
    "durationInMs", "retry", "429", "5xx", "500-599", "all", "2xx",
]  # fmt: skip


class Gen:
    """Random inputs for each target, from one seeded generator."""

    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)

    def mutate(self, s: str, edits: int) -> str:
        r = self.r
        for _ in range(edits):
            pos = r.randint(0, len(s))
            op = r.random()
            if op < 0.3:
                s = s[:pos] + r.choice(TOKENS) + s[pos:]
            elif op < 0.55:
                s = s[:pos] + s[pos + r.randint(1, 4) :]
            elif op < 0.8:
                s = s[:pos] + r.choice(TOKENS) + s[pos + 1 :]
            elif op < 0.9:
                end = min(len(s), pos + r.randint(1, 30))
                s = s[:end] + s[pos:end] + s[end:]
            else:
                other = r.choice(CORPUS)
                cut = r.randint(0, len(other))
                s = s[:pos] + other[cut:]
        return s

    def text(self) -> str:
        r = self.r
        k = r.random()
        if k < 0.6:
            return self.mutate(r.choice(CORPUS), r.randint(0, 8))
        if k < 0.75:
            return r.randbytes(r.randint(0, 300)).decode(r.choice(["utf-8", "latin-1"]), "replace")
        if k < 0.85:
            n = r.choice(["9" * r.randint(7, 5000), str(10 ** r.randint(6, 400)), "1e309"])
            return r.choice(
                [f"5xx:backoff({n})", f"5xx:backoff({n}s..{n}h,x{n})", f"attempts={n}",
                 f"429:headers(max={n}ms,jitter={n}s)", f"{n}:never", f"timeout={n}.{n}s"]
            )  # fmt: skip
        if k < 0.93:
            d = r.choice([10, 100, 1000, 3000])
            return r.choice(
                ["5xx:backoff" + "(" * d + ")" * d, "5xx:backoff(" * d,
                 "5xx:" + "|".join(["backoff(1)"] * d), ",".join(["5xx"] * d) + ":never"]
            )  # fmt: skip
        item = r.choice(["5xx:never ", "429:backoff(3) ", "x", "(", "# c\n", ";", "\u00e9"])
        return item * (r.choice([7900, 8200, 10_240]) // len(item))

    def leaf(self) -> Any:
        r = self.r
        return r.choice(
            [
                None, True, False, r.randint(-(10**30), 10**30), r.random() * 10 ** r.randint(0, 9),
                math.nan, math.inf, -1, 0, 1, 5, 1000, 60_000, 120_000, 1.8, "backoff", "headers",
                "x-ratelimit-reset", "unix_timestamp", "iso_8601", "", self.mutate("5xx", 2),
            ]
        )  # fmt: skip

    def json(self, depth: int = 0) -> Any:
        r = self.r
        k = r.random()
        if depth > 4 or k < 0.4:
            return self.leaf()
        if k < 0.55:
            return [self.json(depth + 1) for _ in range(r.randint(0, 4))]
        keys = SEED_KEYS if r.random() < 0.8 else [self.mutate(r.choice(SEED_KEYS), 2)]
        return {r.choice(keys): self.json(depth + 1) for _ in range(r.randint(0, 6))}

    def options(self) -> tuple[Any, Any]:
        r = self.r
        if r.random() < 0.7:
            retry: Any = {
                r.choice([*SEED_KEYS[-5:], "429,5xx", " 5xx", "600"]): {
                    r.choice(SEED_KEYS[:14]): self.leaf() for _ in range(r.randint(0, 8))
                }
                for _ in range(r.randint(0, 3))
            }
        else:
            retry = self.json()
        timeout = r.choice([None, {"durationInMs": self.leaf()}, self.json()])
        return retry, timeout

    def value(self) -> str:
        r = self.r
        k = r.random()
        if k < 0.5:
            return self.mutate(r.choice(VALUE_SEEDS), r.randint(0, 4))
        if k < 0.7:
            return r.randbytes(r.randint(0, 60)).decode("latin-1")
        if k < 0.85:
            return (
                str(r.randint(-(10**20), 10**20)) if r.random() < 0.5 else repr(r.random() * 1e12)
            )
        return r.choice(["9", "1d", ",", ";r=0;t=1", '"\\', "Mon, "]) * r.choice([100, 257, 5000])

    def headers(self) -> dict[str, str]:
        r = self.r
        return {r.choice(HEADER_NAMES): self.value() for _ in range(r.randint(0, 6))}


def _check_wait(w: float | None) -> None:
    if w is not None and not (isinstance(w, float) and 0.0 <= w < math.inf):
        raise AssertionError(f"bad wait {w!r}")


def run_one(target: str, g: Gen) -> tuple[Any, float]:
    """Run one generated input; return (the input, seconds); raise if the contract broke."""
    if target == "parse":
        text = g.text()
        t0 = time.perf_counter()
        with contextlib.suppress(policy.PolicyError):
            policy.parse(text)
        return text, time.perf_counter() - t0
    if target == "from_options":
        retry, timeout = g.options()
        t0 = time.perf_counter()
        with contextlib.suppress(policy.PolicyError):
            policy.from_options(retry=retry, timeout=timeout)
        return (retry, timeout), time.perf_counter() - t0
    if target == "headers":
        value = g.value()
        ref = g.r.choice([1.78e9, g.r.random() * 4e11, 0.0, -1.0, math.inf, math.nan])
        t0 = time.perf_counter()
        waits = [
            H.parse_delay_seconds(value),
            H.parse_ratelimit(value),
            H.parse_retry_after(value, ref),
            *(H.parse_reset(value, fmt, ref) for fmt in ResetFormat),
        ]
        H.parse_number(value)
        H.parse_duration(value)
        H.parse_http_date(value, reference=ref)
        H.parse_iso(value)
        H.reference_time({"date": value}, ref)
        took = time.perf_counter() - t0
        for w in waits:
            _check_wait(w)
        return (value, ref), took
    p = g.r.choice(POLICIES)
    headers = g.headers()
    now = g.r.choice([1.78e9, g.r.random() * 4e11])
    statuses = [g.r.choice([429, 503, 500, 404, 200, 301, 100, 599]) for _ in range(4)]
    t0 = time.perf_counter()
    state = p.start(now=now)
    for s in statuses:
        d = p.decide(state, policy.Response(s, headers), now=now, rand=g.r.random, method="GET")
        if isinstance(d, policy.Retry):
            if not (math.isfinite(d.delay) and d.delay >= 0):
                raise AssertionError(f"bad delay {d.delay!r}")
            state, now = d.state, now + d.delay
        else:
            str(d)
            break
    return (str(p), headers, statuses), time.perf_counter() - t0


def worker(args: tuple[int, int]) -> dict[str, Any]:
    seed, n = args
    g = Gen(seed)
    for warm in ("5xx:backoff(", "5xx:backoff(3)"):  # build the Lark parser before timing
        with contextlib.suppress(policy.PolicyError):
            policy.parse(warm)
    stats: dict[str, Any] = {
        t: {"count": 0, "errors": 0, "max_s": 0.0, "slowest": None, "examples": []} for t in TARGETS
    }
    for i in range(n):
        target = TARGETS[i % len(TARGETS)]
        st = stats[target]
        st["count"] += 1
        state = g.r.getstate()
        try:
            inp, took = run_one(target, g)
        except Exception:
            st["errors"] += 1
            if len(st["examples"]) < 3:
                g2 = Gen(0)
                g2.r.setstate(state)
                try:
                    inp = _regen(target, g2)
                except Exception:  # pragma: no cover - the generator itself is total
                    inp = "?"
                st["examples"].append(
                    {"input": repr(inp)[:500], "error": traceback.format_exc(limit=3)}
                )
            continue
        if took > st["max_s"]:
            st["max_s"], st["slowest"] = took, repr(inp)[:200]
    return stats


def _regen(target: str, g: Gen) -> Any:
    """The input ``run_one`` would draw from ``g`` (to show a failing input)."""
    if target == "parse":
        return g.text()
    if target == "from_options":
        return g.options()
    if target == "headers":
        return g.value()
    return g.headers()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=1_000_000, help="inputs in all (default 10^6)")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    a = ap.parse_args(argv)
    jobs = max(1, a.jobs)
    shares = [(a.seed * 1000 + j, a.n // jobs + (1 if j < a.n % jobs else 0)) for j in range(jobs)]
    t0 = time.perf_counter()
    if jobs == 1:
        parts = [worker(shares[0])]
    else:
        with multiprocessing.get_context("spawn").Pool(jobs) as pool:
            parts = pool.map(worker, shares)
    wall = time.perf_counter() - t0
    total: dict[str, Any] = {}
    for t in TARGETS:
        rows = [p[t] for p in parts]
        best = max(rows, key=lambda r: r["max_s"])
        total[t] = {
            "count": sum(r["count"] for r in rows),
            "errors": sum(r["errors"] for r in rows),
            "max_s": best["max_s"],
            "slowest": best["slowest"],
            "examples": [e for r in rows for e in r["examples"]][:3],
        }
    summary = {
        "inputs": sum(v["count"] for v in total.values()),
        "errors": sum(v["errors"] for v in total.values()),
        "seed": a.seed,
        "jobs": jobs,
        "wall_s": round(wall, 1),
        "python": sys.version.split()[0],
        "targets": total,
    }
    if a.json:
        print(json.dumps(summary, indent=2))
    else:
        print(
            f"{summary['inputs']} inputs, {summary['errors']} unexpected exceptions, "
            f"{wall:.0f}s wall on {jobs} processes (seed {a.seed}, Python {summary['python']})"
        )
        for t, v in total.items():
            ms = v["max_s"] * 1000
            print(f"  {t:13} {v['count']:>9} inputs  {v['errors']} errors  max {ms:.2f} ms")
            print(f"  {'':13} slowest: {v['slowest']}")
            for e in v["examples"]:
                print(f"    input: {e['input']}\n    {e['error']}")
    return 1 if summary["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
