"""A worker process's side of ``WorkerSupervisor``: from ``fork()`` to ``os._exit``.

``WorkerProcess`` is made in the supervisor, before any fork, with what every worker needs
and must not compute after ``fork()`` (the C library, loaded with ``dlopen``; the listening
socket's address, read while the supervisor still holds the socket).  ``run`` is the whole
life of one child: it makes sure it does not outlive the supervisor (``PR_SET_PDEATHSIG``
on Linux, and everywhere a pipe whose end of file means the supervisor died), drops the
loop, listener and threads the server made in the parent, binds its own socket with
``reuse_port``, installs the graceful stop of ``_lifecycle``, says it is ready, serves,
and exits with a status the supervisor understands (``EXIT_REQUEST_LIMIT``: replace me).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import socket
import ssl
import sys
import threading
import traceback
from typing import Any, NoReturn

from ._lifecycle import (
    PROCESS_STOP_SIGNALS,
    SIGUSR1,
    WORKER_SETTLE,
    after_requests,
    install_process_handlers,
    request_limit,
    stop_accepting_then_shutdown,
)
from ._pipes import SupervisorPipes

__all__ = ["EXIT_REQUEST_LIMIT", "WORKER_ID_ENV", "WorkerProcess", "has_reuse_port"]

logger = logging.getLogger("aiohttpbase.workers")

#: Environment variable carrying the worker's slot number in each worker process.
WORKER_ID_ENV = "AIOHTTPBASE_WORKER_ID"

#: How a worker that reached its request limit exits, so the supervisor replaces it at
#: once and without calling it a crash (EX_TEMPFAIL: "try again").
EXIT_REQUEST_LIMIT = 75


class WorkerProcess:
    """What each worker of one supervisor starts from, and (``run``) the body of each."""

    def __init__(self, server: Any) -> None:
        # Read now: with reuse_port the supervisor closes its socket after the first forks,
        # and workers started later still need to know what to bind.
        self.listen_spec = _ListenSpec.of(server)
        # Loaded here, never in a child: dlopen() after fork() is not safe.
        self.libc = _linux_libc()

    def run(
        self,
        supervisor: Any,
        pipes: SupervisorPipes,
        supervisor_pid: int,
        worker_id: int,
        parent_mask: set[signal.Signals],
        refresh: bool,
    ) -> NoReturn:
        """The body of one worker process; ends with ``os._exit``, never by returning.

        Returning or raising would run the supervisor's code -- its loop, its ``finally``
        blocks, atexit handlers, or a test runner's machinery -- a second time.
        ``supervisor`` is the ``WorkerSupervisor``: its settings are read here (``server``,
        ``grace``, ``on_reload``, ``reuse_port``, ``poll_interval``, ``limit_max_requests``
        and ``limit_max_requests_jitter``).
        """
        code = 1
        try:
            # First of all: the kernel's SIGTERM if the supervisor dies from now on (stays
            # pending until the handlers below are in place), then whether it already has.
            _set_parent_death_signal(self.libc, signal.SIGTERM)
            if os.getppid() != supervisor_pid:
                raise SystemExit(0)  # the supervisor died during the fork: serve nothing
            pipes.keep_worker_ends()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            server = supervisor.server
            _forget_parent_loop(server)
            with contextlib.suppress(ValueError):
                signal.set_wakeup_fd(-1)  # a wakeup fd of the parent's, if it had one
            if refresh and supervisor.on_reload is not None:
                supervisor.on_reload(server)  # e.g. import the handler afresh
            if supervisor.reuse_port and not (worker_id == 0 and server.socket.fileno() >= 0):
                # The supervisor's own socket goes to the first worker 0, so connections the
                # kernel queued on it before the fork are served rather than reset; every
                # other worker, and any replacement, binds a socket of its own.
                server.socket.close()
                server.socket = self.listen_spec.bind()
            server.worker_id = worker_id
            os.environ[WORKER_ID_ENV] = str(worker_id)
            # SIGINT too: Ctrl-C in a terminal signals the whole process group, and a
            # worker must then drain like on SIGTERM rather than die with KeyboardInterrupt.
            settle = min(WORKER_SETTLE, supervisor.grace)
            install_process_handlers(server, PROCESS_STOP_SIGNALS, False, SIGUSR1, settle=settle)
            limited = False
            limit = request_limit(supervisor.limit_max_requests, supervisor.limit_max_requests_jitter)
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
            _watch_supervisor(pipes.alive_r, supervisor_pid)
            pipes.announce_ready()
            signal.pthread_sigmask(signal.SIG_SETMASK, parent_mask)  # deliver pending signals now
            server.serve_forever(poll_interval=supervisor.poll_interval)
            code = EXIT_REQUEST_LIMIT if limited else 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            traceback.print_exc()
        finally:
            try:
                supervisor.server.server_close()
                logging.shutdown()
                for stream in (sys.stdout, sys.stderr):
                    stream.flush()
            finally:
                os._exit(code)


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


def has_reuse_port(sock: socket.socket) -> bool:
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
