"""How one serving process stops: gracefully, on a signal or after so many requests.

Shared by every kind of process that serves: a single process (``workers.install_signal_handlers``,
the command line), a worker forked by ``workers.serve_workers``, and gunicorn's worker
(``_gunicorn.GunicornWorker``).  It knows a server only by the few things it asks of one:
``request_shutdown()``, the loop it is serving on (``_serving_loop``), its listener
(``_listener``) and the ``request_done`` listeners of its state (``_ensure_state()``).

The one subtlety is a worker's stop: its listening socket is shared with other processes,
so it stops accepting first and closes idle connections a moment later
(``stop_accepting_then_shutdown``), rather than fail a request another process would have
answered.
"""

from __future__ import annotations

import contextlib
import logging
import random
import signal
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any

from . import logs

__all__ = [
    "PROCESS_STOP_SIGNALS",
    "SIGHUP",
    "SIGUSR1",
    "WORKER_SETTLE",
    "after_requests",
    "install_process_handlers",
    "request_limit",
    "request_shutdown",
    "stop_accepting_then_shutdown",
]

logger = logging.getLogger("aiohttpbase.workers")

# Absent on Windows, where there are no worker processes either.
SIGHUP: signal.Signals | None = getattr(signal, "SIGHUP", None)
SIGUSR1: signal.Signals | None = getattr(signal, "SIGUSR1", None)
#: What stops a single process (or one worker) gracefully: SIGHUP too, as a hangup.
PROCESS_STOP_SIGNALS = tuple(s for s in (signal.SIGTERM, signal.SIGINT, SIGHUP) if s is not None)

#: In a worker, how long the listener is closed before idle connections are: see
#: ``stop_accepting_then_shutdown``.
WORKER_SETTLE = 0.2


def request_shutdown(server: Any) -> None:
    """Ask ``server`` to shut down gracefully without waiting for it; safe in a signal handler."""
    server.request_shutdown()


def request_limit(limit: int | None, jitter: int = 0) -> int | None:
    """``limit`` plus a random 0..``jitter`` (``None``: no limit), so that processes
    started together do not all reach their limit, and restart, at the same moment."""
    if limit is None:
        return None
    return limit + random.randint(0, jitter)


def after_requests(servers: Iterable[Any], limit: int, action: Callable[[], None]) -> None:
    """Call ``action()`` once, on the event loop, when ``limit`` responses of ``servers``,
    counted together, have completed.

    For ``--limit-max-requests`` and gunicorn's ``--max-requests``: ``action`` stops the
    process gracefully, so the requests in flight at that moment still complete.  Call
    before the servers serve and after their handler class is final.
    """
    done = 0

    def count(*_details: Any) -> None:
        nonlocal done
        done += 1
        if done == limit:
            action()

    for server in servers:
        server._ensure_state().request_done.append(count)


def install_process_handlers(
    server: Any,
    signals: tuple[signal.Signals, ...],
    force_on_repeat: bool,
    reopen_signal: signal.Signals | None,
    settle: float,
) -> Callable[[], None]:
    """Make ``signals`` stop ``server`` gracefully and ``reopen_signal`` reopen the access
    log file; returns ``restore()``.  See ``workers.install_signal_handlers``; ``settle``
    > 0 (a worker) stops accepting first, see ``stop_accepting_then_shutdown``."""
    received: set[int] = set()

    def handle(signum: int, frame: FrameType | None) -> None:
        if force_on_repeat and signum == signal.SIGINT and signal.SIGINT in received:
            raise KeyboardInterrupt
        first = not received
        received.add(signum)
        if first:
            logger.info("%s received: shutting down gracefully", signal.Signals(signum).name)
        if settle > 0 and first:
            stop_accepting_then_shutdown(server, settle)
        else:
            request_shutdown(server)

    def reopen(signum: int, frame: FrameType | None) -> None:
        logs.request_reopen()  # the handler's next line goes to the new file at the latest
        loop = getattr(server, "_serving_loop", None)
        if loop is not None:  # and right away, from the loop (never inside a line's write)
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(logs.reopen_log_files)

    previous = {sig: signal.signal(sig, handle) for sig in signals}
    if reopen_signal is not None:
        previous[reopen_signal] = signal.signal(reopen_signal, reopen)

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


def stop_accepting_then_shutdown(server: Any, settle: float) -> None:
    """Close the listener now and shut down gracefully ``settle`` seconds later.

    For a worker, whose listening socket other processes share (the supervisor, the other
    workers, or a reload's new workers).  A shutdown closes idle connections at once, and a
    connection accepted a moment ago whose request has not been read yet is idle: closing
    it would fail a request that any other process would have answered.  So the worker
    first stops taking connections from the shared queue (those behind stay there for the
    others) and gives the ones it has just taken time to deliver their request, which then
    completes as any in-flight request does.  Safe in a signal handler.
    """
    loop = getattr(server, "_serving_loop", None)

    def stop_accepting() -> None:
        listener = getattr(server, "_listener", None)
        if listener is not None:
            listener.close()  # the loop's duplicate descriptor; the shared socket stays open
        assert loop is not None
        loop.call_later(settle, request_shutdown, server)

    if loop is None:  # not serving yet (or any more): nothing accepted to wait for
        request_shutdown(server)
        return
    try:
        loop.call_soon_threadsafe(stop_accepting)
    except RuntimeError:  # the loop closed meanwhile
        request_shutdown(server)
