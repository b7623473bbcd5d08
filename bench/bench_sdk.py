"""The SDKs people call: the 0.3 bars, each against its peer in the same run.

Plain script (not a test)::

    python bench/bench_sdk.py [--quick] [--write]

1. **SDK workload** (request-bound) -- the real OpenAI and Anthropic SDKs on httpx2
   against ``tests/fake_llm_api.py`` with a per-window request quota and 2 % 5xx, 8
   threads × 30 calls: ``@openai pace=on`` / ``@anthropic pace=on`` (``max_retries=0``,
   our transport) vs the SDK's own retries (``max_retries=10``).  Failed calls, 429s
   the server sent, wall time (bars: 0 failed, 429s ≤ 1/10 of the SDK's, wall ≤ 1.1×).
2. **httpx2 transports** -- ``transport.httpx2.RetryTransport`` / ``AsyncRetryTransport``
   vs a hand-written httpx2 loop on loopback 503, 503, 200 (bar ≥ 0.95×); httpx-retries
   runs on httpx only, so it is measured against ``transport.RetryTransport`` there.
3. **RetryAdapter** -- requests with ``RetryAdapter("429:headers(x-ratelimit-*,1000)
   pace=on")`` vs ``HTTPAdapter(max_retries=Retry(...))`` honouring ``Retry-After``,
   against Flask-Limiter 5/s, 3 threads × 25 (bars: ≤ ⅓ the 429s at ≤ 1.1× wall).

``--write`` replaces the section between the ``<!-- sdk -->`` markers of
``docs/benchmarks.md``.  The machine is shared: the load average is printed with the
numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
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
sys.path.insert(0, str(ROOT / "bench"))

import transport  # noqa: E402

DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- sdk -->", "<!-- /sdk -->"
MESSAGES: Any = [{"role": "user", "content": "hi"}]


# -- 1. the SDK workload ------------------------------------------------------------------


def _sdk_run(flavour: str, ours: bool, threads: int, calls: int, per_window: int) -> dict[str, Any]:
    """One run against a fresh fake API: failed calls, 429s sent, wall seconds."""
    import anthropic
    import httpx2
    import openai
    from fake_llm_api import FakeLLMAPI

    import transport.httpx2

    failed = 0
    lock = threading.Lock()
    with FakeLLMAPI(requests_per_window=per_window, window=1.0, error_rate=0.02, seed=7) as api:
        http = httpx2.Client(
            transport=transport.httpx2.RetryTransport(f"@{flavour} pace=on") if ours else None,
            timeout=30,
            limits=httpx2.Limits(max_connections=threads),
        )
        retries = 0 if ours else 10
        client: Any
        if flavour == "openai":
            client = openai.OpenAI(
                api_key="k", base_url=api.base_url, max_retries=retries, http_client=http
            )

            def call() -> None:
                client.chat.completions.create(model="gpt-fake", messages=MESSAGES)
        else:
            client = anthropic.Anthropic(
                api_key="k", base_url=api.url, max_retries=retries, http_client=http
            )

            def call() -> None:
                client.messages.create(model="claude-fake", max_tokens=5, messages=MESSAGES)

        def work() -> None:
            nonlocal failed
            for _ in range(calls):
                try:
                    call()
                except (openai.APIError, anthropic.APIError):
                    with lock:
                        failed += 1

        started = time.perf_counter()
        workers = [threading.Thread(target=work) for _ in range(threads)]
        for t in workers:
            t.start()
        for t in workers:
            t.join(600)
        wall = time.perf_counter() - started
        client.close()
        return {"failed": failed, "429s": api.count(429), "wall": wall, "sent": len(api.seen)}


def bench_sdk(threads: int = 8, calls: int = 30, per_window: int = 40) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for flavour in ("openai", "anthropic"):
        for ours in (True, False):
            name = f"{flavour} {'@' + flavour + ' pace=on' if ours else 'max_retries=10'}"
            out[name] = r = _sdk_run(flavour, ours, threads, calls, per_window)
            print(f"  {name}: {r}", flush=True)
    return out


# -- 2. httpx2 transports vs a hand-written loop ------------------------------------------

SERVER = """
import sys
sys.path.insert(0, sys.argv[1])
from httpserver import LoopbackServer, Reply
with LoopbackServer() as s:
    s.route("/flaky", Reply(503), Reply(503), Reply(200, body=b"ok"), cycle=True)
    print(s.port, flush=True)
    sys.stdin.read()
"""
POLICY = "503:backoff(3,0s)"


def _transport_clients(url: str) -> tuple[dict[str, Callable[[int], None]], list[Any]]:
    import httpx
    import httpx2
    from httpx_retries import Retry as HRetry
    from httpx_retries import RetryTransport as HRetryTransport

    import transport.httpx2

    ours = httpx2.Client(transport=transport.httpx2.RetryTransport(POLICY))
    plain = httpx2.Client()
    ours1 = httpx.Client(transport=transport.RetryTransport(POLICY))
    peer = httpx.Client(
        transport=HRetryTransport(retry=HRetry(total=3, backoff_factor=0, status_forcelist=[503]))
    )
    closers = [ours, plain, ours1, peer]

    def batch(get: Callable[[str], Any]) -> Callable[[int], None]:
        def run(n: int) -> None:
            for _ in range(n):
                assert get(url).status_code == 200

        return run

    def hand(n: int) -> None:
        for _ in range(n):
            for _ in range(4):
                r = plain.get(url)
                if r.status_code != 503:
                    break
            assert r.status_code == 200

    async def aours(n: int) -> None:
        t = transport.httpx2.AsyncRetryTransport(POLICY)
        async with httpx2.AsyncClient(transport=t) as c:
            for _ in range(n):
                assert (await c.get(url)).status_code == 200

    async def ahand(n: int) -> None:
        async with httpx2.AsyncClient() as c:
            for _ in range(n):
                for _ in range(4):
                    r = await c.get(url)
                    if r.status_code != 503:
                        break
                assert r.status_code == 200

    clients: dict[str, Callable[[int], None]] = {
        "httpx2 RetryTransport": batch(ours.get),
        "hand-written httpx2 loop": hand,
        "httpx2 AsyncRetryTransport": lambda n: asyncio.run(aours(n)),
        "hand-written httpx2 async loop": lambda n: asyncio.run(ahand(n)),
        "httpx RetryTransport": batch(ours1.get),
        "httpx-retries (httpx)": batch(peer.get),
    }
    return clients, closers


def bench_httpx2(iterations: int = 200, rounds: int = 7) -> dict[str, Any]:
    rates: dict[str, list[float]] = {}
    with subprocess.Popen(
        [sys.executable, "-c", SERVER, str(ROOT / "tests")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    ) as server:
        assert server.stdout is not None and server.stdin is not None
        url = f"http://127.0.0.1:{int(server.stdout.readline())}/flaky"
        clients, closers = _transport_clients(url)
        try:
            for run in clients.values():
                run(3)  # warm-up
            order = list(clients.items())
            rng = random.Random(13)
            for _ in range(rounds):
                rng.shuffle(order)  # no client always runs right after the same one
                for name, run in order:
                    t0 = time.perf_counter()
                    run(iterations)
                    rates.setdefault(name, []).append(iterations / (time.perf_counter() - t0))
        finally:
            for c in closers:
                c.close()
            server.stdin.close()
            server.wait(10)
    med = {name: statistics.median(r) for name, r in rates.items()}
    print(f"  fetches/s (median of {rounds}): { ({k: round(v) for k, v in med.items()}) }")
    return med


# -- 3. RetryAdapter vs HTTPAdapter(max_retries=Retry) against Flask-Limiter --------------


def _adapter(make: Callable[[], Any], threads: int, calls: int) -> Callable[[str], None]:
    import requests

    def run(url: str) -> None:
        with requests.Session() as s:
            s.mount("http://", make())

            def work() -> None:
                for _ in range(calls):
                    assert s.get(url, timeout=30).status_code == 200

            workers = [threading.Thread(target=work) for _ in range(threads)]
            for t in workers:
                t.start()
            for t in workers:
                t.join(300)

    return run


def _limited(run: Callable[[str], None], expected: int) -> tuple[int, float]:
    """Run ``run(url)`` against a fresh Flask-Limiter 5/s; (429s it answered, wall s)."""
    from bench_fleet import LIMITER

    with subprocess.Popen(
        [sys.executable, "-c", LIMITER, str(ROOT / "tests")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdout is not None and proc.stdin is not None
        url = proc.stdout.readline().strip()
        started = time.perf_counter()
        run(url)
        wall = time.perf_counter() - started
        proc.stdin.close()
        counts = json.loads(proc.stdout.readline())
        proc.wait(30)
    assert counts.get("200") == expected, counts
    return int(counts.get("429", 0)), wall


def bench_adapter(threads: int = 3, calls: int = 25, rounds: int = 1) -> dict[str, Any]:
    from requests.adapters import HTTPAdapter
    from urllib3.util import Retry

    def urllib3_retry() -> Any:
        retry = Retry(
            total=10_000,
            status_forcelist=[429],
            respect_retry_after_header=True,
            backoff_factor=0,
            allowed_methods=None,
        )
        return HTTPAdapter(max_retries=retry, pool_maxsize=threads)

    def ours() -> Any:
        return transport.RetryAdapter("429:headers(x-ratelimit-*,1000) pace=on")

    clients = {
        "HTTPAdapter(max_retries=Retry)": _adapter(urllib3_retry, threads, calls),
        "RetryAdapter pace=on": _adapter(ours, threads, calls),
    }
    seen: dict[str, list[tuple[int, float]]] = {k: [] for k in clients}
    for _ in range(rounds):
        for name, run in clients.items():
            seen[name].append(_limited(run, threads * calls))
            print(f"  {name}: 429s {seen[name][-1][0]}, {seen[name][-1][1]:.2f}s", flush=True)
    return {
        name: {
            "429s": statistics.median(n for n, _ in runs),
            "wall": statistics.median(w for _, w in runs),
        }
        for name, runs in seen.items()
    }


# -- the table ----------------------------------------------------------------------------


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("inf") if a else 0.0


def markdown(sdk: dict[str, Any], tx: dict[str, Any], adapter: dict[str, Any], load: str) -> str:
    lines = [BEGIN, "", "### The SDKs people call (`bench/bench_sdk.py`)", ""]
    lines += [f"One run each; load average at the start: {load} (2 cores, shared).", ""]
    lines += [
        "SDK workload, request-bound: fake API with 40 requests per 1 s window and 2 % 5xx; "
        "8 threads × 30 calls (240):",
        "",
        "| SDK | client | failed | 429s | wall | 429s × SDK's | wall × SDK's | bars met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for flavour in ("openai", "anthropic"):
        base = sdk[f"{flavour} max_retries=10"]
        ours = sdk[f"{flavour} @{flavour} pace=on"]
        r429 = _ratio(ours["429s"], base["429s"])
        rwall = _ratio(ours["wall"], base["wall"])
        met = ours["failed"] == 0 and ours["429s"] * 10 <= base["429s"] and rwall <= 1.1
        for label, row in ((f"`@{flavour} pace=on`", ours), ("`max_retries=10`", base)):
            mine = row is ours
            lines.append(
                f"| {flavour} | {label} | {row['failed']} | {row['429s']} | {row['wall']:.1f} s | "
                f"{f'{r429:.2f}' if mine else '1'} | {f'{rwall:.2f}' if mine else '1'} | "
                f"{('yes' if met else 'no') if mine else ''} |"
            )
    h2 = tx
    lines += [
        "",
        "Transports on loopback 503, 503, 200 (fetches/s, median of 7 rounds of 200):",
        "",
        "| ours | peer | ratio | bar |",
        "|---|---|---|---|",
    ]
    for ours_name, peer_name, bar in (
        ("httpx2 RetryTransport", "hand-written httpx2 loop", 0.95),
        ("httpx2 AsyncRetryTransport", "hand-written httpx2 async loop", 0.95),
        ("httpx RetryTransport", "httpx-retries (httpx)", 1.2),
    ):
        r = _ratio(h2[ours_name], h2[peer_name])
        lines.append(
            f"| {ours_name} ({h2[ours_name]:.0f}/s) | {peer_name} ({h2[peer_name]:.0f}/s) | "
            f"{r:.2f}× | ≥ {bar}×: {'met' if r >= bar else 'missed'} |"
        )
    base, ours_row = adapter["HTTPAdapter(max_retries=Retry)"], adapter["RetryAdapter pace=on"]
    r429 = _ratio(ours_row["429s"], base["429s"])
    rwall = _ratio(ours_row["wall"], base["wall"])
    lines += [
        "",
        "requests against Flask-Limiter 5/s (own process), 3 threads × 25:",
        "",
        "| client | 429s | wall | 429s × peer | wall × peer |",
        "|---|---|---|---|---|",
        f"| `HTTPAdapter(max_retries=Retry(...))` | {base['429s']:.0f} | "
        f"{base['wall']:.1f} s | 1 | 1 |",
        f"| `RetryAdapter(... pace=on)` | {ours_row['429s']:.0f} | {ours_row['wall']:.1f} s | "
        f"{r429:.2f} (bar ≤ 0.33: {'met' if r429 <= 1 / 3 else 'missed'}) | "
        f"{rwall:.2f} (bar ≤ 1.1: {'met' if rwall <= 1.1 else 'missed'}) |",
        "",
        END,
    ]
    return "\n".join(lines)


def write(section: str, doc: Path = DOC) -> None:
    text = doc.read_text("utf-8")
    if BEGIN in text and END in text:
        head, _, rest = text.partition(BEGIN)
        _, _, tail = rest.partition(END)
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    doc.write_text(text, "utf-8")


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    ap.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = ap.parse_args(argv)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    if args.quick:
        sdk = bench_sdk(threads=2, calls=2, per_window=100)
        tx = bench_httpx2(iterations=3, rounds=1)
        adapter = bench_adapter(threads=2, calls=2)
    else:
        sdk = bench_sdk()
        tx = bench_httpx2()
        adapter = bench_adapter()
    section = markdown(sdk, tx, adapter, load)
    print(section)
    if args.write:
        write(section)
    return section


if __name__ == "__main__":
    main()
