"""``CeleryFetcher`` when its Redis runs out of memory during an attempt.

A dedicated ``redis-server`` (``maxmemory`` is server-wide), a real ``celery worker``
subprocess, a loopback HTTP server whose handler makes Redis refuse every write
(``maxmemory 1``, ``noeviction``) just before it answers, and gives the memory back
``OOM_S`` seconds later.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import redis
from celery_app import make_app
from celery_worker import CeleryWorker
from httpserver import LoopbackServer, Reply, Request
from redis_server import RedisServer, redis_server

import transport

__all__ = ["redis_server"]

OOM_S = 1.5
"""How long Redis refuses writes, from the moment the server starts answering."""


@pytest.fixture
def oom_redis() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


def test_an_answer_outlives_a_redis_out_of_memory(oom_redis: RedisServer) -> None:
    """Redis refuses writes while the attempt's 200 arrives: the worker keeps the answer
    until Redis takes it, the fetch ends with that 200, the server answered once, and the
    worker is still running."""
    broker = oom_redis.db_url(1)
    prefix = f"oom{uuid.uuid4().hex[:6]}:"
    _app, fetcher = make_app(broker, prefix)
    admin = redis.Redis.from_url(oom_redis.url)
    admin.config_set("maxmemory-policy", "noeviction")
    timers: list[threading.Timer] = []

    def oom_then_200(req: Request) -> Reply:
        admin.config_set("maxmemory", 1)  # every write refused from now on ...
        t = threading.Timer(OOM_S, lambda: admin.config_set("maxmemory", 0))  # ... for OOM_S
        timers.append(t)
        t.start()
        return Reply(200, body=b'{"ok": 1}')

    worker = CeleryWorker(broker, prefix).start()
    try:
        with LoopbackServer() as http:
            url = http.route("/x", oom_then_200, cycle=True)
            handle = fetcher.fetch("k", url, retry="reset,5xx:backoff(2,10ms)")
            assert handle.result(timeout=30) == {"ok": 1}
            time.sleep(0.5)  # a re-sent request would show here
            assert len(http.requests) == 1
        assert worker.proc is not None and worker.proc.poll() is None, worker.log()[-2000:]
        assert "refuses to keep attempt 1's answer" in worker.log()
    finally:
        for t in timers:
            t.cancel()
            t.join()
        admin.config_set("maxmemory", 0)
        admin.close()
        worker.close()


def test_a_worker_paces_the_origin_that_answered(redis_server: RedisServer) -> None:
    """A -> 302 -> B, B answers ``remaining: 0, reset: 600``: the workers' shared state
    holds B (the origin that sent it), not A."""
    broker = redis_server.db_url(2)
    prefix = f"pace{uuid.uuid4().hex[:6]}:"
    _app, fetcher = make_app(broker, prefix)
    state = transport.RedisState(broker, prefix=prefix)
    worker = CeleryWorker(broker, prefix).start()
    try:
        with LoopbackServer() as a, LoopbackServer() as b:
            spent = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "600"}
            target = b.route("/b", Reply(200, headers=spent, body=b"{}"))
            a.route("/a", Reply(302, headers={"Location": target}))
            handle = fetcher.fetch("k", a.url("/a"), retry="5xx:backoff(2,10ms) pace=on")
            assert handle.result(timeout=30) == {}
            now = time.time()
            held = state.before(f"http://127.0.0.1:{b.port}", now, pace=True, first=False)
            free = state.before(f"http://127.0.0.1:{a.port}", now, pace=True, first=False)
        assert held is not None and 590 < held[1] - now <= 600
        assert free is None
    finally:
        state.close()
        worker.close()
