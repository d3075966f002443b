"""Pre-forked worker processes and graceful signal handling.

Two entry points:

``serve_workers(server, workers)``
    The ``ForkingMixIn`` answer.  The calling process becomes a *supervisor*: it forks
    ``workers`` children that all serve ``server``'s already-listening socket, restarts a
    child that dies (with a growing back-off, so a worker that crashes at start does not
    spin), and on SIGTERM/SIGINT stops them all gracefully and returns an exit status::

        server = aiohttpbase.HTTPServer(("", 8000), Handler)
        sys.exit(aiohttpbase.workers.serve_workers(server, 4))

    In each child ``server.worker_id`` is the worker's slot, ``0 .. workers-1`` (a
    replacement keeps the slot of the worker it replaces), and the environment variable
    ``AIOHTTPBASE_WORKER_ID`` holds the same number, so a handler can show which worker
    answered (``self.server.worker_id``) and a log can name it.  In a process that is not a
    worker, ``getattr(server, "worker_id", None)`` is ``None``.

``install_signal_handlers(server)``
    For one process running ``server.serve_forever()`` in its main thread: SIGTERM and
    SIGINT start a graceful shutdown (stop accepting, close idle connections, let in-flight
    requests finish within ``config.timeout_graceful_shutdown``), after which
    ``serve_forever`` returns normally and the program can exit 0.  A second SIGINT (Ctrl-C
    twice) raises ``KeyboardInterrupt`` as usual, to cut a shutdown that takes too long.

Why one shared accept queue by default, rather than ``SO_REUSEPORT``: every child inherits
the same listening socket through ``fork``, so there is one kernel accept queue and whichever
worker is free takes the next connection.  A worker busy with a slow inline handler simply
stops accepting and the others pick up the load; a worker that dies leaves nothing behind
in a queue of its own.  With ``SO_REUSEPORT`` (``reuse_port=True``, Linux and the BSDs) each
child binds its own socket and the kernel hashes each new connection to one of them: no
thundering herd and an even spread under load, but a connection hashed to a stalled worker
waits for that worker even when others are idle, and connections still queued on a worker
that dies are reset.  It is offered for the many-core, short-request case where that trade
pays.
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
import time
import traceback
from collections.abc import Callable
from types import FrameType
from typing import Any

__all__ = [
    "WORKER_ID_ENV",
    "RestartBackoff",
    "WorkerSupervisor",
    "install_signal_handlers",
    "request_shutdown",
    "serve_workers",
]

logger = logging.getLogger("aiohttpbase.workers")

#: Environment variable carrying the worker's slot number in each worker process.
WORKER_ID_ENV = "AIOHTTPBASE_WORKER_ID"

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


# -- single process ------------------------------------------------------------------------


def request_shutdown(server: Any) -> None:
    """Ask ``server`` to shut down gracefully without waiting for it; safe in a signal handler."""
    server.request_shutdown()


def install_signal_handlers(
    server: Any, *, signals: tuple[signal.Signals, ...] = _STOP_SIGNALS, force_on_repeat: bool = True
) -> Callable[[], None]:
    """Make ``signals`` (SIGTERM, SIGINT) shut ``server`` down gracefully; returns ``restore()``.

    Must be called from the main thread (a restriction of ``signal.signal``).  Use::

        restore = install_signal_handlers(server)
        try:
            server.serve_forever()
        finally:
            restore()
        return 0

    ``signal.signal`` rather than ``loop.add_signal_handler``: ``serve_forever`` creates its
    loop inside, so there is no loop to register on beforehand.  Both uvloop and asyncio
    wake from their poll for a Python-level handler (uvloop through its wakeup fd, asyncio
    because ``select`` is interrupted and ``shutdown()`` writes to the loop's self-pipe).

    With ``force_on_repeat`` a second SIGINT raises ``KeyboardInterrupt`` (the usual
    Ctrl-C), which cuts the graceful drain short.  Repeated SIGTERMs are always harmless.
    """
    received: set[int] = set()

    def handle(signum: int, frame: FrameType | None) -> None:
        if force_on_repeat and signum == signal.SIGINT and signal.SIGINT in received:
            raise KeyboardInterrupt
        first = not received
        received.add(signum)
        if first:
            logger.info("%s received: shutting down gracefully", signal.Signals(signum).name)
        request_shutdown(server)

    previous = {sig: signal.signal(sig, handle) for sig in signals}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


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
    """One of the ``workers`` places; its process is replaced when it dies."""

    worker_id: int
    pid: int | None = None
    started: float = 0.0
    quick_deaths: int = 0
    restart_at: float | None = None  # when a dead worker is due to be replaced
    exit_code: int | None = None  # how the last process of this slot ended


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
        self._slots = [_Slot(i) for i in range(workers)]
        # Read now: with reuse_port the supervisor closes its socket after the first forks,
        # and workers started later still need to know what to bind.
        self._listen_spec = _ListenSpec.of(server)
        self._stopping = False
        self._force = False
        self._wake_r = -1
        self._wake_w = -1

    @property
    def worker_pids(self) -> dict[int, int]:
        """``{worker_id: pid}`` of the workers currently running."""
        return {slot.worker_id: slot.pid for slot in self._slots if slot.pid is not None}

    def stop(self, force: bool = False) -> None:
        """Ask ``run()`` to stop the workers (``force``: SIGKILL them now).

        Safe from a signal handler and from another thread.
        """
        if self._stopping and force:
            self._force = True
        self._stopping = True
        self._wake()

    def run(self) -> int:
        """Supervise until ``stop()`` or SIGTERM/SIGINT; returns 0 if every worker stopped cleanly."""
        if _running_loop() is not None:
            # The child would inherit a thread marked as running a loop and could not start
            # its own; forking from inside a loop also duplicates that loop's epoll state.
            raise RuntimeError("serve_workers() must not be called from inside a running event loop")
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
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
                self._restart_due()
                self._sleep(self._next_timeout())
            return self._stop_workers()
        finally:
            restore()
            os.close(self._wake_r)
            os.close(self._wake_w)
            self._wake_r = self._wake_w = -1
            self.server.server_close()

    # -- supervisor internals --------------------------------------------------------------

    def _install_signal_handlers(self) -> Callable[[], None]:
        def on_stop(signum: int, frame: FrameType | None) -> None:
            # A second Ctrl-C means "now": do not wait out the grace period.
            force = signum == signal.SIGINT and self._stopping
            if not self._stopping:
                logger.info("%s received: stopping %d workers", signal.Signals(signum).name, self.workers)
            self.stop(force=force)

        def on_child(signum: int, frame: FrameType | None) -> None:
            self._wake()  # a worker died: reap it now rather than at the next poll

        previous = {sig: signal.signal(sig, on_stop) for sig in _STOP_SIGNALS}
        previous[signal.SIGCHLD] = signal.signal(signal.SIGCHLD, on_child)

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore

    def _wake(self) -> None:
        if self._wake_w >= 0:
            with contextlib.suppress(OSError):  # full pipe: a wake-up is pending anyway
                os.write(self._wake_w, b"\0")

    def _sleep(self, timeout: float) -> None:
        """Wait for a signal (through the wake pipe) or ``timeout`` seconds."""
        with contextlib.suppress(InterruptedError):
            readable, _, _ = select.select([self._wake_r], [], [], max(0.0, timeout))
            if readable:
                with contextlib.suppress(BlockingIOError):
                    while os.read(self._wake_r, 4096):
                        pass

    def _next_timeout(self) -> float:
        # Even with SIGCHLD handled, poll now and then: handle_signals=False has no SIGCHLD.
        timeout = self.poll_interval
        now = time.monotonic()
        for slot in self._slots:
            if slot.restart_at is not None:
                timeout = min(timeout, slot.restart_at - now)
        return timeout

    def _reap(self) -> None:
        """Collect workers that have exited; schedule their replacement unless stopping."""
        for slot in self._slots:
            if slot.pid is None:
                continue
            try:
                pid, status = os.waitpid(slot.pid, os.WNOHANG)
            except ChildProcessError:  # someone else reaped it (e.g. SIGCHLD set to SIG_IGN)
                pid, status = slot.pid, 0
            if pid == 0:
                continue
            slot.exit_code = os.waitstatus_to_exitcode(status)
            uptime = time.monotonic() - slot.started
            dead_pid, slot.pid = slot.pid, None
            if self._stopping:
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

    def _restart_due(self) -> None:
        now = time.monotonic()
        for slot in self._slots:
            if slot.restart_at is not None and slot.restart_at <= now and not self._stopping:
                slot.restart_at = None
                try:
                    self._spawn(slot)
                except OSError as exc:  # fork() refused (EAGAIN, ENOMEM): try again later
                    slot.restart_at = now + self.backoff.maximum
                    retry = self.backoff.maximum
                    logger.error("cannot start worker %d: %s; retrying in %.1f s", slot.worker_id, exc, retry)

    def _spawn(self, slot: _Slot) -> None:
        # Anything buffered but unwritten would be written again by the child.
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        # Block the stop signals across fork: until the child has installed its own
        # handlers, a SIGTERM must stay pending rather than run the supervisor's handler
        # (which would write to the supervisor's wake pipe) inside the child.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {*_STOP_SIGNALS, signal.SIGCHLD})
        try:
            pid = os.fork()
            if pid == 0:
                self._run_child(slot.worker_id, {signal.Signals(s) for s in mask})  # never returns
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        slot.pid = pid
        slot.started = time.monotonic()
        slot.exit_code = None
        logger.info("worker %d started (pid %d)", slot.worker_id, pid)

    def _stop_workers(self) -> int:
        """SIGTERM every worker, wait ``grace + kill_margin``, SIGKILL what is left."""
        self._reap()
        for slot in self._slots:
            slot.restart_at = None
            if slot.pid is None:
                slot.exit_code = None  # died before the stop and was not replaced: not judged here
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(slot.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace + self.kill_margin
        while any(slot.pid is not None for slot in self._slots) and not self._force:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._sleep(min(remaining, 0.05))
            self._reap()
        clean = True
        for slot in self._slots:
            if slot.pid is None:
                continue
            logger.warning("worker %d (pid %d) did not stop in time: killing it", slot.worker_id, slot.pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(slot.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(slot.pid, 0)  # prompt after SIGKILL
            slot.pid = None
            clean = False
        clean = clean and all(slot.exit_code in (0, None) for slot in self._slots)
        return 0 if clean else 1

    # -- in the child ----------------------------------------------------------------------

    def _run_child(self, worker_id: int, parent_mask: set[signal.Signals]) -> None:
        """The body of one worker process; ends with ``os._exit``, never by returning.

        Returning or raising would run the supervisor's code -- its loop, its ``finally``
        blocks, atexit handlers, or a test runner's machinery -- a second time.
        """
        code = 1
        try:
            os.close(self._wake_r)
            os.close(self._wake_w)
            self._wake_r = self._wake_w = -1
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            server = self.server
            _forget_parent_loop(server)
            with contextlib.suppress(ValueError):
                signal.set_wakeup_fd(-1)  # a wakeup fd of the parent's, if it had one
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
            install_signal_handlers(server, force_on_repeat=False)
            signal.pthread_sigmask(signal.SIG_SETMASK, parent_mask)  # deliver pending signals now
            server.serve_forever(poll_interval=self.poll_interval)
            code = 0
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


def serve_workers(server: Any, workers: int, **options: Any) -> int:
    """Serve ``server`` from ``workers`` forked processes until SIGTERM/SIGINT; return an exit status.

    ``server`` is a constructed (bound and listening) ``aiohttpbase.HTTPServer`` or subclass
    that has not served in this process yet.  Each worker runs ``server.serve_forever()`` on a
    fresh event loop created after the fork, with ``server.worker_id`` set to its slot.

    The calling process supervises: a worker that dies is replaced after a back-off (see
    ``RestartBackoff``); on SIGTERM or SIGINT every worker gets SIGTERM and drains its
    connections for up to ``grace`` seconds (default ``server.config.timeout_graceful_shutdown``),
    and one still running ``kill_margin`` seconds after that is killed.  A second SIGINT kills
    them at once.  Then the listening socket is closed and the function returns 0 if every
    worker exited with status 0, else 1.

    ``options`` are ``WorkerSupervisor``'s keywords.  ``reuse_port``: each worker binds its
    own ``SO_REUSEPORT`` socket instead of sharing the
    inherited one (see the module docstring); the server's socket must have been bound with
    ``SO_REUSEPORT``.  ``handle_signals=False`` leaves the signal handlers alone (for callers
    that are not the main thread); stop through ``WorkerSupervisor.stop()`` then.

    Call from the main thread, outside any running event loop.
    """
    return WorkerSupervisor(server, workers, **options).run()


# -- helpers -------------------------------------------------------------------------------


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


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
