"""Parse costs: ``policy.parse`` (uncached and cached), parser construction, import, CLI.

``python bench/bench_parse.py [ITERATIONS]``.  SPEC §5: parse of the example ≤ 150 µs,
a repeated string ≤ 2 µs, a cold ``policy check '<example>'`` process ≤ 150 ms wall.

- ``parse``: the SPEC §0 example, without the cache (``_parse``), i.e. a first parse.
- ``parse_3rules``: the example plus ``connect,timeout:backoff(3)`` (three rules).
- ``parse_lark``: the example through Lark (the path for text with comments and errors).
- ``parse_cached``: ``policy.parse`` of a string parsed before (the LRU cache).
- ``lark_parser_build``: building the Lark parser (once per process, on first fallback).
- ``import``, ``check``: fresh interpreter processes, wall time in ms (median), after one
  warm-up run with bytecode writing allowed, so that the processes load up-to-date ``.pyc``
  files as an installed package does (``PYTHONDONTWRITEBYTECODE`` in the environment would
  otherwise leave every changed module to be compiled from source in every run).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import timeit

EXAMPLE = "429:headers(x-ratelimit-*) 5xx:backoff(5,1s..30s,x1.8,jitter)"
EXAMPLE_3 = EXAMPLE + " connect,timeout:backoff(3)"
REPEATS = 5


def _us(stmt: object, number: int) -> float:
    times = timeit.repeat(stmt, number=number, repeat=REPEATS)  # type: ignore[arg-type]
    return statistics.median(times) / number * 1e6


def _process_ms(args: list[str], runs: int) -> float:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(args, check=True, capture_output=True, env=env)  # warm-up: writes .pyc
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def main(iterations: int = 2000, processes: int = 7) -> dict[str, float]:
    """Time each case; print and return µs (ms for processes)."""
    import policy
    from policy import _parse as m
    from policy._validate import build_policy

    m._parse(EXAMPLE)
    results = {
        "parse": _us(lambda: m._parse(EXAMPLE), iterations),
        "parse_3rules": _us(lambda: m._parse(EXAMPLE_3), iterations),
        "parse_lark": _us(lambda: build_policy(EXAMPLE, m._lark_raw(EXAMPLE)), iterations),
        "parse_cached": _us(lambda: policy.parse(EXAMPLE), iterations * 50),
    }

    def build() -> None:
        m.parser.cache_clear()
        m.parser()

    results["lark_parser_build"] = _us(build, max(1, iterations // 200))
    py = sys.executable
    results["import_ms"] = _process_ms([py, "-c", "import policy"], processes)
    results["check_ms"] = _process_ms([py, "-m", "policy", "check", EXAMPLE], processes)
    results["python_ms"] = _process_ms([py, "-c", "pass"], processes)
    for name, value in results.items():
        unit = "ms" if name.endswith("_ms") else "µs"
        print(f"  {name:22} {value:9.1f} {unit}")
    return results


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
