"""The threads ``BackgroundFetcher`` runs fetches on, and futures derived from theirs.

``concurrent.futures.ThreadPoolExecutor`` joins its threads at interpreter exit, so a
fetch waiting ten minutes to retry would hold the process; these are daemon threads, and
``shutdown`` cancels what has not started.  Kept apart from the fetcher: a thread pool is
not a fetch.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

__all__ = ["Workers", "derive"]

T = TypeVar("T")


class Workers:
    """A small pool of daemon threads (``ThreadPoolExecutor`` threads block exit)."""

    def __init__(self, max_workers: int) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self._max = max_workers
        self._q: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]] | None] = (
            queue.SimpleQueue()
        )
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._busy = 0

    def submit(self, fut: Future[Any], fn: Callable[[], Any]) -> None:
        with self._lock:
            self._q.put((fut, fn))
            if self._busy + self._q.qsize() > len(self._threads) and len(self._threads) < self._max:
                t = threading.Thread(
                    target=self._run, name=f"background-fetch-{len(self._threads)}", daemon=True
                )
                self._threads.append(t)
                t.start()

    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is None:
                return
            fut, fn = item
            if not fut.set_running_or_notify_cancel():
                continue
            with self._lock:
                self._busy += 1
            try:
                fut.set_result(fn())
            except BaseException as e:
                fut.set_exception(e)
            finally:
                with self._lock:
                    self._busy -= 1

    def shutdown(self, wait: float) -> None:
        with self._lock:
            while True:
                try:
                    item = self._q.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    item[0].cancel()
            for _ in self._threads:
                self._q.put(None)
            threads = list(self._threads)
        for t in threads:
            t.join(wait)


def derive(inner: Future[T], convert: Callable[[T], Any]) -> Future[Any]:
    outer: Future[Any] = Future()

    def done(f: Future[T]) -> None:
        if f.cancelled():
            outer.cancel()
            return
        exc = f.exception()
        if exc is not None:
            outer.set_exception(exc)
            return
        try:
            outer.set_result(convert(f.result()))
        except BaseException as e:
            outer.set_exception(e)

    inner.add_done_callback(done)
    return outer
