"""A gunicorn worker class that serves ``http.server`` handler classes on an aiohttpbase loop.

    gunicorn -k aiohttpbase.workers.GunicornWorker mypkg.web:Handler

gunicorn imports ``mypkg.web:Handler`` as it would a WSGI application (a class is callable,
so its loader accepts it) and hands it to each worker as ``self.wsgi``; the worker checks
that it is a ``BaseHTTPRequestHandler`` subclass and serves it with one aiohttpbase server
per gunicorn listening socket, all on one uvloop event loop.  gunicorn's settings become a
``ServerConfig`` (see ``GunicornWorker.server_config``); gunicorn keeps what it does for any
worker: forking, binding, reloads on SIGHUP, TTIN/TTOU, killing a worker that stops
reporting.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import logging
import os
import re
import signal
import sys
import traceback
from typing import Any

from gunicorn.errors import AppImportError  # type: ignore[import-untyped,import-not-found,unused-ignore]
from gunicorn.sock import ssl_context  # type: ignore[import-untyped,import-not-found,unused-ignore]
from gunicorn.workers.base import Worker  # type: ignore[import-untyped,import-not-found,unused-ignore]

from . import logs
from ._lifecycle import WORKER_SETTLE, after_requests, stop_accepting_then_shutdown
from .config import ServerConfig
from .server import HTTPServer, ThreadingHTTPServer, new_event_loop

__all__ = ["GunicornWorker", "gunicorn_access_format"]

#: All three drain: SIGTERM is gunicorn's graceful stop (and a reload's), SIGQUIT and
#: SIGINT its quick one; the arbiter kills what is left after --graceful-timeout.
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGQUIT, signal.SIGINT)

#: gunicorn's access-log atoms (``%(h)s``, ``%({user-agent}i)s``) as aiohttpbase's.  Atoms
#: with no counterpart become ``-``, which is what gunicorn writes for an atom it lacks.
_ATOMS = {
    "h": "%h",
    "l": "%l",
    "u": "%u",
    "t": "[%t]",  # gunicorn's atom carries its brackets
    "r": "%r",
    "m": "%m",
    "U": "%U",
    "q": "%q",
    "H": "%H",
    "s": "%s",
    "B": "%B",
    "b": "%b",
    "f": "%{Referer}i",
    "a": "%{User-Agent}i",
    "T": "%T",
    "L": "%T",
    "D": "%D",
    "M": "%M",
    "p": "<%p>",
}
_GUNICORN_ATOM = re.compile(r"%\(([^)]*)\)s")


def gunicorn_access_format(fmt: str) -> str:
    """gunicorn's ``access_log_format`` written in ``aiohttpbase.logs`` atoms.

    Request headers (``%({name}i)s``) carry over; response headers, environment variables
    and any other atom aiohttpbase does not record become ``-``.  Durations ``%(T)s`` and
    ``%(L)s`` are both seconds with six decimals.
    """

    def atom(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("{") and name.endswith("}i"):
            return "%" + name
        return _ATOMS.get(name, "-")

    # What is not an atom is literal text, where gunicorn's %-formatting already
    # requires %% for a percent sign: aiohttpbase reads %% the same way.
    return _GUNICORN_ATOM.sub(atom, fmt)


def _load_failed_handler(message: str) -> type[http.server.BaseHTTPRequestHandler]:
    """A handler that answers 500 with ``message``: served in place of an application
    that does not import while gunicorn's ``--reload`` waits for it to be fixed."""

    class LoadFailed(http.server.BaseHTTPRequestHandler):
        def fail(self) -> None:
            self.send_error(500, "The application failed to load", message)

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = fail

    return LoadFailed


class GunicornWorker(Worker):  # type: ignore[misc]
    """Serves the handler class gunicorn loaded on gunicorn's sockets, on one event loop.

    gunicorn's settings, as this worker applies them:

    * ``--timeout``: the loop tells the arbiter it is alive (``notify()``) several times a
      timeout; a handler that holds the loop longer (a blocking inline handler) gets the
      worker killed and replaced, as a stuck sync worker would be.
    * ``--graceful-timeout``: on SIGTERM, SIGQUIT or SIGINT the worker stops accepting,
      closes idle connections and gives in-flight requests this long to finish.
    * ``--keep-alive``: ``timeout_keep_alive``.
    * ``--max-requests`` (and ``--max-requests-jitter``): after that many requests the worker
      stops accepting, finishes what is in flight and exits; the arbiter starts a new one.
    * ``--threads N`` (N > 1): handlers run on a pool of N threads (``ThreadingHTTPServer``);
      with 1, the default, they run on the loop (``async def`` handlers as tasks).
    * ``--worker-connections``: ``limit_concurrency``.  ``--limit-request-line`` and
      ``--limit-request-fields``: ``max_request_line`` and ``max_header_fields``.
    * ``--backlog``, the TLS options (``--certfile``, ``--keyfile``, ``--ssl-context``…).
    * ``--access-logfile``, ``--access-logformat``: access lines go to gunicorn's access
      logger, in its format translated by ``gunicorn_access_format``; errors go to
      gunicorn's error logger at its ``--log-level``.  SIGUSR1 reopens gunicorn's log files.

    Other settings: subclass and override ``server_config``, then ``-k mypkg.MyWorker``.
    """

    #: The server class for each listening socket; ``ThreadingHTTPServer`` with ``--threads``.
    server_class: type[HTTPServer] = HTTPServer
    threading_server_class: type[HTTPServer] = ThreadingHTTPServer

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.servers: list[HTTPServer] = []
        self._stopping = False

    # -- gunicorn's hooks ------------------------------------------------------------------

    def init_process(self) -> None:
        # Until init_signals has installed this worker's handlers, the stop signals wait
        # (blocked) rather than reach the arbiter's handlers this process inherited, which
        # would drop them: a reload's SIGTERM can come this early.
        signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        # Before gunicorn's init_process: it installs signal handlers, which go on this loop.
        self.loop = new_event_loop()
        asyncio.set_event_loop(self.loop)
        self._use_gunicorn_logs()
        super().init_process()

    def init_signals(self) -> None:
        for sig in self.SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        loop = self.loop
        assert loop is not None

        # signal.signal, not loop.add_signal_handler: uvloop drops a signal that arrives
        # before its loop runs, and a reload's SIGTERM can reach a worker still importing
        # the application.  The callback waits on the loop, running or not yet.
        def on_signal(signum: int, frame: object) -> None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: the worker is exiting
                if signum == signal.SIGUSR1:
                    loop.call_soon_threadsafe(self._reopen_logs)
                else:
                    loop.call_soon_threadsafe(self._on_stop_signal, signal.Signals(signum))

        for sig in (*_STOP_SIGNALS, signal.SIGUSR1):
            signal.signal(sig, on_signal)
        signal.signal(signal.SIGWINCH, self.handle_winch)
        signal.signal(signal.SIGABRT, self.handle_abort)  # the arbiter's --timeout kill
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)  # one that came meanwhile: now

    def load_wsgi(self) -> None:
        try:
            handler = self.app.wsgi()
        except SyntaxError as exc:
            if not self.cfg.reload:
                raise
            # As gunicorn's own workers: keep running and answer 500 until the file is fixed.
            self.log.exception(exc)
            if self.reloader is not None and exc.filename is not None:
                self.reloader.add_extra_file(exc.filename)
            handler = _load_failed_handler("".join(traceback.format_exception(exc)))
        if not (isinstance(handler, type) and issubclass(handler, http.server.BaseHTTPRequestHandler)):
            raise AppImportError(
                f"{handler!r} is not a BaseHTTPRequestHandler subclass: "
                "aiohttpbase.workers.GunicornWorker serves http.server handler classes "
                "(gunicorn -k aiohttpbase.workers.GunicornWorker mypkg.web:Handler)"
            )
        self.wsgi = handler

    def run(self) -> None:
        assert self.loop is not None
        try:
            self.loop.run_until_complete(self._serve())
        finally:
            for server in self.servers:
                server.server_close()
            self.loop.close()

    # -- settings --------------------------------------------------------------------------

    def server_config(self) -> ServerConfig:
        """The ``ServerConfig`` built from gunicorn's settings; override to change others."""
        cfg = self.cfg
        changes: dict[str, Any] = {
            "timeout_keep_alive": float(cfg.keepalive),
            "timeout_graceful_shutdown": float(cfg.graceful_timeout),
            "access_log": "-" if self._access_log_enabled() else None,
            "access_log_format": gunicorn_access_format(cfg.access_log_format),
        }
        if cfg.threads > 1:
            changes["threads"] = cfg.threads
        if cfg.worker_connections > 0:
            changes["limit_concurrency"] = cfg.worker_connections
        if cfg.limit_request_line > 0:
            changes["max_request_line"] = cfg.limit_request_line
        if cfg.limit_request_fields > 0:
            changes["max_header_fields"] = cfg.limit_request_fields
        return ServerConfig(**changes)

    def _access_log_enabled(self) -> bool:
        enabled = getattr(self.log, "access_log_enabled", None)
        if enabled is not None:
            return bool(enabled)
        cfg = self.cfg  # gunicorn before 23 has no property for it
        return bool(cfg.accesslog or cfg.logconfig or cfg.logconfig_dict or cfg.syslog)

    def _use_gunicorn_logs(self) -> None:
        """Send aiohttpbase's access and error records to gunicorn's handlers (its files,
        syslog, logconfig), so gunicorn's settings and SIGUSR1 reopen apply to them."""
        for name, source in (("aiohttpbase.access", "access_log"), ("aiohttpbase.error", "error_log"),
                             ("aiohttpbase.workers", "error_log")):  # fmt: skip
            gunicorn_logger = getattr(self.log, source, None)
            if gunicorn_logger is None:  # a custom logger_class without the usual loggers
                continue
            logger = logging.getLogger(name)
            logger.handlers = list(gunicorn_logger.handlers)
            logger.setLevel(gunicorn_logger.level)
            logger.propagate = False

    def _make_server(self, listener: Any) -> HTTPServer:
        threaded = self.cfg.threads > 1
        base = self.threading_server_class if threaded else self.server_class
        attributes = {
            "request_queue_size": self.cfg.backlog,  # from_socket listens again with it
            "ssl_context": ssl_context(self.cfg) if self.cfg.is_ssl else None,
        }
        server_class: type[HTTPServer] = type(base.__name__, (base,), attributes)
        # A duplicate: the server closes its socket, gunicorn closes its own.
        sock = listener.sock if hasattr(listener, "sock") else listener
        return server_class.from_socket(sock.dup(), self.wsgi, config=self.server_config())

    # -- serving ---------------------------------------------------------------------------

    async def _serve(self) -> None:
        self.servers = [self._make_server(listener) for listener in self.sockets]
        if self._stopping:  # told to stop before there was a server to stop
            self._stop_servers()
        if self.max_requests < sys.maxsize:  # gunicorn's "no limit"
            reason = f"max requests ({self.max_requests}) reached: autorestarting"
            after_requests(self.servers, self.max_requests, lambda: self._stop(reason))
        tasks = [asyncio.ensure_future(server.serve()) for server in self.servers]
        interval = min(1.0, self.timeout / 2) if self.timeout else 1.0
        while True:
            self.notify()  # also while draining: the arbiter kills a silent worker
            if not self._stopping:
                if not self.alive:  # gunicorn's --reload turned it off from its thread
                    self._stop("the application changed")
                elif os.getppid() != self.ppid:
                    self._stop(f"parent changed (was pid {self.ppid})")
            done, _pending = await asyncio.wait(tasks, timeout=interval)
            if len(done) == len(tasks):
                break
            if done and not self._stopping:  # one server failed: the others stop too
                self._stop("a server stopped")
        for task in tasks:
            task.result()  # raise what a server raised

    def _on_stop_signal(self, sig: signal.Signals) -> None:
        if sig != signal.SIGTERM and not self._stopping:
            self.cfg.worker_int(self)  # gunicorn's hook for its quick stop (SIGINT, SIGQUIT)
        self._stop(f"{sig.name} received")

    def _stop(self, reason: str) -> None:
        """Stop accepting on every socket, then drain: see ``_lifecycle.stop_accepting_then_shutdown``."""
        if self._stopping:
            return
        self._stopping = True
        self.alive = False
        self.log.info("Worker %s stopping gracefully: %s", os.getpid(), reason)
        self._stop_servers()

    def _stop_servers(self) -> None:
        settle = min(WORKER_SETTLE, float(self.cfg.graceful_timeout))
        for server in self.servers:
            stop_accepting_then_shutdown(server, settle)

    def _reopen_logs(self) -> None:
        self.log.reopen_files()
        logs.reopen_log_files()
