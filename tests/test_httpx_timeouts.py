"""Timeouts belong to the caller (httpx and httpx2): the request's own timeouts reach the
inner transport, shrunk only by the policy's limit; the head is bounded as a whole.

A raw-socket server (``tests/hostile_server.py``) drips a head a byte every 0.4 s or
streams ``100 Continue`` forever: each read succeeds within any read timeout, so only a
whole-head bound ends the attempt.  With ``timeout=1s deadline=3s`` every adapter must end
at about the deadline, sync and async, on both libraries.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import httpx2
import pytest
from hostile_server import Behaviour, HostileServer, drip_head, endless_continue
from httpserver import LoopbackServer, Reply

import transport.httpx
import transport.httpx2

LIBRARIES: dict[str, tuple[Any, Any, Any]] = {
    "httpx": (httpx, transport.httpx.RetryTransport, transport.httpx.AsyncRetryTransport),
    "httpx2": (httpx2, transport.httpx2.RetryTransport, transport.httpx2.AsyncRetryTransport),
}
HANGING = "reset,timeout:backoff(2,10ms) timeout=1s deadline=3s"


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("behaviour", [drip_head, endless_continue], ids=lambda b: b.__name__)
@pytest.mark.parametrize("library", sorted(LIBRARIES))
def test_an_endless_head_ends_at_the_deadline(
    library: str, behaviour: Behaviour, mode: str
) -> None:
    """A dripped head or endless interim responses: timeouts, retried, over at ~3 s."""
    module, sync, async_ = LIBRARIES[library]
    with HostileServer(behaviour) as server:
        url = server.url("/x")
        t0 = time.monotonic()
        if mode == "sync":
            with (
                module.Client(transport=sync(HANGING)) as client,
                pytest.raises(module.TimeoutException) as info,
            ):
                client.get(url)
        else:

            async def main() -> None:
                async with module.AsyncClient(transport=async_(HANGING)) as client:
                    await client.get(url)

            with pytest.raises(module.TimeoutException) as info:
                asyncio.run(main())
        took = time.monotonic() - t0
    labels = [a.label for a in info.value.retry_attempts]
    assert labels and set(labels) == {"timeout"}
    assert len(labels) >= 2  # the first attempt was cut at ~1 s and retried
    assert 1.5 < took < 5.0


def _recording(module: Any, seen: list[dict[str, Any]], *, pooled: bool) -> Any:
    """An inner transport that records the timeouts of every request it is handed.

    ``pooled``: a subclass of the library's ``HTTPTransport`` (its connections can be
    watched); else a wrapper around one (a custom transport the shell cannot look into).
    """
    if pooled:

        class Pooled(module.HTTPTransport):  # type: ignore[misc]
            def handle_request(self, request: Any) -> Any:
                seen.append(dict(request.extensions["timeout"]))
                return super().handle_request(request)

        return Pooled()

    class Wrapped(module.BaseTransport):  # type: ignore[misc]
        def __init__(self) -> None:
            self.inner = module.HTTPTransport()

        def handle_request(self, request: Any) -> Any:
            seen.append(dict(request.extensions["timeout"]))
            return self.inner.handle_request(request)

        def close(self) -> None:
            self.inner.close()

    return Wrapped()


@pytest.mark.parametrize("library", sorted(LIBRARIES))
def test_without_a_policy_timeout_the_caller_s_timeouts_stay(library: str) -> None:
    """No timeout= anywhere: the client's 600 s reach the inner transport unchanged (no
    transport default lowers them)."""
    module, sync, _ = LIBRARIES[library]
    seen: list[dict[str, Any]] = []
    with LoopbackServer() as server:
        url = server.route("/x", Reply(503), Reply(200, body=b"ok"))
        inner = _recording(module, seen, pooled=True)
        with (
            transport.testing(),
            module.Client(timeout=600, transport=sync("5xx:backoff(2)", transport=inner)) as c,
        ):
            assert c.get(url).status_code == 200
    assert seen == [{"connect": 600, "read": 600, "write": 600, "pool": 600}] * 2


@pytest.mark.parametrize("library", sorted(LIBRARIES))
def test_the_deadline_and_the_policy_timeout_shrink_them(library: str) -> None:
    """deadline=2s lowers connect/write/pool to at most 2 s; the read timeout stays the
    caller's (the head is bounded as a whole; the body is the caller's).  A custom inner
    transport cannot be watched, so its read timeout is lowered too."""
    module, sync, _ = LIBRARIES[library]
    for pooled in (True, False):
        seen: list[dict[str, Any]] = []
        with LoopbackServer() as server:
            url = server.route("/x", Reply(200, body=b"ok"))
            inner = _recording(module, seen, pooled=pooled)
            p = "5xx:backoff(2) deadline=2s" if pooled else "5xx:backoff(2) timeout=1s"
            with module.Client(timeout=600, transport=sync(p, transport=inner)) as c:
                assert c.get(url).content == b"ok"
        (t,) = seen
        bound = 2.0 if pooled else 1.0
        assert all(0 < t[k] <= bound for k in ("connect", "write", "pool")), t
        assert t["read"] == (600 if pooled else 1.0), t
