"""A bounded pool of worker threads for blocking handlers.

Why not ``concurrent.futures.ThreadPoolExecutor``: its threads are joined at interpreter
exit, so one handler stuck in ``time.sleep`` or a dead database would keep the process
from exiting; the stdlib's ``ThreadingHTTPServer`` uses daemon threads for exactly this
reason (``daemon_threads = True``).  This pool starts threads on demand up to ``size``,
honours ``daemon``, and reports how many jobs wait for a free thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

__all__ = ["HandlerThreadPool"]


class HandlerThreadPool:
    """Runs submitted callables on at most ``size`` threads, in submission order."""

    def __init__(self, size: int, daemon: bool = True, name: str = "aiohttpbase-handler") -> None:
        if size < 1:
            raise ValueError("a thread pool needs at least one thread")
        self.size = size
        self._daemon = daemon
        self._name = name
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._waiting = 0

    @property
    def waiting(self) -> int:
        """Jobs submitted and not yet started."""
        return self._waiting

    def submit(self, job: Callable[[], None]) -> None:
        with self._lock:
            self._waiting += 1
            if self._idle < self._waiting and len(self._threads) < self.size:
                thread = threading.Thread(
                    target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=self._daemon
                )
                self._threads.append(thread)
                thread.start()
        self._jobs.put(job)

    def shutdown(self, wait: bool = False, timeout: float | None = None) -> None:
        """Let every thread exit once the queued jobs are done."""
        with self._lock:
            threads = list(self._threads)
            self._threads.clear()
        for _ in threads:
            self._jobs.put(None)
        if wait:
            for thread in threads:
                thread.join(timeout)

    def _work(self) -> None:
        while True:
            with self._lock:
                self._idle += 1
            job = self._jobs.get()
            with self._lock:
                self._idle -= 1
                if job is not None:
                    self._waiting -= 1
            if job is None:
                return
            job()  # jobs handle their own exceptions
