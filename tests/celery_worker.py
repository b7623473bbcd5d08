"""A real ``celery worker`` subprocess for tests and benchmarks (``tests/celery_app.py``).

``CeleryWorker(broker, prefix, visibility=...)`` starts ``python -m celery -A celery_app
worker`` in ``tests/`` with one process (``-P solo``, or prefork with ``concurrency``) and
the start-up chatter off (``--without-heartbeat --without-mingle --without-gossip``), and
waits (bounded) until its log says it is ready.  ``kill()`` is a SIGKILL (a crash);
``stop()`` a SIGTERM then, if need be, a SIGKILL.  Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["CeleryWorker"]

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


class CeleryWorker:
    def __init__(
        self,
        broker: str,
        prefix: str,
        *,
        visibility: float = 3600.0,
        pool: str = "solo",
        concurrency: int = 1,
        env: dict[str, str] | None = None,
    ) -> None:
        self.broker = broker
        self.prefix = prefix
        self.visibility = visibility
        self.pool = pool
        self.concurrency = concurrency
        self.extra_env = dict(env or {})
        fd, self.logfile = tempfile.mkstemp(prefix="retry-policy-celery-", suffix=".log")
        os.close(fd)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> CeleryWorker:
        env = dict(os.environ)
        env.update(
            RP_BROKER=self.broker,
            RP_PREFIX=self.prefix,
            RP_VISIBILITY=str(self.visibility),
            PYTHONPATH=os.pathsep.join([str(TESTS), str(ROOT), env.get("PYTHONPATH", "")]),
        )
        env.update(self.extra_env)
        Path(self.logfile).write_text("")
        cmd = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "celery_app",
            "worker",
            "-P",
            self.pool,
            "--concurrency",
            str(self.concurrency),
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
            "-Q",
            "retry-policy-tests",
            "--loglevel",
            "INFO",
            "--logfile",
            self.logfile,
            "-n",
            f"w{os.getpid()}-{time.monotonic_ns()}@%h",
        ]
        self.proc = subprocess.Popen(
            cmd, cwd=TESTS, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        end = time.monotonic() + timeout
        while "ready." not in self.log():
            if self.proc.poll() is not None:
                raise RuntimeError(f"celery worker exited early:\n{self.log()[-3000:]}")
            if time.monotonic() > end:
                self.kill()
                raise RuntimeError(f"celery worker not ready in {timeout}s:\n{self.log()[-3000:]}")
            time.sleep(0.05)
        return self

    def log(self) -> str:
        try:
            return Path(self.logfile).read_text(errors="replace")
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL the worker (and its pool children): a crash, nothing acknowledged."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        for child in _children(proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def stop(self) -> None:
        """A warm shutdown (SIGTERM), a SIGKILL if it takes more than 10 s."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None

    def close(self) -> None:
        self.stop()
        with contextlib.suppress(OSError):
            os.unlink(self.logfile)

    def __enter__(self) -> CeleryWorker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]
