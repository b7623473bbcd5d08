"""CeleryFetcher under crashes: SIGKILL the worker at random points, count lost and doubled fetches.

Plain script (not a test): ``python bench/kill_celery.py [--kills 20] [--fetches 60] [--seed S]``.

A real ``redis-server`` (broker and key store, no persistence), a loopback HTTP server
and one ``celery worker`` process (``-P solo``, Redis ``visibility_timeout`` 3 s so a
killed worker's messages come back quickly).  Fetches are submitted in small batches
while the worker is SIGKILLed ``--kills`` times at random moments (0.3 to 2 s apart) and
restarted each time.  Every key's endpoint answers 503 (a third of them slowly, 0.3 to 1 s,
so kills land during attempts), 503, then 200; the policy retries resets and 5xx with a
1-2 s backoff, so kills also land during waits and between messages.

Reported: fetches completed, lost (no outcome within the bound), keys whose server
answered 2xx more than once (a repeated successful attempt), requests per fetch, and
attempts recorded as ``reset`` (an attempt cut short by a kill).  Bars: 0 lost, 0
duplicate 2xx.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from celery_app import make_app  # noqa: E402
from celery_worker import CeleryWorker  # noqa: E402
from httpserver import LoopbackServer, Reply, Request  # noqa: E402
from redis_server import RedisServer  # noqa: E402

POLICY = "reset,5xx:backoff(4,1s..2s,x2) timeout=3s"


def _children(worker: CeleryWorker) -> list[int]:
    if worker.proc is None:
        return []
    try:
        text = Path(f"/proc/{worker.proc.pid}/task/{worker.proc.pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--fetches", type=int, default=60)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument(
        "--child",
        action="store_true",
        help="prefork worker (concurrency 2); SIGKILL a pool child, not the whole worker "
        "(reject_on_worker_lost re-queues its message at once)",
    )
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    rng = random.Random(seed)

    twos: Counter[str] = Counter()
    lock = threading.Lock()

    def endpoint(slow: float) -> object:
        replies = iter([Reply(503, delay=slow), Reply(503)])

        def answer(req: Request) -> Reply:
            r = next(replies, None)
            if r is not None:
                return r
            with lock:
                twos[req.path] += 1
            return Reply(200, body=b'"ok"')

        return answer

    with RedisServer() as rs, LoopbackServer() as http:
        prefix = f"kill{uuid.uuid4().hex[:6]}:"
        broker = rs.db_url(1)
        _app, fetcher = make_app(broker, prefix, visibility=3.0)

        def new_worker() -> CeleryWorker:
            if args.child:
                return CeleryWorker(
                    broker, prefix, visibility=3.0, pool="prefork", concurrency=2
                ).start()
            return CeleryWorker(broker, prefix, visibility=3.0).start()

        worker = new_worker()
        handles = []
        paths = []
        t0 = time.monotonic()
        stop = threading.Event()

        def submit() -> None:
            for i in range(args.fetches):
                if stop.is_set():
                    return
                path = f"/k/{i}"
                slow = rng.uniform(0.3, 1.0) if i % 3 == 0 else 0.0
                url = http.route(path, endpoint(slow))  # type: ignore[arg-type]
                paths.append(path)
                handles.append(fetcher.fetch(f"key-{i}", url, retry=POLICY))
                time.sleep(rng.uniform(0.0, 0.4))

        submitter = threading.Thread(target=submit)
        submitter.start()
        kills = 0
        try:
            for _ in range(args.kills):
                time.sleep(rng.uniform(0.3, 2.0))
                if args.child:
                    children = _children(worker)
                    if not children:
                        continue
                    os.kill(rng.choice(children), signal.SIGKILL)
                    kills += 1
                    continue
                worker.kill()
                kills += 1
                worker.close()
                worker = new_worker()
            submitter.join(120)
            lost = 0
            failed = 0
            for h in handles:
                try:
                    h.result(timeout=max(1.0, 120 - (time.monotonic() - t0)))
                except TimeoutError:
                    lost += 1
                except Exception:
                    failed += 1
            elapsed = time.monotonic() - t0
            time.sleep(1.0)  # any late duplicate would show now
        finally:
            stop.set()
            worker.close()
        duplicates = sum(1 for p in paths if twos[p] > 1)
        missing = sum(1 for p in paths if twos[p] == 0)
        resets = sum(
            1
            for i in range(len(paths))
            for a in fetcher.attempts(f"key-{i}")
            if a["outcome"] == "reset"
        )
        requests = len(http.requests)
        for i, path in enumerate(paths):
            if twos[path] > 1:
                history = [a["outcome"] for a in fetcher.attempts(f"key-{i}")]
                print(f"  {path}: 2xx answered {twos[path]} times; attempts {history}")
    target = "pool children" if args.child else "whole workers"
    print(f"seed {seed}: {kills} SIGKILLs of {target} over {elapsed:.1f}s, {len(paths)} fetches")
    print(f"  completed        {len(paths) - lost - failed}")
    print(f"  lost             {lost}")
    print(f"  failed           {failed}")
    print(f"  duplicate 2xx    {duplicates}  (keys answered 2xx more than once)")
    print(f"  never answered   {missing}")
    print(f"  requests/fetch   {requests / max(1, len(paths)):.2f}  (3 without kills)")
    print(f"  reset attempts   {resets}  (attempts cut short by a kill)")
    return 0 if lost == 0 and duplicates == 0 and failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
