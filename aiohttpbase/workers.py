"""Pre-forked worker processes and graceful signal handling.

Two entry points:

``serve_workers(server, workers)``
    The ``ForkingMixIn`` answer.  The calling process becomes a *supervisor*: it forks
    ``workers`` children that all serve ``server``'s already-listening socket, restarts a
    child that dies (with a growing back-off, so a worker that crashes at start does not
    spin), on SIGHUP replaces them all with new ones without refusing a connection, on
    SIGUSR1 has every process reopen its access log file, and on SIGTERM/SIGINT stops them
    all gracefully and returns an exit status::

        server = aiohttpbase.HTTPServer(("", 8000), Handler)
        sys.exit(aiohttpbase.workers.serve_workers(server, 4))

    In each child ``server.worker_id`` is the worker's slot, ``0 .. workers-1`` (a
    replacement keeps the slot of the worker it replaces), and the environment variable
    ``AIOHTTPBASE_WORKER_ID`` holds the same number, so a handler can show which worker
    answered (``self.server.worker_id``) and a log can name it.  In a process that is not a
    worker, ``getattr(server, "worker_id", None)`` is ``None``.

``install_signal_handlers(server)``
    For one process running ``server.serve_forever()`` in its main thread: SIGTERM, SIGINT
    and SIGHUP start a graceful shutdown (stop accepting, close idle connections, let
    in-flight requests finish within ``config.timeout_graceful_shutdown``), after which
    ``serve_forever`` returns normally and the program can exit 0.  A second SIGINT (Ctrl-C
    twice) raises ``KeyboardInterrupt`` as usual, to cut a shutdown that takes too long.
    SIGUSR1 reopens the access log file (``logs.log_to_file``) for log rotation.

A worker never outlives its supervisor: on Linux the kernel sends it SIGTERM when the
supervisor dies (``PR_SET_PDEATHSIG``), and everywhere it watches a pipe only the supervisor
holds open, so a supervisor killed with SIGKILL leaves no worker serving behind it.  Either
way the worker drains as on SIGTERM and exits.

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

``GunicornWorker`` (``gunicorn -k aiohttpbase.workers.GunicornWorker mypkg.web:Handler``)
lets gunicorn's arbiter do the supervising instead; it lives in ``aiohttpbase._gunicorn``
and is imported on first use, so this module does not need gunicorn installed.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._lifecycle import (
    PROCESS_STOP_SIGNALS,
    SIGUSR1,
    after_requests,
    install_process_handlers,
    request_limit,
    request_shutdown,
)
from ._supervisor import WORKER_ID_ENV, RestartBackoff, WorkerSupervisor
from ._worker_process import _linux_libc as _linux_libc  # for _reload
from ._worker_process import _set_parent_death_signal as _set_parent_death_signal  # for _reload

if TYPE_CHECKING:
    from ._gunicorn import GunicornWorker

__all__ = [
    "WORKER_ID_ENV",
    "GunicornWorker",
    "RestartBackoff",
    "WorkerSupervisor",
    "after_requests",
    "install_signal_handlers",
    "request_limit",
    "request_shutdown",
    "serve_workers",
]


def __getattr__(name: str) -> Any:
    """``GunicornWorker`` is imported on first use, so this module does not need gunicorn."""
    if name == "GunicornWorker":
        from ._gunicorn import GunicornWorker

        return GunicornWorker
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- single process ------------------------------------------------------------------------


def install_signal_handlers(
    server: Any,
    *,
    signals: tuple[signal.Signals, ...] = PROCESS_STOP_SIGNALS,
    force_on_repeat: bool = True,
    reopen_signal: signal.Signals | None = SIGUSR1,
) -> Callable[[], None]:
    """Make ``signals`` (SIGTERM, SIGINT, SIGHUP) shut ``server`` down gracefully, and
    ``reopen_signal`` (SIGUSR1) reopen the access log file; returns ``restore()``.

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

    SIGHUP stops too: one process cannot replace itself, and a hangup means "go away" --
    gracefully rather than by the default action, which kills at once.  For a reload on
    SIGHUP, run worker processes (``serve_workers``).  ``reopen_signal`` reopens the file
    of ``logs.log_to_file`` (``--access-log FILE``) after it was renamed; ``None`` leaves
    that signal alone.
    """
    return install_process_handlers(server, signals, force_on_repeat, reopen_signal, settle=0.0)


#: How a worker that reached its request limit exits, so the supervisor replaces it at


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

    SIGHUP reloads: new workers are forked first, and once they are all ready the old ones
    get SIGTERM and drain (see ``WorkerSupervisor.reload``); the listening socket stays open
    throughout, so no connection is refused.  ``on_reload(server)``, if given, runs in every
    worker started by or after a reload, before it serves -- the command line's imports the
    ``--handler`` module afresh there.  SIGUSR1 reopens the access log file of
    ``logs.log_to_file`` in the supervisor and in every worker (log rotation).  Workers exit
    by themselves, gracefully, when the supervisor dies, even by SIGKILL.

    ``limit_max_requests``: each worker stops gracefully after that many requests (plus a
    random 0..``limit_max_requests_jitter``, drawn per worker) and is replaced at once.

    ``options`` are ``WorkerSupervisor``'s keywords.  ``reuse_port``: each worker binds its
    own ``SO_REUSEPORT`` socket instead of sharing the
    inherited one (see the module docstring); the server's socket must have been bound with
    ``SO_REUSEPORT``.  ``handle_signals=False`` leaves the signal handlers alone (for callers
    that are not the main thread); stop through ``WorkerSupervisor.stop()`` then (and
    reload through ``reload()``, reopen logs through ``reopen_logs()``).

    Call from the main thread, outside any running event loop.
    """
    return WorkerSupervisor(server, workers, **options).run()
