"""The pipes between a ``WorkerSupervisor`` and its workers.

Three pipes, made by the supervisor in ``run()`` and inherited by every worker:

* the *wake* pipe, the supervisor's self-pipe: its signal handlers (and ``stop()``,
  ``reload()``, ``reopen_logs()`` from other threads) write a byte, which ends its
  ``select`` at once;
* the *ready* pipe: a worker writes ``"<pid>\\n"`` when it is about to serve, which is how
  a reload knows its new workers are up;
* the *alive* pipe: only the supervisor holds its write end, so a worker reading end of
  file knows the supervisor died, even by SIGKILL.

In a worker, ``keep_worker_ends`` closes the ends it must not hold.
"""

from __future__ import annotations

import contextlib
import os
import select

__all__ = ["SupervisorPipes"]


class SupervisorPipes:
    """The wake, ready and alive pipes; every descriptor is -1 while closed."""

    def __init__(self) -> None:
        self.wake_r = self.wake_w = -1
        self.ready_r = self.ready_w = -1  # workers write "<pid>\n" when about to serve
        self.alive_r = self.alive_w = -1  # only the supervisor holds alive_w: EOF = it died
        self._ready_buffer = b""

    def open(self) -> None:
        self.wake_r, self.wake_w = os.pipe()
        self.ready_r, self.ready_w = os.pipe()
        self.alive_r, self.alive_w = os.pipe()
        for fd in (self.wake_r, self.wake_w, self.ready_r):
            os.set_blocking(fd, False)

    def close(self) -> None:
        """In the supervisor, when it is done: close all six ends."""
        for fd in (self.wake_r, self.wake_w, self.ready_r, self.ready_w, self.alive_r, self.alive_w):
            os.close(fd)
        self.wake_r = self.wake_w = self.ready_r = self.ready_w = -1
        self.alive_r = self.alive_w = -1

    # -- in the supervisor -----------------------------------------------------------------

    def wake(self) -> None:
        """End a ``wait`` under way (or the next one) at once; safe in a signal handler."""
        if self.wake_w >= 0:
            with contextlib.suppress(OSError):  # full pipe: a wake-up is pending anyway
                os.write(self.wake_w, b"\0")

    def wait(self, timeout: float) -> set[int]:
        """Wait for a wake-up, a worker's ready line, or ``timeout`` seconds; return the
        pids of the workers that said they are ready meanwhile."""
        pids: set[int] = set()
        with contextlib.suppress(InterruptedError):
            readable, _, _ = select.select([self.wake_r, self.ready_r], [], [], max(0.0, timeout))
            if self.wake_r in readable:
                with contextlib.suppress(BlockingIOError):
                    while os.read(self.wake_r, 4096):
                        pass
            if self.ready_r in readable:
                pids = self._read_ready()
        return pids

    def _read_ready(self) -> set[int]:
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(self.ready_r, 4096):
                self._ready_buffer += chunk
        *lines, self._ready_buffer = self._ready_buffer.split(b"\n")
        return {int(line) for line in lines if line.isdigit()}

    # -- in a worker -----------------------------------------------------------------------

    def keep_worker_ends(self) -> None:
        """Close the supervisor's ends: a worker keeps ``alive_r`` and ``ready_w`` only."""
        for fd in (self.wake_r, self.wake_w, self.ready_r, self.alive_w):
            os.close(fd)
        self.wake_r = self.wake_w = self.ready_r = self.alive_w = -1

    def announce_ready(self) -> None:
        """Tell the supervisor this worker is about to serve."""
        os.write(self.ready_w, b"%d\n" % os.getpid())
        os.close(self.ready_w)
        self.ready_w = -1
