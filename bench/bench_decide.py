"""How long one retry decision takes: ``Policy.decide`` against urllib3's ``Retry``.

Run ``python bench/bench_decide.py [iterations]``.  Every case builds its inputs (the
policy, the state, the outcome, urllib3's response object) outside the timed region and
times only the decision, with ``timeit``.  The cases take turns: each of ``ROUNDS`` rounds
times every case once (``iterations // 5`` decisions), so a load change on a shared machine
hits all of them alike; each number is the median over the rounds, in microseconds per
decision, and a ratio is the median of the rounds' own ratios (``best`` compares the
fastest round of each).  The SPEC's bars (§5): a backoff decision at least 9x faster
than urllib3's ``is_retry`` + ``increment`` + ``get_backoff_time``, and every case at
least 5x faster than urllib3 ``Retry`` deciding on the same response, same run.

Cases, each policy case paired with urllib3 deciding on the same response:

- ``backoff``: ``5xx:backoff(5,1s..30s,x1.8,jitter)`` deciding a 503; ``urllib3``:
  ``Retry(total=5, backoff_factor=1, status_forcelist=[503])`` with a real
  ``urllib3.HTTPResponse(status=503)``: ``is_retry`` + ``increment`` +
  ``get_backoff_time``.
- ``headers_retry_after``: ``429:headers()`` deciding a 429 with ``Retry-After: 7``;
  ``urllib3_retry_after``: ``Retry(total=5, backoff_factor=1, status_forcelist=[429])``
  (``respect_retry_after_header`` is on by default) on that 429: ``is_retry`` (told the
  header is there) + ``increment`` + ``get_retry_after`` -- what ``Retry.sleep`` reads.
- ``headers_epoch_date``: ``429:headers(x-ratelimit-*)`` deciding a GitHub-style 429 with
  an epoch ``x-ratelimit-reset`` measured against its ``Date`` header;
  ``urllib3_epoch_date``: the same ``Retry`` on that 429, which has no Retry-After:
  ``is_retry`` + ``increment`` + ``get_retry_after`` (None) + ``get_backoff_time``, the
  steps of ``Retry.sleep``.
- ``floor``: a hand-written Python function doing the same backoff decision with tuples
  (what a decision costs with no abstraction at all).
"""

from __future__ import annotations

import statistics
import sys
import timeit
from importlib.metadata import version
from typing import Any

import urllib3
from urllib3.util.retry import Retry as Urllib3Retry

import policy

ROUNDS = 15
#: Each policy case and the urllib3 case deciding on the same response.
PAIRS = {
    "backoff": "urllib3",
    "headers_retry_after": "urllib3_retry_after",
    "headers_epoch_date": "urllib3_epoch_date",
}


def _rand() -> float:
    return 0.5


def main(iterations: int = 100_000) -> dict[str, float]:
    """Time every case over ``iterations`` decisions; print and return µs per decision."""
    now = 1_795_867_200.0

    backoff = policy.parse("5xx:backoff(5,1s..30s,x1.8,jitter)")
    state = backoff.start(now=now)
    r503 = policy.Response(503, {"content-type": "text/plain"})
    decide = backoff.decide

    def backoff_case() -> object:
        return decide(state, r503, now=now, rand=_rand, method="GET")

    assert isinstance(backoff_case(), policy.Retry)

    ra = policy.parse("429:headers()")
    ra_state = ra.start(now=now)
    r429 = policy.Response(429, {"Retry-After": "7"})
    ra_decide = ra.decide

    def retry_after_case() -> object:
        return ra_decide(ra_state, r429, now=now, rand=_rand, method="GET")

    assert isinstance(retry_after_case(), policy.Retry)

    gh = policy.parse("429:headers(x-ratelimit-*)")
    gh_state = gh.start(now=now)
    gh_headers = {
        "Date": "Sat, 28 Nov 2026 12:00:00 GMT",
        "x-ratelimit-limit": "5000",
        "x-ratelimit-remaining": "0",
        "x-ratelimit-reset": "1795867260",
    }
    gh429 = policy.Response(429, gh_headers)
    gh_decide = gh.decide

    def epoch_case() -> object:
        return gh_decide(gh_state, gh429, now=now + 5, rand=_rand, method="GET")

    assert isinstance(epoch_case(), policy.Retry)

    retry = Urllib3Retry(total=5, backoff_factor=1, status_forcelist=[503])
    response = urllib3.HTTPResponse(
        body=b"", status=503, headers={"content-type": "text/plain"}, preload_content=False
    )

    def urllib3_case() -> float:
        assert retry.is_retry("GET", 503, False)
        nxt = retry.increment("GET", "/", response=response)
        return nxt.get_backoff_time()

    urllib3_case()

    retry429 = Urllib3Retry(total=5, backoff_factor=1, status_forcelist=[429])
    ra_response = urllib3.HTTPResponse(
        body=b"", status=429, headers={"Retry-After": "7"}, preload_content=False
    )

    def urllib3_retry_after_case() -> float | None:
        assert retry429.is_retry("GET", 429, True)
        nxt = retry429.increment("GET", "/", response=ra_response)
        return nxt.get_retry_after(ra_response)

    assert urllib3_retry_after_case() == 7

    gh_response = urllib3.HTTPResponse(
        body=b"", status=429, headers=gh_headers, preload_content=False
    )

    def urllib3_epoch_case() -> float | None:
        has = "Retry-After" in gh_response.headers
        assert retry429.is_retry("GET", 429, has)
        nxt = retry429.increment("GET", "/", response=gh_response)
        wait = nxt.get_retry_after(gh_response)
        return wait if wait is not None else nxt.get_backoff_time()

    urllib3_epoch_case()

    limits = ((500, 600, 5, 1.0, 30.0, 1.8),)

    def floor(counters: tuple[int, ...], status: int, rand: Any) -> tuple[float, tuple[int, ...]]:
        for lo, hi, limit, low, high, factor in limits:
            if lo <= status < hi:
                n = counters[0]
                if n < limit:
                    base = min(high, low * factor**n)
                    return low + rand() * (base - low), (n + 1,)
        return -1.0, counters

    zero = (0,)

    def floor_case() -> object:
        return floor(zero, 503, _rand)

    cases: dict[str, Any] = {
        "backoff": backoff_case,
        "headers_retry_after": retry_after_case,
        "headers_epoch_date": epoch_case,
        "urllib3": urllib3_case,
        "urllib3_retry_after": urllib3_retry_after_case,
        "urllib3_epoch_date": urllib3_epoch_case,
        "floor": floor_case,
    }
    number = max(1, iterations // 5)
    rounds: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(ROUNDS):
        for name, case in cases.items():
            rounds[name].append(timeit.timeit(case, number=number) / number * 1e6)
    for r in (response, ra_response, gh_response):
        r.release_conn()
    results = {name: statistics.median(times) for name, times in rounds.items()}
    for ours, theirs in PAIRS.items():
        suffix = "" if ours == "backoff" else f"_{ours}"
        results[f"ratio{suffix}"] = statistics.median(
            u / b for u, b in zip(rounds[theirs], rounds[ours], strict=True)
        )
        results[f"best_ratio{suffix}"] = min(rounds[theirs]) / min(rounds[ours])
    print(f"python {sys.version.split()[0]}, urllib3 {version('urllib3')}, ", end="")
    print(f"{ROUNDS} interleaved rounds x {number} decisions, µs per decision:")
    print(f"  {'case':22} {'median':>8}    {'best':>8}")
    for name, times in rounds.items():
        print(f"  {name:22} {results[name]:8.3f} µs {min(times):8.3f} µs")
    for ours, theirs in PAIRS.items():
        suffix = "" if ours == "backoff" else f"_{ours}"
        bar = ">= 9x" if ours == "backoff" else ">= 5x"
        print(
            f"  {theirs} / {ours}: {results['ratio' + suffix]:.1f}x"
            f"   (best {results['best_ratio' + suffix]:.1f}x; bar: {bar})"
        )
    return results


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
