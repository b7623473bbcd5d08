"""What sharing state through Redis costs per fetch: LocalState vs RedisState, loopback.

Plain script (not a test)::

    python bench/bench_redis_rtt.py [--rounds 3] [--fetches 1500] [--processes 4]

A keep-alive HTTP server in its own process answers every request at once, on two paths:
``/plain`` (200, no rate-limit headers) and ``/quota`` (200 with ``X-RateLimit-Remaining:
100000`` and a reset a minute away, so every answer records a quota).  ``RetryingPool``
(and httpx's ``RetryTransport``) fetch through ``5xx:backoff(2) pace=on budget=20%`` with
the default ``LocalState`` and with a ``transport.RedisState`` on a real ``redis-server``
on loopback.  Reported, per adapter and path: fetches/s (best of the rounds, the set-ups
taking turns), the RedisState/LocalState ratio (bar: >= 0.6), and the Redis commands per
attempt counted by Redis itself (``INFO commandstats`` deltas: ``EVALSHA`` and every
command sent by the client; the commands the scripts run inside Redis are not round
trips and are not counted; bar: <= 2).  Then 4 processes sharing one Redis (reported
without a bar: 4 processes on a 2-core machine measure the machine).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
from redis_server import RedisServer  # noqa: E402

import transport  # noqa: E402

POLICY = "5xx:backoff(2) pace=on budget=20%"

#: The commands RedisState's scripts run inside Redis (counted by commandstats, but no
#: round trip of the client's).
INSIDE = {"hget", "hmget", "hset", "pttl", "pexpire", "zremrangebyscore", "zadd", "zcard"}
#: The measurement's own commands.
OURS = {"config", "info"}

# A keep-alive HTTP/1.1 server on asyncio: prints its port, serves until stdin closes.
SERVER = r"""
import asyncio, sys
PLAIN = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"
QUOTA = (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-RateLimit-Remaining: 100000\r\n"
         b"X-RateLimit-Reset: 60\r\n\r\nok")
class P(asyncio.Protocol):
    def connection_made(self, t): self.t, self.buf = t, b""
    def data_received(self, data):
        self.buf += data
        while b"\r\n\r\n" in self.buf:
            head, _, self.buf = self.buf.partition(b"\r\n\r\n")
            self.t.write(QUOTA if b" /quota" in head.split(b"\r\n", 1)[0] else PLAIN)
async def main():
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(P, "127.0.0.1", 0)
    print(srv.sockets[0].getsockname()[1], flush=True)
    await loop.run_in_executor(None, sys.stdin.read)
asyncio.run(main())
"""

# One of the 4 processes: waits for the common start, fetches, prints its wall time.
WORKER = r"""
import sys, time
import transport
redis_url, prefix, start_at, n, url, text = sys.argv[1:7]
state = transport.RedisState(redis_url, prefix=prefix) if prefix else None
with transport.RetryingPool(text, state=state) as pool:
    pool.request("GET", url)
    time.sleep(max(0.0, float(start_at) - time.time()))
    t = time.perf_counter()
    for _ in range(int(n)):
        pool.request("GET", url)
    print(time.perf_counter() - t)
"""


def client_commands(client: Any) -> int:
    """Commands the clients sent since the last reset, by ``INFO commandstats``."""
    total = 0
    for name, stats in client.info("commandstats").items():
        cmd = name.removeprefix("cmdstat_").split("|")[0]
        if cmd not in INSIDE and cmd not in OURS:
            total += int(stats["calls"])
    return total


def fetch_pool(url: str, state: Any, n: int) -> float:
    with transport.RetryingPool(POLICY, state=state) as pool:
        pool.request("GET", url)  # connect, load the scripts
        t = time.perf_counter()
        for _ in range(n):
            pool.request("GET", url)
        return time.perf_counter() - t


def fetch_httpx(url: str, state: Any, n: int) -> float:
    import httpx

    with httpx.Client(transport=transport.RetryTransport(POLICY, state=state)) as c:
        c.get(url)
        t = time.perf_counter()
        for _ in range(n):
            c.get(url)
        return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--fetches", type=int, default=1500)
    ap.add_argument("--processes", type=int, default=4)
    args = ap.parse_args()
    n = args.fetches
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None and server.stdin is not None
    base = f"http://127.0.0.1:{server.stdout.readline().strip()}"
    try:
        with RedisServer() as rs:
            admin = redis.Redis.from_url(rs.url)
            adapters = {"RetryingPool": fetch_pool}
            try:
                import httpx  # noqa: F401

                adapters["RetryTransport"] = fetch_httpx
            except ImportError:
                pass
            load = "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
            print(f"'{POLICY}', {n} fetches per run, best of {args.rounds} rounds, one process")
            print(f"  ({load} at the start; LocalState and RedisState rounds alternate)")
            print(
                f"  {'adapter':<15} {'path':<7} {'LocalState/s':>12} {'RedisState/s':>12} "
                f"{'ratio':>6} {'cmds/attempt':>13}"
            )
            for name, fetch in adapters.items():
                for path in ("plain", "quota"):
                    url = f"{base}/{path}"
                    best = {"local": 0.0, "redis": 0.0}
                    per_attempt = 0.0
                    for _ in range(args.rounds):
                        best["local"] = max(best["local"], n / fetch(url, None, n))
                        state = transport.RedisState(rs.url, prefix=f"b{uuid.uuid4().hex[:6]}:")
                        admin.config_resetstat()
                        best["redis"] = max(best["redis"], n / fetch(url, state, n))
                        per_attempt = client_commands(admin) / (n + 1)
                        state.close()
                    ratio = best["redis"] / best["local"]
                    print(
                        f"  {name:<15} {path:<7} {best['local']:>12,.0f} {best['redis']:>12,.0f} "
                        f"{ratio:>5.2f}x {per_attempt:>13.2f}"
                    )
            print(f"{args.processes} processes sharing one Redis (no bar: a 2-core machine)")
            for shared in (False, True):
                prefix = f"m{uuid.uuid4().hex[:6]}:" if shared else ""
                start_at = time.time() + 2.0
                argv = [rs.url, prefix, repr(start_at), str(n), f"{base}/quota", POLICY]
                procs = [
                    subprocess.Popen(
                        [sys.executable, "-c", WORKER, *argv], stdout=subprocess.PIPE, text=True
                    )
                    for _ in range(args.processes)
                ]
                walls = [float(p.communicate(timeout=600)[0]) for p in procs]
                rate = args.processes * n / max(walls)
                label = "RedisState, shared" if shared else "LocalState each"
                print(f"  {label:<20} {rate:>10,.0f} fetches/s in all")
            print("  (load average {:.2f} {:.2f} {:.2f} at the end)".format(*os.getloadavg()))
            admin.close()
    finally:
        server.stdin.close()
        server.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
