"""A token-bound SDK workload: the real OpenAI and Anthropic SDKs against a token quota.

Plain script (not a test)::

    python bench/bench_tokens.py [--threads 8] [--calls 30] [--per-window 42] [--window 1]

The fake API (``tests/fake_llm_api.py``, loopback) allows ``--per-window`` calls' worth of
tokens per fixed window (each call is the same request: the fake counts its prompt
characters / 4 + ``max_tokens``, as ``transport.estimate_tokens`` does).  ``--threads``
threads each make ``--calls`` calls through one SDK client, two set-ups per SDK:

* **sdk** -- the SDK's own retries, ``max_retries=10``, on a plain httpx2 client;
* **policy** -- ``max_retries=0`` and ``transport.httpx2.RetryTransport("@openai pace=on",
  cost=...)`` (``@anthropic`` for Anthropic) with the docs' ``estimate_tokens`` recipe.

Reported per SDK: failed calls, the 429s the server answered, the wall time, and the
policy/sdk ratio of 429s (bar: 0 failed, ratio ≤ ⅓).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import anthropic  # noqa: E402
import httpx2  # noqa: E402
import openai  # noqa: E402
from fake_llm_api import FakeLLMAPI  # noqa: E402

import transport  # noqa: E402
import transport.httpx2  # noqa: E402

PROMPT = [{"role": "user", "content": "Summarise this page in one line. " * 8}]
MAX_TOKENS = 60
#: The tokens one call costs at the fake (prompt characters / 4 + max_tokens).
CALL_TOKENS = -(-len(PROMPT[0]["content"]) // 4) + MAX_TOKENS


def _cost(request: Any) -> dict[str, float]:
    """The docs' recipe: the request body's estimated tokens."""
    return {"tokens": transport.estimate_tokens(request.content)}


def _client(flavour: str, api: FakeLLMAPI, setup: str) -> Any:
    if setup == "sdk":
        http, retries = httpx2.Client(), 10
    else:
        p = f"@{flavour} pace=on"
        cost = _cost if setup == "policy" else None
        http = httpx2.Client(transport=transport.httpx2.RetryTransport(p, cost=cost))
        retries = 0
    if flavour == "openai":
        return openai.OpenAI(
            api_key="sk-bench", base_url=api.base_url, max_retries=retries, http_client=http
        )
    return anthropic.Anthropic(
        api_key="sk-ant-bench", base_url=api.url, max_retries=retries, http_client=http
    )


def run(
    flavour: str, setup: str, threads: int, calls: int, per_window: int, window: float
) -> dict[str, Any]:
    with FakeLLMAPI(tokens_per_window=per_window * CALL_TOKENS, window=window) as api:
        client = _client(flavour, api, setup)
        failed = [0]
        lock = threading.Lock()

        def worker() -> None:
            for _ in range(calls):
                try:
                    if flavour == "openai":
                        client.chat.completions.create(
                            model="gpt-fake", messages=PROMPT, max_tokens=MAX_TOKENS
                        )
                    else:
                        client.messages.create(
                            model="claude-fake", messages=PROMPT, max_tokens=MAX_TOKENS
                        )
                except (openai.APIError, anthropic.APIError):
                    with lock:
                        failed[0] += 1

        started = time.perf_counter()
        pool = [threading.Thread(target=worker) for _ in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join(600)
        wall = time.perf_counter() - started
        client.close()
        return {"failed": failed[0], "429s": api.count(429), "wall": wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--calls", type=int, default=30)
    ap.add_argument("--per-window", type=int, default=42)
    ap.add_argument("--window", type=float, default=1.0)
    ap.add_argument("--only", choices=("openai", "anthropic"))
    a = ap.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    for flavour in ("openai", "anthropic"):
        if a.only and flavour != a.only:
            continue
        got = {
            s: run(flavour, s, a.threads, a.calls, a.per_window, a.window)
            for s in ("sdk", "nocost", "policy")
        }
        for s, r in got.items():
            print(
                f"{flavour:9} {s:6}  failed {r['failed']:3}  429s {r['429s']:4}  "
                f"wall {r['wall']:.2f}s"
            )
        ratio = got["policy"]["429s"] / max(1, got["sdk"]["429s"])
        print(f"{flavour:9} policy/sdk 429s: {ratio:.3f} (bar: 0 failed, <= 1/3)")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
