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
from redis_server import RedisServer

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
