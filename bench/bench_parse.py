"""Parse costs: ``policy.parse`` (uncached and cached), parser construction, import, CLI.

``python bench/bench_parse.py [ITERATIONS]``.  SPEC §5: parse of the example ≤ 150 µs,
a repeated string ≤ 2 µs, a cold ``policy check '<example>'`` process ≤ 150 ms wall.

- ``parse``: the SPEC §0 example, without the cache (``_parse``), i.e. a first parse.
- ``parse_3rules``: the example plus ``connect,timeout:backoff(3)`` (three rules).
- ``parse_lark``: the example through Lark (the path for text with comments and errors).
- ``parse_cached``: ``policy.parse`` of a string parsed before (the LRU cache).
- ``lark_parser_build``: building the Lark parser (once per process, on first fallback).
- ``comments_8k``: 8 kB of ``"# "`` comments inside parentheses, parsed; ``reject_8k``:
  the same without the closing line, refused with its message; ``reject_10k``: 10 kB of
  comments, refused by the size limit.  Hostile-input cases: comments are read in linear
  time, so each stays in the low milliseconds (the bar: a refused input ≤ 10 ms).
The in-process cases run in interleaved rounds (each round times every case once) and
report the median round, so a burst of load on a shared machine touches every case alike.

- ``import``, ``check``: fresh interpreter processes, wall time in ms (median), after one
  warm-up run with bytecode writing allowed, so that the processes load up-to-date ``.pyc``
  files as an installed package does (``PYTHONDONTWRITEBYTECODE`` in the environment would
  otherwise leave every changed module to be compiled from source in every run).
  ``check_script`` is the installed console script ``policy check '<example>'`` (what a user
  runs; the bar is ≤ 5× a bare ``python -c pass`` of the same run: ``check_ratio``), and
  ``attrs`` a bare ``python -c "import attrs"``: the floor of any process that builds the
  frozen attrs AST (``attrs_ratio``), since attrs imports ``inspect``, ``typing``,
  ``platform`` and ``threading`` and builds its own classes when it is imported; and
  ``import`` a bare ``python -c "import policy"`` (``import_ratio``): attrs plus the AST
  classes and the parser, before any command runs.  attrs compiles each class's
  methods when the class is defined (about 0.7 ms a class here), so the thirty-odd frozen
  classes of the AST and the decisions cost more than ``python -c pass`` itself.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import timeit
from collections.abc import Callable

EXAMPLE = "429:headers(x-ratelimit-*) 5xx:backoff(5,1s..30s,x1.8,jitter)"
EXAMPLE_3 = EXAMPLE + " connect,timeout:backoff(3)"
COMMENTS_8K = "5xx:backoff(5 " + "# " * 4000 + "\n)"
REJECT_8K = "5xx:backoff(5 " + "# " * 4000
REJECT_10K = "#" * 10_000
ROUNDS = 15


def _rounds(cases: dict[str, tuple[Callable[[], object], int]], rounds: int) -> dict[str, float]:
    """µs per call of each case: the median of ``rounds`` interleaved rounds."""
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, (stmt, number) in cases.items():
            times[name].append(timeit.timeit(stmt, number=number) / number * 1e6)
    return {name: statistics.median(t) for name, t in times.items()}


def _processes_ms(commands: dict[str, list[str]], runs: int) -> dict[str, float]:
    """Wall ms of each command in a fresh process: the median of ``runs`` interleaved rounds."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for args in commands.values():
        subprocess.run(args, check=True, capture_output=True, env=env)  # warm-up: writes .pyc
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, args in commands.items():
            t0 = time.perf_counter()
            subprocess.run(args, check=True, capture_output=True, env=env)
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) * 1000 for name, t in times.items()}


def main(iterations: int = 2000, processes: int = 7) -> dict[str, float]:
    """Time each case; print and return µs (ms for processes)."""
    import policy
    import policy.language._parse as m

    def build() -> None:
        m.parser.cache_clear()
        m.parser()

    def refused(text: str) -> Callable[[], None]:
        def run() -> None:
            try:
                m._parse(text)
            except policy.PolicyError:
                return
            raise AssertionError("expected a PolicyError")

        return run

    m._parse(EXAMPLE)
    n = max(1, iterations // 5)
    k = max(1, iterations // 100)
    results = _rounds(
        {
            "parse": (lambda: m._parse(EXAMPLE), n),
            "parse_3rules": (lambda: m._parse(EXAMPLE_3), n),
            "parse_lark": (lambda: m.parse_with_lark(EXAMPLE), n),
            "parse_cached": (lambda: policy.parse(EXAMPLE), n * 50),
            "lark_parser_build": (build, max(1, iterations // 1000)),
            "comments_8k": (lambda: m._parse(COMMENTS_8K), k),
            "reject_8k": (refused(REJECT_8K), k),
            "reject_10k": (refused(REJECT_10K), k),
        },
        ROUNDS if iterations >= 100 else 3,
    )
    py = sys.executable
    commands = {
        "import": [py, "-c", "import policy"],
        "check": [py, "-m", "policy", "check", EXAMPLE],
        "python": [py, "-c", "pass"],
        "attrs": [py, "-c", "import attrs"],
    }
    script = os.path.join(os.path.dirname(py), "policy")
    if os.path.exists(script):  # the console script of an installed (or editable) package
        commands["check_script"] = [script, "check", EXAMPLE]
    results |= {f"{name}_ms": ms for name, ms in _processes_ms(commands, processes).items()}
    cold = results.get("check_script_ms", results["check_ms"])
    results["check_ratio"] = cold / results["python_ms"]
    results["attrs_ratio"] = results["attrs_ms"] / results["python_ms"]
    results["import_ratio"] = results["import_ms"] / results["python_ms"]
    for name, value in results.items():
        unit = "ms" if name.endswith("_ms") else "×" if name.endswith("_ratio") else "µs"
        print(f"  {name:22} {value:9.1f} {unit}")
    return results


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
