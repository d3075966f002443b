"""The supervisor of pre-forked worker processes: ``WorkerSupervisor`` (see ``workers``).

Below the server classes, which it knows only by duck typing (``socket``, ``config``,
``serve_forever``, ``server_close``, ``_after_fork``), so that both ``workers.serve_workers``
and a ``ForkingMixIn`` server's ``serve_forever`` use it without an import cycle.

The supervisor forks after the server has bound its socket.  Each child drops the parent's
loop, listener and thread pool, installs the graceful stop handlers of ``_lifecycle`` and
runs ``serve_forever()``, then ends with ``os._exit``.  The parent waits in ``select`` on a
self-pipe (written by its signal handlers: SIGCHLD, SIGTERM/SIGINT, SIGHUP, SIGUSR1) and on
a pipe where workers announce that they are ready, reaps with ``waitpid``, restarts dead
workers after a back-off (``RestartBackoff``), and on a reload starts a new generation of
workers before it retires the old one.  A third pipe, whose write end only the supervisor
holds, tells workers that it died.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import select
import signal
import socket
import ssl
import sys
import threading
import time
import traceback
from collections.abc import Callable
from types import FrameType
from typing import Any

from . import logs
from ._lifecycle import (
    PROCESS_STOP_SIGNALS,
    SIGHUP,
    SIGUSR1,
    WORKER_SETTLE,
    after_requests,
    install_process_handlers,
    request_limit,
    stop_accepting_then_shutdown,
)

__all__ = ["WORKER_ID_ENV", "RestartBackoff", "WorkerSupervisor"]

logger = logging.getLogger("aiohttpbase.workers")

#: Environment variable carrying the worker's slot number in each worker process.
WORKER_ID_ENV = "AIOHTTPBASE_WORKER_ID"

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# Blocked across fork, until the child has its own handlers for them.
_FORK_BLOCKED = {s for s in (*_STOP_SIGNALS, signal.SIGCHLD, SIGHUP, SIGUSR1) if s is not None}

#: How a worker that reached its request limit exits, so the supervisor replaces it at
#: once and without calling it a crash (EX_TEMPFAIL: "try again").
_EXIT_REQUEST_LIMIT = 75


# -- worker processes ----------------------------------------------------------------------


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
        if reuse_port and not _has_reuse_port(server.socket):
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
        # Read now: with reuse_port the supervisor closes its socket after the first forks,
        # and workers started later still need to know what to bind.
        self._listen_spec = _ListenSpec.of(server)
        # Loaded here, never in a child: dlopen() after fork() is not safe.
        self._libc = _linux_libc()
        self._incoming: list[_Slot] | None = None  # a reload's new workers, until all are ready
        self._incoming_deadline = 0.0
        self._retiring: list[_Slot] = []  # workers a reload replaced, draining after SIGTERM
        self._reloaded = False  # a reload completed: every worker started since runs on_reload
        self._reload_requested = False
        self._reopen_requested = False
        self._stopping = False
        self._force = False
        #: The signal that stopped ``run()`` (SIGTERM or SIGINT), if one did.
        self.stop_signal: signal.Signals | None = None
        self._pid = os.getpid()
        self._wake_r = self._wake_w = -1
        self._ready_r = self._ready_w = -1  # workers write "<pid>\n" when about to serve
        self._alive_r = self._alive_w = -1  # only the supervisor holds _alive_w: EOF = it died
        self._ready_buffer = b""

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
        self._wake()

    def reload(self) -> None:
        """Ask ``run()`` to replace every worker with a new process (what SIGHUP does).

        The new workers start first (each runs ``on_reload`` before it serves).  Once every
        one of them is ready, the old ones get SIGTERM and drain as on a stop; the listening
        socket is served throughout.  If a new worker exits before it is ready, or they are
        not all ready within ``reload_timeout`` seconds, the reload is abandoned: the new
        ones are stopped and the old ones keep serving.  A reload asked for during another
        one follows it.  Safe from a signal handler and from another thread.
        """
        self._reload_requested = True
        self._wake()

    def reopen_logs(self) -> None:
        """Ask ``run()`` to reopen the access log file, here and in every worker (SIGUSR1).

        Safe from a signal handler and from another thread.
        """
        logs.request_reopen()
        self._reopen_requested = True
        self._wake()

    def run(self) -> int:
        """Supervise until ``stop()`` or SIGTERM/SIGINT; returns 0 if every worker stopped cleanly."""
        if _running_loop() is not None:
            # The child would inherit a thread marked as running a loop and could not start
            # its own; forking from inside a loop also duplicates that loop's epoll state.
            raise RuntimeError("serve_workers() must not be called from inside a running event loop")
        self._pid = os.getpid()
        self._wake_r, self._wake_w = os.pipe()
        self._ready_r, self._ready_w = os.pipe()
        self._alive_r, self._alive_w = os.pipe()
        for fd in (self._wake_r, self._wake_w, self._ready_r):
            os.set_blocking(fd, False)
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
                self._advance_reload()
                self._restart_due()
                if self._reopen_requested:
                    self._reopen_everywhere()
                self._sleep(self._next_timeout())
            return self._stop_workers()
        finally:
            restore()
            pipes = (self._wake_r, self._wake_w, self._ready_r, self._ready_w, self._alive_r, self._alive_w)
            for fd in pipes:
                os.close(fd)
            self._wake_r = self._wake_w = self._ready_r = self._ready_w = -1
            self._alive_r = self._alive_w = -1
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
            self._wake()  # a worker died: reap it now rather than at the next poll

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

    def _wake(self) -> None:
        if self._wake_w >= 0:
            with contextlib.suppress(OSError):  # full pipe: a wake-up is pending anyway
                os.write(self._wake_w, b"\0")

    def _sleep(self, timeout: float) -> None:
        """Wait for a signal (through the wake pipe), a worker's ready line, or ``timeout`` seconds."""
        with contextlib.suppress(InterruptedError):
            readable, _, _ = select.select([self._wake_r, self._ready_r], [], [], max(0.0, timeout))
            if self._wake_r in readable:
                with contextlib.suppress(BlockingIOError):
                    while os.read(self._wake_r, 4096):
                        pass
            if self._ready_r in readable:
                self._read_ready()

    def _read_ready(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(self._ready_r, 4096):
                self._ready_buffer += chunk
        *lines, self._ready_buffer = self._ready_buffer.split(b"\n")
        pids = {int(line) for line in lines if line.isdigit()}
        for slot in (*self._slots, *(self._incoming or ())):
            if slot.pid in pids:
                slot.ready = True

    def _next_timeout(self) -> float:
        # Even with SIGCHLD handled, poll now and then: handle_signals=False has no SIGCHLD.
        timeout = self.poll_interval
        now = time.monotonic()
        for slot in self._slots:
            if slot.restart_at is not None:
                timeout = min(timeout, slot.restart_at - now)
        if self._incoming is not None:
            timeout = min(timeout, self._incoming_deadline - now)
        for slot in self._retiring:
            if slot.kill_at is not None:
                timeout = min(timeout, slot.kill_at - now)
        return timeout

    def _collect(self, slot: _Slot) -> int | None:
        """The pid of ``slot``'s process if it has exited (now reaped), else ``None``."""
        if slot.pid is None:
            return None
        try:
            pid, status = os.waitpid(slot.pid, os.WNOHANG)
        except ChildProcessError:  # someone else reaped it (e.g. SIGCHLD set to SIG_IGN)
            pid, status = slot.pid, 0
        if pid == 0:
            return None
        slot.exit_code = os.waitstatus_to_exitcode(status)
        dead_pid, slot.pid = slot.pid, None
        return dead_pid

    def _reap(self) -> None:
        """Collect workers that have exited; schedule their replacement unless stopping."""
        for slot in self._slots:
            dead_pid = self._collect(slot)
            if dead_pid is None or self._stopping:
                continue
            uptime = time.monotonic() - slot.started
            if slot.exit_code == _EXIT_REQUEST_LIMIT:  # planned: replace at once, no back-off
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
        for slot in self._incoming or ():
            dead_pid = self._collect(slot)
            if dead_pid is not None:
                self._abandon_reload(
                    f"new worker {slot.worker_id} (pid {dead_pid}) exited "
                    f"({_describe_exit(slot.exit_code)}) before serving"
                )
                break
        now = time.monotonic()
        for slot in list(self._retiring):
            dead_pid = self._collect(slot)
            if dead_pid is not None:
                self._retiring.remove(slot)
                logger.info(
                    "replaced worker %d (pid %d) stopped (%s)",
                    slot.worker_id,
                    dead_pid,
                    _describe_exit(slot.exit_code),
                )
            elif slot.kill_at is not None and slot.kill_at <= now and not self._stopping:
                assert slot.pid is not None
                logger.warning(
                    "replaced worker %d (pid %d) did not stop in time: killing it", slot.worker_id, slot.pid
                )
                with contextlib.suppress(ProcessLookupError):
                    os.kill(slot.pid, signal.SIGKILL)
                slot.kill_at = None  # reaped at the next pass

    def _restart_due(self) -> None:
        now = time.monotonic()
        for slot in self._slots:
            if slot.restart_at is not None and slot.restart_at <= now and not self._stopping:
                slot.restart_at = None
                try:
                    self._spawn(slot, refresh=self._reloaded)
                except OSError as exc:  # fork() refused (EAGAIN, ENOMEM): try again later
                    slot.restart_at = now + self.backoff.maximum
                    retry = self.backoff.maximum
                    logger.error("cannot start worker %d: %s; retrying in %.1f s", slot.worker_id, exc, retry)

    # -- reload and reopen -----------------------------------------------------------------

    def _advance_reload(self) -> None:
        """Start a requested reload, or finish (or abandon) the one under way."""
        if self._stopping:
            return
        if self._incoming is None:
            if self._reload_requested:
                self._reload_requested = False
                self._start_reload()
            return
        if all(slot.ready for slot in self._incoming):
            self._finish_reload()
        elif time.monotonic() >= self._incoming_deadline:
            self._abandon_reload(f"the new workers were not ready within {self.reload_timeout:g} s")

    def _start_reload(self) -> None:
        logger.info("reloading: starting %d new workers", self.workers)
        self._incoming = incoming = [_Slot(i) for i in range(self.workers)]
        self._incoming_deadline = time.monotonic() + self.reload_timeout
        for slot in incoming:
            try:
                self._spawn(slot, refresh=True)
            except OSError as exc:
                self._abandon_reload(f"cannot start a new worker: {exc}")
                return

    def _finish_reload(self) -> None:
        assert self._incoming is not None
        old, self._slots, self._incoming = self._slots, self._incoming, None
        self._reloaded = True
        self._retire(old)
        logger.info(
            "reloaded: workers %s replace %s, which drain and stop",
            sorted(self.worker_pids.values()),
            sorted(slot.pid for slot in old if slot.pid is not None),
        )

    def _abandon_reload(self, reason: str) -> None:
        assert self._incoming is not None
        incoming, self._incoming = self._incoming, None
        self._retire(incoming)
        logger.error("reload failed: %s; the running workers keep serving", reason)

    def _retire(self, slots: list[_Slot]) -> None:
        """SIGTERM the processes of ``slots``, which drain; SIGKILL them if they take too long."""
        kill_at = time.monotonic() + self.grace + self.kill_margin
        for slot in slots:
            slot.restart_at = None
            if slot.pid is None:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.kill(slot.pid, signal.SIGTERM)
            slot.kill_at = kill_at
            self._retiring.append(slot)

    def _reopen_everywhere(self) -> None:
        """Reopen this process's access log file and forward SIGUSR1 to every worker."""
        self._reopen_requested = False
        logs.reopen_log_files()  # a worker forked from now on inherits the new file
        if SIGUSR1 is None:  # pragma: no cover - no worker processes without it either
            return
        for slot in (*self._slots, *(self._incoming or ()), *self._retiring):
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
                self._run_child(slot.worker_id, {signal.Signals(s) for s in mask}, refresh)  # never returns
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
        stopping = [*self._slots, *(self._incoming or ()), *self._retiring]
        self._incoming = None
        self._retiring = []
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
                self._collect(slot)
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
        clean = clean and all(slot.exit_code in (0, None, _EXIT_REQUEST_LIMIT) for slot in stopping)
        return 0 if clean else 1

    # -- in the child ----------------------------------------------------------------------

    def _run_child(self, worker_id: int, parent_mask: set[signal.Signals], refresh: bool) -> None:
        """The body of one worker process; ends with ``os._exit``, never by returning.

        Returning or raising would run the supervisor's code -- its loop, its ``finally``
        blocks, atexit handlers, or a test runner's machinery -- a second time.
        """
        code = 1
        try:
            # First of all: the kernel's SIGTERM if the supervisor dies from now on (stays
            # pending until the handlers below are in place), then whether it already has.
            _set_parent_death_signal(self._libc, signal.SIGTERM)
            if os.getppid() != self._pid:
                raise SystemExit(0)  # the supervisor died during the fork: serve nothing
            for fd in (self._wake_r, self._wake_w, self._ready_r, self._alive_w):
                os.close(fd)
            self._wake_r = self._wake_w = self._ready_r = self._alive_w = -1
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            server = self.server
            _forget_parent_loop(server)
            with contextlib.suppress(ValueError):
                signal.set_wakeup_fd(-1)  # a wakeup fd of the parent's, if it had one
            if refresh and self.on_reload is not None:
                self.on_reload(server)  # e.g. import the handler afresh
            if self.reuse_port and not (worker_id == 0 and server.socket.fileno() >= 0):
                # The supervisor's own socket goes to the first worker 0, so connections the
                # kernel queued on it before the fork are served rather than reset; every
                # other worker, and any replacement, binds a socket of its own.
                server.socket.close()
                server.socket = self._listen_spec.bind()
            server.worker_id = worker_id
            os.environ[WORKER_ID_ENV] = str(worker_id)
            # SIGINT too: Ctrl-C in a terminal signals the whole process group, and a
            # worker must then drain like on SIGTERM rather than die with KeyboardInterrupt.
            settle = min(WORKER_SETTLE, self.grace)
            install_process_handlers(server, PROCESS_STOP_SIGNALS, False, SIGUSR1, settle=settle)
            limited = False
            limit = request_limit(self.limit_max_requests, self.limit_max_requests_jitter)
            if limit is not None:

                def retire() -> None:
                    nonlocal limited
                    limited = True
                    logger.info(
                        "worker %d (pid %d) served %d requests: stopping", worker_id, os.getpid(), limit
                    )
                    stop_accepting_then_shutdown(server, settle)

                after_requests([server], limit, retire)
            # Started while the signals are still blocked, so the thread keeps them blocked
            # and they reach the main thread (and wake its loop).
            _watch_supervisor(self._alive_r, self._pid)
            os.write(self._ready_w, b"%d\n" % os.getpid())
            os.close(self._ready_w)
            self._ready_w = -1
            signal.pthread_sigmask(signal.SIG_SETMASK, parent_mask)  # deliver pending signals now
            server.serve_forever(poll_interval=self.poll_interval)
            code = _EXIT_REQUEST_LIMIT if limited else 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            traceback.print_exc()
        finally:
            try:
                self.server.server_close()
                logging.shutdown()
                for stream in (sys.stdout, sys.stderr):
                    stream.flush()
            finally:
                os._exit(code)


# -- helpers -------------------------------------------------------------------------------


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _linux_libc() -> Any:
    """The C library, for ``prctl``, on Linux; ``None`` elsewhere or if it cannot be loaded."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (ImportError, OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return libc


def _set_parent_death_signal(libc: Any, signum: int) -> bool:
    """Have the kernel send ``signum`` to this process when its parent dies (Linux)."""
    if libc is None:
        return False
    return bool(libc.prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0) == 0)


def _watch_supervisor(alive_fd: int, supervisor_pid: int) -> None:
    """SIGTERM this worker when ``alive_fd`` reaches end of file: the supervisor, the only
    process holding the pipe's write end, has died.  The portable counterpart of
    ``PR_SET_PDEATHSIG``; on Linux both fire, and a second SIGTERM is harmless."""

    def watch() -> None:
        try:
            while os.read(alive_fd, 1):
                pass
        except OSError:  # closed under us: this process is exiting
            return
        logger.warning("supervisor (pid %d) is gone: stopping worker pid %d", supervisor_pid, os.getpid())
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="aiohttpbase-supervisor-watch", daemon=True).start()


def _forget_parent_loop(server: Any) -> None:
    """Drop any loop, listener and thread pool the server made in the parent."""
    server._after_fork()


def _has_reuse_port(sock: socket.socket) -> bool:
    option = getattr(socket, "SO_REUSEPORT", None)
    if option is None:
        return False
    try:
        return bool(sock.getsockopt(socket.SOL_SOCKET, option))
    except OSError:
        return False


@dataclasses.dataclass(frozen=True)
class _ListenSpec:
    """What a worker needs to bind its own ``SO_REUSEPORT`` socket like the server's."""

    family: int
    type: int
    address: Any
    backlog: int
    v6only: int | None
    #: Set when the server's socket was wrapped (``httpd.socket = ctx.wrap_socket(...)``).
    tls: ssl.SSLContext | None

    @classmethod
    def of(cls, server: Any) -> _ListenSpec:
        sock = server.socket
        v6only = None
        if sock.family == socket.AF_INET6:
            v6only = sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)
        tls = sock.context if isinstance(sock, ssl.SSLSocket) else None
        # getsockname(), not the requested address: port 0 must become the port bound.
        return cls(sock.family, sock.type, sock.getsockname(), server.request_queue_size, v6only, tls)

    def bind(self) -> socket.socket:
        sock = socket.socket(self.family, self.type)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if self.v6only is not None:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, self.v6only)
            sock.bind(self.address)
            sock.listen(self.backlog)
        except BaseException:
            sock.close()
            raise
        if self.tls is not None:  # keep the wrap_socket idiom's TLS on the new socket
            return self.tls.wrap_socket(sock, server_side=True)
        return sock


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "unknown status"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"
