"""``cost=`` on every adapter, against a real loopback server that counts a token quota.

tests/fake_llm_api.py answers OpenAI chat completions under a fixed-window token quota (each
request spends its prompt characters / 4 + ``max_tokens``, counted server-side) and
reports it in ``x-ratelimit-*-tokens``.  Each adapter runs ``@openai pace=on`` with a
``cost=`` giving a request's tokens: requests are held until the window has their cost
left, so no answer after the first is over the quota, and every call succeeds.  Without
``cost=`` the pacer counts one unit per request and the same load is refused (the last
test shows it: the check here would fail if ``cost=`` were dropped on the way).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from typing import Any

import aiohttp
import httpx
import httpx2
import pytest
import requests
from fake_llm_api import FakeLLMAPI

import policy
import transport
import transport.httpx
import transport.httpx2

P = "@openai pace=on"
BODY = {
    "model": "gpt-fake",
    "messages": [{"role": "user", "content": "x" * 400}],
    "max_tokens": 100,
}
DATA = json.dumps(BODY).encode()
TOKENS = 200  # what the fake counts for BODY: 400 / 4 + 100
PER_WINDOW, WINDOW = 4, 1.0  # calls' worth of tokens per window
THREADS, CALLS = 3, 4  # 12 calls: three windows at least
HEADERS = {"content-type": "application/json"}


def _api() -> FakeLLMAPI:
    return FakeLLMAPI(tokens_per_window=PER_WINDOW * TOKENS, window=WINDOW)


def _tokens(body: Any) -> dict[str, float]:
    return {"tokens": transport.estimate_tokens(body)}


def _threads(work: Callable[[], int]) -> list[int]:
    """``work()`` CALLS times on each of THREADS threads; the statuses the callers saw."""
    seen: list[int] = []
    lock = threading.Lock()

    def run() -> None:
        for _ in range(CALLS):
            status = work()
            with lock:
                seen.append(status)

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return seen


def _check(api: FakeLLMAPI, seen: list[int]) -> None:
    assert seen == [200] * (THREADS * CALLS)
    # server-side: every request counted; none over the quota after the first answer
    assert api.statuses[1:].count(429) == 0, api.statuses
    assert len(api.seen) == THREADS * CALLS


def test_estimate_matches_what_the_fake_counts() -> None:
    assert transport.estimate_tokens(DATA) == TOKENS


def test_retrying_pool() -> None:
    with _api() as api:
        pool = transport.RetryingPool(P, cost=lambda r: _tokens(r.content))
        url = api.base_url + "/chat/completions"
        seen = _threads(lambda: pool.request("POST", url, body=DATA, headers=HEADERS).status)
        pool.close()
    _check(api, seen)


@pytest.mark.parametrize("lib", ["httpx", "httpx2"])
def test_httpx_transports(lib: str) -> None:
    mod: Any = httpx if lib == "httpx" else httpx2
    shell: Any = transport.httpx if lib == "httpx" else transport.httpx2
    with _api() as api:
        retry = shell.RetryTransport(P, cost=lambda r: _tokens(r.content))
        with mod.Client(transport=retry, base_url=api.base_url) as client:
            seen = _threads(lambda: client.post("/chat/completions", content=DATA).status_code)
    _check(api, seen)


def test_aiohttp_middleware() -> None:
    async def main(url: str) -> list[int]:
        mw = transport.aiohttp_middleware(P, cost=lambda r: _tokens(r.body.decode()))
        async with aiohttp.ClientSession(middlewares=[mw]) as s:

            async def worker() -> list[int]:
                out = []
                for _ in range(CALLS):
                    async with s.post(url, data=DATA, headers=HEADERS) as r:
                        await r.read()
                        out.append(r.status)
                return out

            parts = await asyncio.gather(*(worker() for _ in range(THREADS)))
        return [s for part in parts for s in part]

    with _api() as api:
        seen = asyncio.run(main(api.base_url + "/chat/completions"))
    _check(api, seen)


def _session(cost: Any) -> requests.Session:
    session = requests.Session()
    session.mount("http://", transport.RetryAdapter(P, cost=cost))
    return session


def test_retry_adapter() -> None:
    with _api() as api, _session(lambda r: _tokens(r.body)) as session:
        url = api.base_url + "/chat/completions"
        seen = _threads(lambda: session.post(url, data=DATA, headers=HEADERS).status_code)
    _check(api, seen)


def _answer(r: requests.Response) -> policy.Response:
    """What the policy should see of a plain call's answer (its quota headers too)."""
    return policy.Response(r.status_code, r.headers)


def test_retrying_with_a_cost_of_the_arguments() -> None:
    with _api() as api, requests.Session() as session:
        url = api.base_url + "/chat/completions"

        @transport.retrying(P, result=_answer, cost=lambda body: _tokens(body))
        def complete(body: bytes) -> requests.Response:
            return session.post(url, data=body, headers=HEADERS, timeout=10)

        seen = _threads(lambda: complete(DATA).status_code)
    _check(api, seen)


def test_the_loop_form_with_a_fixed_cost() -> None:
    state = policy.loop.LocalState()
    with _api() as api, requests.Session() as session:
        url = api.base_url + "/chat/completions"

        def one() -> int:
            status = 0
            loop = transport.attempts(P, name="complete", state=state, cost={"tokens": TOKENS})
            for attempt in loop:
                with attempt:
                    r = session.post(url, data=DATA, headers=HEADERS, timeout=10)
                    status = r.status_code
                    attempt.outcome = _answer(r)
            return status

        seen = _threads(one)
    _check(api, seen)


def test_without_a_cost_the_same_load_is_refused() -> None:
    """The contrast that makes the checks above mean something: pacing requests, not
    tokens, lets more through than the window holds."""
    with _api() as api, _session(None) as session:
        url = api.base_url + "/chat/completions"
        _threads(lambda: session.post(url, data=DATA, headers=HEADERS).status_code)
    assert api.statuses[1:].count(429) > 0


def test_cost_keywords_are_checked_at_once() -> None:
    with pytest.raises(TypeError, match="mapping"):
        transport.attempts(P, cost=900)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite number"):
        transport.retrying(P, cost={"tokens": -1})
    with pytest.raises(TypeError, match="callable"):
        transport.retrying(P, cost="tokens")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="RetryAdapter"):
        transport.PolicyRetry("5xx:backoff(2)", cost=lambda r: {"tokens": 1})
    with pytest.raises(TypeError, match="cost"):
        transport.BackgroundFetcher(cost=42)  # type: ignore[arg-type]


def test_background_fetcher_passes_its_cost_to_each_fetch() -> None:
    """The fetcher's ``cost=`` sees each fetch as a ``CostRequest`` and paces on it."""
    got: list[Any] = []

    def cost(r: Any) -> dict[str, float]:
        got.append(r)
        return _tokens(r.content)

    with _api() as api, transport.BackgroundFetcher(max_workers=THREADS, cost=cost) as fetcher:
        url = api.base_url + "/chat/completions"
        futures = [
            fetcher.fetch_response(f"k{i}", url, method="POST", body=DATA, headers=HEADERS, retry=P)
            for i in range(THREADS * CALLS)
        ]
        seen = [f.result(60)[0] for f in futures]
    _check(api, seen)
    assert {r.method for r in got} == {"POST"} and len(got) == THREADS * CALLS
