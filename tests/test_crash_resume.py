"""Crash and resume: a batch of background fetches survives SIGKILL with ``SqliteStore``.

A child process starts a batch of ``BATCH`` keyed fetches through a ``BackgroundFetcher``
backed by an ``SqliteStore`` and prints each key as its future resolves; the test kills
it with SIGKILL once a share of the batch is done (``KILLS`` times, at growing shares),
then a last process with the same store and keys completes the batch.  The loopback
server counts requests per key, so:

* no completed result lost: every key a killed process reported done is in the store,
  and the last process gets it from there;
* no completed fetch repeated: a key stored before a kill is never requested again;
* fetches that were in flight at the kill may be repeated (they had no result yet) --
  and the database passes ``PRAGMA integrity_check`` after every kill.

``RELIABILITY_CRASH_KILLS`` sets the number of kills (default 2).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from httpserver import LoopbackServer, Reply, Request

BATCH = 60
KILLS = int(os.environ.get("RELIABILITY_CRASH_KILLS", "2"))

CHILD = r"""
import sys
from concurrent.futures import as_completed
import transport

db, base, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
fetcher = transport.BackgroundFetcher(transport.SqliteStore(db), max_workers=4)
futures = {
    fetcher.fetch(f"key-{i}", f"{base}/item?i={i}", retry="503:backoff(2,10ms)"): f"key-{i}"
    for i in range(n)
}
for f in as_completed(futures):
    data = f.result()
    assert data == {"item": int(futures[f].split("-")[1])}, data
    print("done", futures[f], flush=True)
fetcher.close()
"""


@pytest.fixture
def server() -> Iterator[tuple[LoopbackServer, Counter[str]]]:
    counts: Counter[str] = Counter()
    lock = threading.Lock()

    def reply(req: Request) -> Reply:
        with lock:
            counts[req.path] += 1
            n = counts[req.path]
        i = int(req.path.rsplit("=", 1)[1])
        if i % 7 == 3 and n == 1:
            return Reply(503, delay=0.02)
        return Reply(200, body=json.dumps({"item": i}), delay=0.02)

    with LoopbackServer() as s:
        s.route("/item", reply)
        yield s, counts


def _stored(db: Path) -> set[str]:
    with closing(sqlite3.connect(db)) as con:
        return {row[0] for row in con.execute("SELECT key FROM results")}


def _integrity(db: Path) -> str:
    with closing(sqlite3.connect(db)) as con:
        return str(con.execute("PRAGMA integrity_check").fetchone()[0])


def _child(db: Path, base: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db), base, str(BATCH)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sigkill_mid_batch_then_resume(
    server: tuple[LoopbackServer, Counter[str]], tmp_path: Path
) -> None:
    """Killed mid-batch, a new process completes it: nothing completed is lost or redone."""
    s, counts = server
    db = tmp_path / "results.sqlite"
    reported: set[str] = set()
    stored_before_kill: dict[str, int] = {}
    for k in range(1, KILLS + 1):
        proc = _child(db, s.base_url)
        assert proc.stdout is not None and proc.stderr is not None
        target = len(reported) + max(1, (BATCH - len(reported)) * k // (KILLS + 2))
        done_now: set[str] = set()
        for line in proc.stdout:
            done_now.add(line.split()[1])
            if len(reported | done_now) >= target:
                break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
        assert proc.returncode == -signal.SIGKILL
        reported |= done_now
        assert _integrity(db) == "ok"
        stored = _stored(db)
        assert reported <= stored  # no completed result lost
        for key in stored:
            stored_before_kill.setdefault(key, counts[f"/item?i={key.split('-')[1]}"])
    assert len(stored_before_kill) < BATCH  # the kills did land mid-batch

    proc = _child(db, s.base_url)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    finished = {line.split()[1] for line in out.splitlines()}
    assert finished == {f"key-{i}" for i in range(BATCH)}
    assert _stored(db) == finished
    assert _integrity(db) == "ok"
    for key, n in stored_before_kill.items():  # no completed fetch repeated
        assert counts[f"/item?i={key.split('-')[1]}"] == n, key
    for i in range(BATCH):
        assert counts[f"/item?i={i}"] >= 1
