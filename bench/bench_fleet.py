"""Fleet bars: pacing against a real limiter, retry budgets, and the fleet simulator.

Plain script (not a test)::

    python bench/bench_fleet.py [--rounds 3] [--write]

1. **Pacing** -- Flask-Limiter at 5/s (fixed window, headers on) in its own process;
   3 threads × 25 requests, each until it gets its 200.  Clients: urllib3's ``Retry``
   honouring ``Retry-After`` (``status_forcelist=[429]``, no backoff), ``RetryingPool``
   with ``429:headers(x-ratelimit-*,1000) pace=on``, and the same policy without pacing.
   Rounds interleave the clients (a fresh limiter each run); medians of the 429 counts
   and of the wall times, and the pace/urllib3 ratios (bar: 429s ≤ ⅓, wall ≤ 1.1×).
2. **Budget** -- a loopback server answering only 503; 16 threads × 50 calls through one
   ``RetryingPool`` under test mode (waits recorded, not slept) with
   ``5xx:backoff(3,1s..4s,x2,jitter) budget=20%``, and without the budget (bar: total
   requests ≤ 1.2 × first attempts + the floor of 10).
3. **Simulator** -- ``simulate_fleet`` with 100 clients × 600 simulated seconds, timed per
   policy (bar ≤ 2 s), and the calls each jitter kind needs at 10, 100 and 1000 clients
   (capacity 10/s, 1 success each, seed 1; bar: full or decorrelated ≤ ½ of no jitter
   at 100 clients).  The numbers come from the real evaluator, so they move when the
   jitter formulas do: rerun this after such a change.

``--write`` replaces the fleet section of ``docs/benchmarks.md`` (between the
``<!-- fleet -->`` markers) with the tables.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import urllib3  # noqa: E402
from urllib3.util import Retry  # noqa: E402

import policy  # noqa: E402
import transport  # noqa: E402
from policy.fleet._simulate import simulate_fleet  # noqa: E402
from policy.loop import start_recording, stop_recording  # noqa: E402

BEGIN, END = "<!-- fleet -->", "<!-- /fleet -->"
PACED = "429:headers(x-ratelimit-*,1000) pace=on"
UNPACED = "429:headers(x-ratelimit-*,1000)"
BUDGET = "5xx:backoff(3,1s..4s,x2,jitter) budget=20%"
JITTERS = ("", ",jitter", ",jitter=equal", ",jitter=decorrelated", ",jitter=scale")
JITTER_NAMES = ("none", "full", "equal", "decorrelated", "scale")

# The limiter runs in its own process, so its threads do not share the GIL with the
# clients.  It prints its port, serves until stdin closes, then prints its counts.
LIMITER = """
import json, sys
sys.path.insert(0, sys.argv[1])
from limited_server import LimitedServer
with LimitedServer("5 per second") as s:
    print(s.url, flush=True)
    sys.stdin.read()
print(json.dumps({str(k): v for k, v in s.counts.items()}), flush=True)
"""


def _limited(run: Callable[[str], None]) -> tuple[int, float]:
    """Run ``run(url)`` against a fresh limiter; (429s it answered, wall seconds)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", LIMITER, str(ROOT / "tests")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        url = proc.stdout.readline().strip()
        started = time.perf_counter()
        run(url)
        wall = time.perf_counter() - started
        proc.stdin.close()
        counts = json.loads(proc.stdout.readline())
    finally:
        proc.wait(30)
    assert counts.get("200") == 75, counts
    return int(counts.get("429", 0)), wall


def _threads(n: int, target: Callable[[], None]) -> None:
    threads = [threading.Thread(target=target) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)


def _urllib3(url: str) -> None:
    retry = Retry(
        total=10_000,
        status_forcelist=[429],
        respect_retry_after_header=True,
        backoff_factor=0,
        allowed_methods=None,
    )
    with urllib3.PoolManager(retries=retry, maxsize=3) as pm:

        def work() -> None:
            for _ in range(25):
                assert pm.request("GET", url).status == 200

        _threads(3, work)


def _pool(text: str) -> Callable[[str], None]:
    def run(url: str) -> None:
        with transport.RetryingPool(policy.parse(text)) as pool:

            def work() -> None:
                for _ in range(25):
                    assert pool.request("GET", url).status == 200

            _threads(3, work)

    return run


def bench_pacing(rounds: int) -> dict[str, Any]:
    clients = {"urllib3 Retry": _urllib3, "pace=on": _pool(PACED), "no pace": _pool(UNPACED)}
    seen: dict[str, list[tuple[int, float]]] = {k: [] for k in clients}
    for r in range(rounds):
        for name, run in clients.items():
            seen[name].append(_limited(run))
            print(f"  round {r + 1} {name}: 429s {seen[name][-1][0]}, "
                  f"{seen[name][-1][1]:.2f}s", flush=True)  # fmt: skip
    out: dict[str, Any] = {}
    for name, runs in seen.items():
        out[name] = {
            "429s": statistics.median(n for n, _ in runs),
            "wall": statistics.median(w for _, w in runs),
            "runs": runs,
        }
    return out


def bench_budget() -> dict[str, Any]:
    from httpserver import LoopbackServer, Reply

    out: dict[str, Any] = {}
    for text in (BUDGET, BUDGET.replace(" budget=20%", "")):
        with LoopbackServer() as server:
            url = server.route("/down", Reply(503))
            waits: list[float] = []
            start_recording(waits)
            try:
                with transport.RetryingPool(policy.parse(text)) as pool:

                    def work(pool: Any = pool, url: str = url) -> None:
                        for _ in range(50):
                            pool.request("GET", url)

                    _threads(16, work)
            finally:
                stop_recording(waits)
            out[text] = len(server.requests)
    return out


def bench_simulator() -> dict[str, Any]:
    policies = [policy.parse(f"429:backoff(100,1s..1m,x2{j})") for j in JITTERS]
    simulate_fleet(policies[:1], clients=10, capacity=10)  # warm-up (imports)
    times = []
    for p in policies:
        # 100 clients needing 100 successes each at 10/s: busy for the whole 600 s.
        started = time.perf_counter()
        r = simulate_fleet([p], clients=100, capacity=10, work=100, seed=1, horizon=600)
        times.append((time.perf_counter() - started, r[0].requests))
    table: dict[int, list[Any]] = {}
    for n in (10, 100, 1000):
        table[n] = simulate_fleet(policies, clients=n, capacity=5, seed=1, horizon=600)
    return {"times": times, "table": table}


def markdown(pacing: dict[str, Any] | None, budget: dict[str, Any], sim: dict[str, Any]) -> str:
    lines = [BEGIN, "", "### Fleet (`bench/bench_fleet.py`)", ""]
    if pacing is not None:
        base = pacing["urllib3 Retry"]
        lines += [
            "Flask-Limiter 5/s, fixed window, headers on (own process); 3 threads × 25 "
            f"requests; medians of {len(base['runs'])} interleaved rounds:",
            "",
            "| client | 429s | wall | 429s × urllib3 | wall × urllib3 |",
            "|---|---|---|---|---|",
        ]
        for name, row in pacing.items():
            ratio = row["429s"] / base["429s"] if base["429s"] else float("nan")
            lines.append(
                f"| {name} | {row['429s']:g} | {row['wall']:.2f}s | {ratio:.2f}× | "
                f"{row['wall'] / base['wall']:.2f}× |"
            )
        runs = "; ".join(
            f"{name}: " + ", ".join(str(n) for n, _ in row["runs"]) for name, row in pacing.items()
        )
        lines += ["", f"429s per round: {runs}.", ""]
    firsts = 16 * 50
    lines += [
        "Retry budget: a server answering only 503, 16 threads × 50 calls, test mode:",
        "",
        "| policy | requests | first attempts | bar 1.2 × firsts + 10 |",
        "|---|---|---|---|",
    ]
    for text, total in budget.items():
        lines.append(f"| `{text}` | {total} | {firsts} | {int(1.2 * firsts + 10)} |")
    times = sim["times"]
    lines += [
        "",
        "Simulator, 100 clients × 600 simulated s (capacity 10/s, 100 successes each, so "
        "busy throughout), wall seconds per policy (requests simulated): "
        + ", ".join(
            f"{name} {t:.2f}s ({n})" for name, (t, n) in zip(JITTER_NAMES, times, strict=True)
        ),
        "",
        "Calls (requests) to get every client one success, capacity 5/s, "
        "`429:backoff(100,1s..1m,x2,…)`, seed 1, 600 s horizon (done = clients finished):",
        "",
        "| clients | " + " | ".join(JITTER_NAMES) + " |",
        "|---|" + "---|" * len(JITTER_NAMES),
    ]
    for n, results in sim["table"].items():
        none = results[0].requests
        cells = [
            f"{r.requests} ({r.requests / none:.2f}×{'' if r.done == n else f', done {r.done}'})"
            for r in results
        ]
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    lines += ["", END]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-pacing", action="store_true", help="skip the ~1 min limiter part")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    pacing = None if args.no_pacing else bench_pacing(args.rounds)
    budget = bench_budget()
    sim = bench_simulator()
    text = markdown(pacing, budget, sim)
    print(text)
    if args.write:
        doc = ROOT / "docs" / "benchmarks.md"
        old = doc.read_text("utf-8")
        if BEGIN in old:
            head, rest = old.split(BEGIN, 1)
            new = head + text + rest.split(END, 1)[1]
        else:
            new = old.rstrip("\n") + "\n\n" + text + "\n"
        doc.write_text(new, "utf-8")


if __name__ == "__main__":
    main()
