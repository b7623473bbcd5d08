"""Hooks, metrics and test mode for every adapter: prometheus_hooks, OpenTelemetry, testing()."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from httpserver import LoopbackServer, Reply
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

import transport


@pytest.fixture
def http_server() -> Iterator[LoopbackServer]:
    """A started loopback server, closed after the test."""
    with LoopbackServer() as server:
        yield server


def test_prometheus_counts_retries_giveups_and_waits(http_server: LoopbackServer) -> None:
    """Retries and give-ups are counted by rule and outcome; waits land in the histogram."""
    registry = CollectorRegistry()
    hooks = transport.prometheus_hooks(registry)
    assert transport.prometheus_hooks(registry) is hooks  # registers once
    url = http_server.route("/m", Reply(503), Reply(503), Reply(503))
    with transport.testing(), transport.RetryingPool("5xx:backoff(2,250ms)", **hooks) as rp:
        assert rp.request("GET", url).status == 503
    rule = "5xx:backoff(2,250ms)"
    labels = {"rule": rule, "outcome": "503"}
    assert registry.get_sample_value("retry_policy_retries_total", labels) == 2
    assert registry.get_sample_value("retry_policy_giveups_total", labels) == 1
    assert registry.get_sample_value("retry_policy_wait_seconds_count") == 2
    assert registry.get_sample_value("retry_policy_wait_seconds_sum") == pytest.approx(0.5)
    assert registry.get_sample_value("retry_policy_wait_seconds_bucket", {"le": "0.25"}) == 2


def test_prometheus_hooks_on_another_adapter(http_server: LoopbackServer) -> None:
    """The same hooks work on the httpx transport (every adapter takes them)."""
    registry = CollectorRegistry()
    url = http_server.route("/m", Reply(429, headers={"Retry-After": "1"}), Reply(200))
    tr = transport.RetryTransport("429:headers()", **transport.prometheus_hooks(registry))
    with transport.testing(), httpx.Client(transport=tr) as c:
        assert c.get(url).status_code == 200
    labels = {"rule": "429:headers()", "outcome": "429"}
    assert registry.get_sample_value("retry_policy_retries_total", labels) == 1
    assert registry.get_sample_value("retry_policy_wait_seconds_sum") == 1.0


def test_opentelemetry_span_event_per_retry(http_server: LoopbackServer) -> None:
    """Each retry adds a `retry` event to the current span (SDK in-memory exporter)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    url = http_server.route("/o", Reply(503), Reply(500), Reply(200))
    with (
        transport.testing(),
        transport.RetryingPool("5xx:backoff(3,10ms)") as rp,
        tracer.start_as_current_span("call"),
    ):
        rp.request("GET", url)
    (span,) = exporter.get_finished_spans()
    events = [e for e in span.events if e.name == "retry"]
    assert [e.attributes["retry.outcome"] for e in events] == ["503", "500"]  # type: ignore[index]
    assert [e.attributes["retry.attempt"] for e in events] == [1, 2]  # type: ignore[index]
    assert events[0].attributes["retry.rule"] == "5xx:backoff(3,10ms)"  # type: ignore[index]
    provider.shutdown()


def test_no_span_no_event_no_error(http_server: LoopbackServer) -> None:
    """Without a recording span, retries go on quietly."""
    url = http_server.route("/o", Reply(503), Reply(200))
    assert not trace.get_current_span().is_recording()
    with transport.testing(), transport.RetryingPool("5xx:backoff(1,10ms)") as rp:
        assert rp.request("GET", url).status == 200


def test_testing_records_waits_from_threads_and_tasks(http_server: LoopbackServer) -> None:
    """testing() zeroes waits in every thread and task, and records each one."""
    urls = [http_server.route(f"/t{i}", Reply(503), Reply(200)) for i in range(5)]
    policy = "5xx:backoff(1,30s)"

    def in_thread(url: str) -> None:
        with transport.RetryingPool(policy) as rp:
            rp.request("GET", url)

    async def in_tasks() -> None:
        async with httpx.AsyncClient(transport=transport.AsyncRetryTransport(policy)) as c:
            await asyncio.gather(c.get(urls[3]), c.get(urls[4]))

    t0 = time.monotonic()
    with transport.testing() as waits:
        threads = [threading.Thread(target=in_thread, args=(urls[i],)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        asyncio.run(in_tasks())
    assert time.monotonic() - t0 < 5
    assert waits == [30.0] * 5


def test_testing_nests_and_stops(http_server: LoopbackServer) -> None:
    """The innermost testing() records; after the block, waits are real again."""
    url = http_server.route("/n", Reply(503), Reply(200), cycle=True)
    slept: list[float] = []
    with transport.testing() as outer:
        with transport.testing() as inner, transport.RetryingPool("5xx:backoff(1,5s)") as rp:
            rp.request("GET", url)
        assert (outer, inner) == ([], [5.0])
    with transport.RetryingPool("5xx:backoff(1,10ms)", sleep=slept.append) as rp:
        rp.request("GET", url)
    assert slept == [0.01]


def test_testing_keeps_deadlines(http_server: LoopbackServer) -> None:
    """Skipped waits still count against the deadline: the call gives up as it would."""
    url = http_server.route("/d", Reply(503))
    with (
        transport.testing() as waits,
        transport.RetryingPool("5xx:backoff(5,40s) deadline=1m") as rp,
    ):
        r = rp.request("GET", url)
    assert r.status == 503
    assert waits == [40.0]
    assert "deadline" in r.attempts[-1].reason  # type: ignore[attr-defined]


def test_prometheus_counts_circuit_changes(http_server: LoopbackServer) -> None:
    """A breaker that opens, goes half-open and closes again is counted per origin and
    phase entered, in a real registry."""
    registry = CollectorRegistry()
    hooks = transport.prometheus_hooks(registry)
    bad = http_server.route("/cb", Reply(503), Reply(503), Reply(200), cycle=False)
    origin = bad.split("/cb")[0]
    with transport.RetryingPool("5xx:backoff(1,1ms) breaker=2/open=200ms", **hooks) as rp:
        assert rp.request("GET", bad).status == 503  # two failed attempts: open
        with pytest.raises(transport.CircuitOpenError):
            rp.request("GET", bad)
        time.sleep(0.25)
        assert rp.request("GET", bad).status == 200  # the probe passes: closed

    def count(state: str) -> float | None:
        return registry.get_sample_value(
            "retry_policy_circuit_changes_total", {"origin": origin, "state": state}
        )

    assert (count("open"), count("half-open"), count("closed")) == (1, 1, 1)
