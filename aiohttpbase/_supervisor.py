"""The supervisor of pre-forked worker processes: ``WorkerSupervisor`` (see ``workers``).

Below the server classes, which it knows only by duck typing (``socket``, ``config``,
``serve_forever``, ``server_close``, ``_after_fork``), so that both ``workers.serve_workers``
and a ``ForkingMixIn`` server's ``serve_forever`` use it without an import cycle.

The supervisor forks after the server has bound its socket; each child runs
``_worker_process.WorkerProcess.run`` and never returns.  The parent waits on its pipes
(``_pipes.SupervisorPipes``: woken by its signal handlers -- SIGCHLD, SIGTERM/SIGINT,
SIGHUP, SIGUSR1 -- and by workers saying they are ready), reaps with ``waitpid``, restarts
dead workers after a back-off (``RestartBackoff``), and on a reload (``_Reload``) starts a
new generation of workers before it retires the old one.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from . import logs
from ._lifecycle import SIGHUP, SIGUSR1
from ._pipes import SupervisorPipes
from ._worker_process import EXIT_REQUEST_LIMIT, WORKER_ID_ENV, WorkerProcess, has_reuse_port

__all__ = ["WORKER_ID_ENV", "RestartBackoff", "WorkerSupervisor"]

logger = logging.getLogger("aiohttpbase.workers")

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# Blocked across fork, until the child has its own handlers for them.
_FORK_BLOCKED = {s for s in (*_STOP_SIGNALS, signal.SIGCHLD, SIGHUP, SIGUSR1) if s is not None}


@dataclasses.dataclass
class RestartBackoff:
    """How long to wait before replacing a worker that died.

    A worker that ran for at least ``stable_after`` seconds is replaced at once (a one-off
    crash should cost no capacity); one that died sooner waits ``initial`` seconds, doubling
    with each further quick death up to ``maximum``, so a worker that cannot start (a bad
    import, a handler that crashes at once) is retried at a slow, bounded rate instead of
    forking in a tight loop.
    """

    initial: float = 0.1
    maximum: float = 10.0
    stable_after: float = 5.0

    def delay(self, uptime: float, quick_deaths: int) -> tuple[float, int]:
        """``(seconds to wait, new count of quick deaths in a row)`` for a worker that ran ``uptime``."""
        if uptime >= self.stable_after:
            return 0.0, 0
        quick_deaths += 1
        return min(self.maximum, self.initial * 2 ** (quick_deaths - 1)), quick_deaths


@dataclasses.dataclass
class _Slot:
    """One of the ``workers`` places (or, during a reload, one of the new generation's);
    its process is replaced when it dies."""

    worker_id: int
    pid: int | None = None
    started: float = 0.0
    quick_deaths: int = 0
    restart_at: float | None = None  # when a dead worker is due to be replaced
    exit_code: int | None = None  # how the last process of this slot ended
    ready: bool = False  # the process said it is about to serve
    kill_at: float | None = None  # a replaced worker, draining: SIGKILL it if still running then

    def collect(self) -> int | None:
        """The pid of this slot's process if it has exited (now reaped), else ``None``."""
        if self.pid is None:
            return None
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:  # someone else reaped it (e.g. SIGCHLD set to SIG_IGN)
            pid, status = self.pid, 0
        if pid == 0:
            return None
        self.exit_code = os.waitstatus_to_exitcode(status)
        dead_pid, self.pid = self.pid, None
        return dead_pid


class WorkerSupervisor:
    """Forks and supervises the worker processes of one server; see ``serve_workers``."""

    def __init__(
        self,
        server: Any,
        workers: int,
        *,
        reuse_port: bool = False,
        grace: float | None = None,
        kill_margin: float = 5.0,
        poll_interval: float = 0.5,
        backoff: RestartBackoff | None = None,
        handle_signals: bool = True,
        on_reload: Callable[[Any], None] | None = None,
        reload_timeout: float = 30.0,
        limit_max_requests: int | None = None,
        limit_max_requests_jitter: int = 0,
    ) -> None:
        if workers < 1:
            raise ValueError("serve_workers needs at least one worker")
        if not hasattr(os, "fork"):
            raise RuntimeError("worker processes need os.fork(), which this platform lacks")
        if reuse_port and not has_reuse_port(server.socket):
            raise ValueError(
                "reuse_port=True needs a listening socket bound with SO_REUSEPORT: set "
                "allow_reuse_port = True on the server class (Python 3.11+), or construct it "
                "with bind_and_activate=False and set the option before server_bind()"
            )
        self.server = server
        self.workers = workers
        self.reuse_port = reuse_port
        self.grace = server.config.timeout_graceful_shutdown if grace is None else grace
        self.kill_margin = kill_margin
        self.poll_interval = poll_interval
        self.backoff = backoff if backoff is not None else RestartBackoff()
        self.handle_signals = handle_signals
        self.on_reload = on_reload
        self.reload_timeout = reload_timeout
        self.limit_max_requests = limit_max_requests
        self.limit_max_requests_jitter = limit_max_requests_jitter
        self._slots = [_Slot(i) for i in range(workers)]
        self._worker = WorkerProcess(server)
        self._reload = _Reload(self)
        self._reopen_requested = False
        self._stopping = False
        self._force = False
        #: The signal that stopped ``run()`` (SIGTERM or SIGINT), if one did.
        self.stop_signal: signal.Signals | None = None
        self._pid = os.getpid()
        self._pipes = SupervisorPipes()

    @property
    def worker_pids(self) -> dict[int, int]:
        """``{worker_id: pid}`` of the workers currently running (not those a reload is
        starting, nor those it replaced and that are still draining)."""
        return {slot.worker_id: slot.pid for slot in self._slots if slot.pid is not None}

    def stop(self, force: bool = False) -> None:
        """Ask ``run()`` to stop the workers (``force``: SIGKILL them now).

        Safe from a signal handler and from another thread.
        """
        if self._stopping and force:
            self._force = True
        self._stopping = True
        self._pipes.wake()

    def reload(self) -> None:
        """Ask ``run()`` to replace every worker with a new process (what SIGHUP does).

        The new workers start first (each runs ``on_reload`` before it serves).  Once every
        one of them is ready, the old ones get SIGTERM and drain as on a stop; the listening
        socket is served throughout.  If a new worker exits before it is ready, or they are
        not all ready within ``reload_timeout`` seconds, the reload is abandoned: the new
        ones are stopped and the old ones keep serving.  A reload asked for during another
        one follows it.  Safe from a signal handler and from another thread.
        """
        self._reload.requested = True
        self._pipes.wake()

    def reopen_logs(self) -> None:
        """Ask ``run()`` to reopen the access log file, here and in every worker (SIGUSR1).

        Safe from a signal handler and from another thread.
        """
        logs.request_reopen()
        self._reopen_requested = True
        self._pipes.wake()

    def run(self) -> int:
        """Supervise until ``stop()`` or SIGTERM/SIGINT; returns 0 if every worker stopped cleanly."""
        if _running_loop() is not None:
            # The child would inherit a thread marked as running a loop and could not start
            # its own; forking from inside a loop also duplicates that loop's epoll state.
            raise RuntimeError("serve_workers() must not be called from inside a running event loop")
        self._pid = os.getpid()
        self._pipes.open()
        restore = self._install_signal_handlers() if self.handle_signals else (lambda: None)
        try:
            try:
                for slot in self._slots:
                    self._spawn(slot)
            except BaseException:
                self._stopping = True  # e.g. fork() failed: do not leave the first ones behind
                self._stop_workers()
                raise
            if self.reuse_port:
                # Worker 0 now serves this socket; the supervisor must not keep it open, or
                # after worker 0 dies connections hashed to it would wait on it forever.
                self.server.socket.close()
            while not self._stopping:
                self._reap()
                self._reload.advance()
                self._restart_due()
                if self._reopen_requested:
                    self._reopen_everywhere()
                self._sleep(self._next_timeout())
            return self._stop_workers()
        finally:
            restore()
            self._pipes.close()
            self.server.server_close()

    # -- supervisor internals --------------------------------------------------------------

    def _install_signal_handlers(self) -> Callable[[], None]:
        def on_stop(signum: int, frame: FrameType | None) -> None:
            # A second Ctrl-C means "now": do not wait out the grace period.
            force = signum == signal.SIGINT and self._stopping
            if not self._stopping:
                self.stop_signal = signal.Signals(signum)
                logger.info("%s received: stopping %d workers", self.stop_signal.name, self.workers)
            self.stop(force=force)

        def on_child(signum: int, frame: FrameType | None) -> None:
            self._pipes.wake()  # a worker died: reap it now rather than at the next poll

        def on_reload(signum: int, frame: FrameType | None) -> None:
            self.reload()

        def on_reopen(signum: int, frame: FrameType | None) -> None:
            self.reopen_logs()

        previous = {sig: signal.signal(sig, on_stop) for sig in _STOP_SIGNALS}
        previous[signal.SIGCHLD] = signal.signal(signal.SIGCHLD, on_child)
        # SIGHUP's default action would kill the supervisor and leave its workers serving.
        if SIGHUP is not None:
            previous[SIGHUP] = signal.signal(SIGHUP, on_reload)
        if SIGUSR1 is not None:
            previous[SIGUSR1] = signal.signal(SIGUSR1, on_reopen)

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore

    def _sleep(self, timeout: float) -> None:
        """Wait for a signal (through the wake pipe), a worker's ready line, or ``timeout`` seconds."""
        ready = self._pipes.wait(timeout)
        if ready:
            for slot in (*self._slots, *(self._reload.incoming or ())):
                if slot.pid in ready:
                    slot.ready = True

    def _next_timeout(self) -> float:
        # Even with SIGCHLD handled, poll now and then: handle_signals=False has no SIGCHLD.
        timeout = self.poll_interval
        now = time.monotonic()
        for slot in self._slots:
            if slot.restart_at is not None:
                timeout = min(timeout, slot.restart_at - now)
        return self._reload.next_timeout(timeout, now)

    def _reap(self) -> None:
        """Collect workers that have exited; schedule their replacement unless stopping."""
        for slot in self._slots:
            dead_pid = slot.collect()
            if dead_pid is None or self._stopping:
                continue
            uptime = time.monotonic() - slot.started
            if slot.exit_code == EXIT_REQUEST_LIMIT:  # planned: replace at once, no back-off
                slot.restart_at = time.monotonic()
                slot.quick_deaths = 0
                logger.info(
                    "worker %d (pid %d) reached its request limit after %.1f s; starting a new one",
                    slot.worker_id,
                    dead_pid,
                    uptime,
                )
                continue
            delay, slot.quick_deaths = self.backoff.delay(uptime, slot.quick_deaths)
            slot.restart_at = time.monotonic() + delay
            logger.warning(
                "worker %d (pid %d) died unexpectedly (%s) after %.1f s; restarting in %.1f s",
                slot.worker_id,
                dead_pid,
                _describe_exit(slot.exit_code),
                uptime,
                delay,
            )
        self._reload.reap()

    def _restart_due(self) -> None:
        now = time.monotonic()
        for slot in self._slots:
            if slot.restart_at is not None and slot.restart_at <= now and not self._stopping:
                slot.restart_at = None
                try:
                    self._spawn(slot, refresh=self._reload.reloaded)
                except OSError as exc:  # fork() refused (EAGAIN, ENOMEM): try again later
                    slot.restart_at = now + self.backoff.maximum
                    retry = self.backoff.maximum
                    logger.error("cannot start worker %d: %s; retrying in %.1f s", slot.worker_id, exc, retry)

    def _reopen_everywhere(self) -> None:
        """Reopen this process's access log file and forward SIGUSR1 to every worker."""
        self._reopen_requested = False
        logs.reopen_log_files()  # a worker forked from now on inherits the new file
        if SIGUSR1 is None:  # pragma: no cover - no worker processes without it either
            return
        for slot in (*self._slots, *(self._reload.incoming or ()), *self._reload.retiring):
            if slot.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(slot.pid, SIGUSR1)

    # -- starting and stopping -------------------------------------------------------------

    def _spawn(self, slot: _Slot, refresh: bool = False) -> None:
        # Anything buffered but unwritten would be written again by the child.
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        # Block the signals we handle across fork: until the child has installed its own
        # handlers, a SIGTERM must stay pending rather than run the supervisor's handler
        # (which would write to the supervisor's wake pipe) inside the child.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, _FORK_BLOCKED)
        try:
            pid = os.fork()
            if pid == 0:
                parent_mask = {signal.Signals(s) for s in mask}
                self._worker.run(self, self._pipes, self._pid, slot.worker_id, parent_mask, refresh)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        slot.pid = pid
        slot.started = time.monotonic()
        slot.exit_code = None
        slot.ready = False
        slot.kill_at = None
        logger.info("worker %d started (pid %d)", slot.worker_id, pid)

    def _stop_workers(self) -> int:
        """SIGTERM every worker, wait ``grace + kill_margin``, SIGKILL what is left."""
        self._reap()
        for slot in self._slots:
            slot.restart_at = None
            if slot.pid is None:
                slot.exit_code = None  # died before the stop and was not replaced: not judged here
        # Those of a reload under way, and replaced ones still draining, stop with the rest.
        stopping = [*self._slots, *self._reload.take_all()]
        for slot in stopping:
            if slot.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(slot.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace + self.kill_margin
        while any(slot.pid is not None for slot in stopping) and not self._force:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._sleep(min(remaining, 0.05))
            for slot in stopping:
                slot.collect()
        clean = True
        for slot in stopping:
            if slot.pid is None:
                continue
            logger.warning("worker %d (pid %d) did not stop in time: killing it", slot.worker_id, slot.pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(slot.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(slot.pid, 0)  # prompt after SIGKILL
            slot.pid = None
            clean = False
        clean = clean and all(slot.exit_code in (0, None, EXIT_REQUEST_LIMIT) for slot in stopping)
        return 0 if clean else 1


class _Reload:
    """A supervisor's reloads: the new generation of workers starting (``incoming``), and
    the generation it replaced, draining after SIGTERM (``retiring``)."""

    def __init__(self, supervisor: WorkerSupervisor) -> None:
        self.supervisor = supervisor
        self.requested = False
        self.incoming: list[_Slot] | None = None  # a reload's new workers, until all are ready
        self.deadline = 0.0
        self.retiring: list[_Slot] = []  # workers a reload replaced, draining after SIGTERM
        self.reloaded = False  # a reload completed: every worker started since runs on_reload

    def advance(self) -> None:
        """Start a requested reload, or finish (or abandon) the one under way."""
        if self.supervisor._stopping:
            return
        if self.incoming is None:
            if self.requested:
                self.requested = False
                self._start()
            return
        if all(slot.ready for slot in self.incoming):
            self._finish()
        elif time.monotonic() >= self.deadline:
            self._abandon(f"the new workers were not ready within {self.supervisor.reload_timeout:g} s")

    def reap(self) -> None:
        """Abandon the reload if a new worker died; collect (or kill) retired ones."""
        for slot in self.incoming or ():
            dead_pid = slot.collect()
            if dead_pid is not None:
                self._abandon(
                    f"new worker {slot.worker_id} (pid {dead_pid}) exited "
                    f"({_describe_exit(slot.exit_code)}) before serving"
                )
                break
        now = time.monotonic()
        for slot in list(self.retiring):
            dead_pid = slot.collect()
            if dead_pid is not None:
                self.retiring.remove(slot)
                logger.info(
                    "replaced worker %d (pid %d) stopped (%s)",
                    slot.worker_id,
                    dead_pid,
                    _describe_exit(slot.exit_code),
                )
            elif slot.kill_at is not None and slot.kill_at <= now and not self.supervisor._stopping:
                assert slot.pid is not None
                logger.warning(
                    "replaced worker %d (pid %d) did not stop in time: killing it", slot.worker_id, slot.pid
                )
                with contextlib.suppress(ProcessLookupError):
                    os.kill(slot.pid, signal.SIGKILL)
                slot.kill_at = None  # reaped at the next pass

    def next_timeout(self, timeout: float, now: float) -> float:
        """``timeout``, shortened to this reload's next deadline."""
        if self.incoming is not None:
            timeout = min(timeout, self.deadline - now)
        for slot in self.retiring:
            if slot.kill_at is not None:
                timeout = min(timeout, slot.kill_at - now)
        return timeout

    def take_all(self) -> list[_Slot]:
        """The workers of a reload under way and those still draining, handed to a stop."""
        slots = [*(self.incoming or ()), *self.retiring]
        self.incoming = None
        self.retiring = []
        return slots

    def _start(self) -> None:
        supervisor = self.supervisor
        logger.info("reloading: starting %d new workers", supervisor.workers)
        self.incoming = incoming = [_Slot(i) for i in range(supervisor.workers)]
        self.deadline = time.monotonic() + supervisor.reload_timeout
        for slot in incoming:
            try:
                supervisor._spawn(slot, refresh=True)
            except OSError as exc:
                self._abandon(f"cannot start a new worker: {exc}")
                return

    def _finish(self) -> None:
        assert self.incoming is not None
        supervisor = self.supervisor
        old, supervisor._slots, self.incoming = supervisor._slots, self.incoming, None
        self.reloaded = True
        self._retire(old)
        logger.info(
            "reloaded: workers %s replace %s, which drain and stop",
            sorted(supervisor.worker_pids.values()),
            sorted(slot.pid for slot in old if slot.pid is not None),
        )

    def _abandon(self, reason: str) -> None:
        assert self.incoming is not None
        incoming, self.incoming = self.incoming, None
        self._retire(incoming)
        logger.error("reload failed: %s; the running workers keep serving", reason)

    def _retire(self, slots: list[_Slot]) -> None:
        """SIGTERM the processes of ``slots``, which drain; SIGKILL them if they take too long."""
        kill_at = time.monotonic() + self.supervisor.grace + self.supervisor.kill_margin
        for slot in slots:
            slot.restart_at = None
            if slot.pid is None:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.kill(slot.pid, signal.SIGTERM)
            slot.kill_at = kill_at
            self.retiring.append(slot)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "unknown status"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"
