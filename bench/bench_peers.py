"""Per-attempt cost of the retry libraries people compare against (sleep disabled).

``python bench/bench_peers.py [ITERATIONS]``.  Each library retries a function that
returns (or raises) "503" twice and then succeeds, so one call is three attempts; the
number reported is µs per attempt.  Libraries that are not installed are skipped (they
are in the ``bench`` extra: tenacity, stamina, backoff).
"""

from __future__ import annotations

import statistics
import sys
import timeit
from collections.abc import Callable
from typing import Any

REPEATS = 5
ATTEMPTS = 3


class _Flaky(Exception):
    """What the peers retry on."""


def _results() -> Callable[[], int]:
    n = [0]

    def call() -> int:
        n[0] += 1
        return 200 if n[0] % ATTEMPTS == 0 else 503

    return call


def _raises() -> Callable[[], int]:
    n = [0]

    def call() -> int:
        n[0] += 1
        if n[0] % ATTEMPTS:
            raise _Flaky
        return 200

    return call


def cases() -> dict[str, Callable[[], Any]]:
    """name -> one call of three attempts, for every peer that is installed."""
    out: dict[str, Callable[[], Any]] = {}
    try:
        import tenacity
    except ImportError:
        print("tenacity: not installed")
    else:
        t = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(5),
            wait=tenacity.wait_exponential(multiplier=1, max=30),
            retry=tenacity.retry_if_result(lambda r: r == 503),
            sleep=lambda _s: None,
        )
        t_call = _results()
        out["tenacity"] = lambda: t(t_call)
    try:
        import stamina
    except ImportError:
        print("stamina: not installed")
    else:
        stamina.set_testing(True, attempts=5)  # no sleeping; retries still run
        stamina.instrumentation.set_on_retry_hooks([])  # no log line per retry
        s_call = _raises()

        @stamina.retry(on=_Flaky, attempts=5)
        def s_wrapped() -> int:
            return s_call()

        out["stamina"] = s_wrapped
    try:
        import backoff
    except ImportError:
        print("backoff: not installed")
    else:
        b_call = _results()
        b_wrapped = backoff.on_predicate(
            backoff.constant, lambda r: r == 503, max_tries=5, interval=0, jitter=None
        )(b_call)
        out["backoff (sleep(0))"] = b_wrapped
    return out


def main(iterations: int = 20_000) -> dict[str, float]:
    """µs per attempt for each installed peer (median of the repeats)."""
    results: dict[str, float] = {}
    for name, call in cases().items():
        call()
        times = timeit.repeat(call, number=iterations, repeat=REPEATS)
        results[name] = statistics.median(times) / (iterations * ATTEMPTS) * 1e6
    try:
        import stamina

        stamina.set_testing(False)
    except ImportError:
        pass
    for name, us in results.items():
        print(f"  {name:22} {us:8.3f} µs per attempt")
    return results


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
