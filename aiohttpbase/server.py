"""Server classes with the stdlib's calling convention, running an event loop inside.

``HTTPServer`` is a subclass of ``http.server.HTTPServer``: construction binds and listens
exactly as the stdlib does (so ``server_address``, ``server_port``, ``server_name``,
``socket`` and ``fileno()`` are right for port 0), and the override points
``server_bind``, ``server_activate``, ``verify_request``, ``finish_request``,
``handle_error``, ``handle_timeout`` and ``service_actions`` keep their meaning.  What
changes is the loop: ``serve_forever`` and ``handle_request`` run an asyncio event loop
(uvloop when importable) that accepts and serves every connection concurrently.
``get_request``, ``process_request``, ``shutdown_request`` and ``close_request`` are not
called: the loop accepts, and each connection closes itself.

The classes keep the stdlib's surface and the server's lifetime (construction, the loop
it runs on, shutdown requests, ``ForkingMixIn`` workers); what runs on the loop -- listen,
sweep timeouts, serve until shutdown or one request, close gracefully -- is ``_serving``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import http.server
import os
import socket
import socketserver
import ssl
import stat
import threading
from typing import Any, TypeVar

from . import logs
from ._bridge import HandlerBridge
from ._parsers import parser_class
from ._pool import HandlerThreadPool
from ._serving import close_everything, serve_one_request, serve_until_shutdown
from ._state import ServerState
from ._supervisor import WorkerSupervisor
from .config import ServerConfig

__all__ = [
    "HTTPSServer",
    "HTTPServer",
    "ThreadingHTTPSServer",
    "ThreadingHTTPServer",
    "inherited_socket",
    "new_event_loop",
    "systemd_socket",
    "unix_socket",
]

_ServerT = TypeVar("_ServerT", bound="HTTPServer")

#: sd_listen_fds(3): the first descriptor systemd passes to an activated service.
SD_LISTEN_FDS_START = 3


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A uvloop event loop when uvloop is installed, else the default asyncio loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency where it builds
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class HTTPServer(http.server.HTTPServer):
    """``http.server.HTTPServer`` on an event loop; handlers run on the loop (inline).

    ``config`` (keyword only) sets limits and timeouts; see ``ServerConfig``.
    """

    #: The stdlib's 5 drops connections under load; the peers use 1024-2048.
    request_queue_size = 1024
    #: Set to serve HTTPS (``HTTPSServer`` does); the stdlib idiom of wrapping
    #: ``server.socket`` with ``SSLContext.wrap_socket`` works too.
    ssl_context: ssl.SSLContext | None = None
    #: In a worker process of ``workers.serve_workers``, the worker's slot (0..N-1).
    worker_id: int | None = None

    def __init__(
        self,
        server_address: Any,
        RequestHandlerClass: Any,
        bind_and_activate: bool = True,
        *,
        config: ServerConfig | None = None,
    ) -> None:
        self.config = config if config is not None else ServerConfig()
        parser_class(self.config.parser)  # an unknown or missing parser fails here, clearly
        if self.config.access_log == "-":
            logs.use_default_access_handler()
        elif self.config.access_log is not None:
            logs.log_to_file(self.config.access_log)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._serving_loop: asyncio.AbstractEventLoop | None = None
        self._listener: asyncio.AbstractServer | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._supervisor: Any = None
        self._state: ServerState | None = None
        self._wakeup: asyncio.Event | None = None
        self._shutdown_request = False
        self._is_shut_down = threading.Event()
        super().__init__(server_address, RequestHandlerClass, bind_and_activate)

    @classmethod
    def from_socket(
        cls: type[_ServerT], sock: socket.socket, RequestHandlerClass: Any, **kwargs: Any
    ) -> _ServerT:
        """A server for ``sock``, a stream socket bound elsewhere: a UNIX socket
        (``unix_socket``), a descriptor inherited from a parent process
        (``inherited_socket``) or passed by systemd (``systemd_socket``).

        ``kwargs`` are the constructor's keywords (``config``; ``certfile`` and the rest for
        ``HTTPSServer``).  ``server_bind`` is not called; ``server_activate`` is, so a socket
        that is bound but not yet listening starts listening (``listen`` on a listening
        socket only sets its backlog).  The server owns ``sock`` from here on:
        ``server_close()`` closes it.

        ``server_address`` is ``sock.getsockname()``.  For a TCP socket ``server_name`` and
        ``server_port`` are what ``server_bind`` would set; a UNIX socket has no host name
        or port, so they are ``"localhost"`` and 80 (443 with TLS), what a client connecting
        through it is told to assume.
        """
        if sock.type != socket.SOCK_STREAM:
            raise ValueError(f"an HTTP server needs a stream socket, not {sock.type!r}")
        server = cls(sock.getsockname(), RequestHandlerClass, False, **kwargs)
        server.socket.close()  # the unbound one the constructor made
        server.socket = sock
        server.address_family = sock.family
        server._name_from_socket()
        server.server_activate()
        return server

    def _name_from_socket(self) -> None:
        sock = self.socket
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host, port = sock.getsockname()[:2]
            self.server_name = socket.getfqdn(host)
            self.server_port = port
        else:
            tls = self.ssl_context is not None or isinstance(sock, ssl.SSLSocket)
            self.server_name = "localhost"
            self.server_port = 443 if tls else 80

    # -- the stdlib's entry points ---------------------------------------------------

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Serve until ``shutdown()``; calls ``service_actions()`` every ``poll_interval``.

        A ``socketserver.ForkingMixIn`` server pre-forks worker processes instead (one per
        CPU; see ``workers.serve_workers``) and supervises them until ``shutdown()``.
        """
        if isinstance(self, socketserver.ForkingMixIn) and self.worker_id is None:
            self._serve_forked(poll_interval)
            return
        self._is_shut_down.clear()
        try:
            self._run(serve_until_shutdown(self, poll_interval))
        finally:
            self._shutdown_request = False
            self._is_shut_down.set()

    def shutdown(self) -> None:
        """Stop ``serve_forever`` (or ``serve``) and wait until it has returned.

        In-flight requests get ``config.timeout_graceful_shutdown`` seconds to finish;
        idle keep-alive connections are closed at once.
        """
        supervisor = self._supervisor
        if supervisor is not None:  # a ForkingMixIn server supervising its workers
            supervisor.stop()
            self._is_shut_down.wait()
            return
        loop = self._serving_loop
        self.request_shutdown()
        if loop is not None and _running_loop() is loop:
            return  # called from the loop itself: waiting would deadlock it
        # As the stdlib: wait until serve_forever has returned -- also one still starting
        # in its thread, which sees the request and returns at once.
        self._is_shut_down.wait()

    def request_shutdown(self) -> None:
        """Ask ``serve_forever``/``serve`` to stop gracefully; never waits (safe in a
        signal handler, or on the loop itself)."""
        self._shutdown_request = True
        loop = self._serving_loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._wake)

    def handle_request(self) -> None:
        """Serve exactly one request, waiting at most ``timeout`` for it to arrive."""
        timeout = self.socket.gettimeout()
        if timeout is None:
            timeout = self.timeout
        elif self.timeout is not None:
            timeout = min(timeout, self.timeout)
        if not self._run(serve_one_request(self, timeout)):
            self.handle_timeout()

    def server_close(self) -> None:
        """Close the listening socket and every connection; release the loop."""
        loop = self._loop
        if loop is not None and not loop.is_closed() and not loop.is_running():
            loop.run_until_complete(close_everything(self, grace=0.0))
            loop.close()
        elif self._listener is not None:
            self._listener.close()
            self._listener = None
        if self._state is not None:
            self._state.pool.shutdown()
        super().server_close()

    async def serve(self) -> None:
        """Serve on the running event loop until ``shutdown()`` or cancellation.

        For code that already runs a loop::

            server = HTTPServer(("127.0.0.1", 8000), Handler)
            task = asyncio.create_task(server.serve())
            ...
            task.cancel()  # or server.shutdown() from another thread
        """
        self._is_shut_down.clear()
        try:
            await serve_until_shutdown(self, 0.5)
        finally:
            self._shutdown_request = False
            self._is_shut_down.set()

    # -- internals -------------------------------------------------------------------

    def _serve_forked(self, poll_interval: float) -> None:
        supervisor = WorkerSupervisor(
            self,
            os.cpu_count() or 1,
            poll_interval=poll_interval,
            handle_signals=threading.current_thread() is threading.main_thread(),
        )
        self._supervisor = supervisor
        self._is_shut_down.clear()
        try:
            supervisor.run()
        finally:
            self._supervisor = None
            self._shutdown_request = False
            self._is_shut_down.set()

    def _after_fork(self) -> None:
        """In a new worker process: forget the parent's loop, listener and threads.

        They belong to the parent (an epoll instance is shared across fork, the pool's
        threads do not exist here); dropping the references -- never closing them, which
        would act on shared kernel objects -- makes serving build fresh ones.
        """
        self._loop = self._serving_loop = None
        self._listener = None
        self._sweeper = None
        self._state = None
        self._wakeup = None
        self._supervisor = None
        self._shutdown_request = False
        self._is_shut_down = threading.Event()

    def _run(self, coro: Any) -> Any:
        """Run ``coro`` on this server's own loop; on Ctrl-C, wind it down first."""
        if self._loop is None or self._loop.is_closed():
            self._loop = new_event_loop()
        loop = self._loop
        task = loop.create_task(coro)
        try:
            return loop.run_until_complete(task)
        except BaseException:
            task.cancel()
            with contextlib.suppress(BaseException):
                loop.run_until_complete(task)
            raise

    def _wake(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()

    def _ensure_state(self) -> ServerState:
        if self._state is None or self._state.handler_factory is not self.RequestHandlerClass:
            threaded = isinstance(self, socketserver.ThreadingMixIn)
            # Threads start on demand: on HTTPServer only requests that may take over
            # their connection (CONNECT, Upgrade) use them.
            daemon = bool(getattr(self, "daemon_threads", True))
            pool = HandlerThreadPool(self.config.threads, daemon=daemon)
            self._state = ServerState(self, self.config, HandlerBridge(self, threaded), pool)
        return self._state


class HTTPSServer(HTTPServer):
    """HTTPS with the signature of Python 3.14's ``http.server.HTTPSServer``.

    As there, ``certfile``, ``keyfile``, ``password`` and ``alpn_protocols`` are kept as
    attributes and ``_create_context()`` makes the context from them (a subclass may
    override it).  Unlike there, the context is made in the constructor, and the listening
    socket is never wrapped: the event loop does TLS on each accepted connection with
    ``ssl_context``.
    """

    def __init__(
        self,
        server_address: Any,
        RequestHandlerClass: Any,
        bind_and_activate: bool = True,
        *,
        certfile: str,
        keyfile: str | None = None,
        password: Any = None,
        alpn_protocols: list[str] | None = None,
        config: ServerConfig | None = None,
    ) -> None:
        self.ssl = ssl
        self.certfile = certfile
        self.keyfile = keyfile
        self.password = password
        self.alpn_protocols = ["http/1.1"] if alpn_protocols is None else alpn_protocols
        self.ssl_context = self._create_context()
        super().__init__(server_address, RequestHandlerClass, bind_and_activate, config=config)

    def _create_context(self) -> ssl.SSLContext:
        """The server's TLS context, as Python 3.14's ``HTTPSServer._create_context``."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.certfile, self.keyfile, self.password)
        context.set_alpn_protocols(self.alpn_protocols)
        return context


class ThreadingHTTPSServer(socketserver.ThreadingMixIn, HTTPSServer):
    """``HTTPSServer`` with blocking handlers on worker threads (see ``ThreadingHTTPServer``)."""

    daemon_threads = True


def unix_socket(path: str | os.PathLike[str], mode: int | None = None) -> socket.socket:
    """A stream socket bound to the UNIX domain socket file ``path``; serve it with
    ``HTTPServer.from_socket``.

    A socket file left by a server that is gone (nothing accepts on it) is replaced; one a
    server still listens on, or a file that is not a socket, is an ``OSError``.  ``mode``
    (e.g. ``0o660``) sets the file's permissions, which decide who may connect; without it
    the umask does.  A name starting with NUL is in Linux's abstract namespace (no file).
    The file is not removed when the socket closes: remove it once the server has stopped
    (several processes may serve one socket, and only the last one knows it is the last).
    """
    name = os.fspath(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        if not name.startswith("\0"):
            _remove_stale_socket_file(name)
        sock.bind(name)
        if mode is not None and not name.startswith("\0"):
            os.chmod(name, mode)
    except BaseException:
        sock.close()
        raise
    return sock


def _remove_stale_socket_file(path: str) -> None:
    try:
        status = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(status.st_mode):
        raise FileExistsError(errno.EEXIST, "exists and is not a socket", path)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.setblocking(False)
        try:
            probe.connect(path)
        except ConnectionRefusedError:  # nobody accepts on it: a leftover
            os.unlink(path)
            return
        except BlockingIOError:  # a full accept queue: a live server
            pass
    raise OSError(errno.EADDRINUSE, "a server is listening on it already", path)


def inherited_socket(fd: int) -> socket.socket:
    """The bound stream socket at descriptor ``fd``, inherited from the parent process
    (``subprocess.Popen(..., pass_fds=[fd])``, a supervisor, systemd); serve it with
    ``HTTPServer.from_socket``.

    Its family (TCP over IPv4 or IPv6, or UNIX) is the socket's own.  The descriptor is
    made non-inheritable, as Python's own sockets are, so processes the handlers start do
    not hold the listening socket open.
    """
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise OSError(exc.errno, f"descriptor {fd} is not an open socket ({exc.strerror})") from None
    try:
        if sock.type != socket.SOCK_STREAM:
            raise OSError(errno.ENOTSUP, f"descriptor {fd} is not a stream socket")
        name = sock.getsockname()
        if not name or (isinstance(name, tuple) and name[1] == 0):
            raise OSError(errno.EINVAL, f"the socket at descriptor {fd} is not bound")
    except BaseException:
        sock.detach()  # the descriptor stays the parent's to close
        raise
    os.set_inheritable(fd, False)
    return sock


def systemd_socket(unset_environment: bool = True) -> socket.socket | None:
    """The socket systemd passed to this process (socket activation), or ``None``.

    As ``sd_listen_fds(3)``: passed sockets are announced by ``LISTEN_PID`` (this process's
    id, else they are not for us) and ``LISTEN_FDS`` (how many, from descriptor 3 on).
    One socket is served; more than one is a ``ValueError`` (give the ``.socket`` unit one
    ``ListenStream=``).  With ``unset_environment`` the three ``LISTEN_*`` variables are
    removed, so processes the server starts do not take them for theirs.
    """
    pid, count = os.environ.get("LISTEN_PID"), os.environ.get("LISTEN_FDS")
    if unset_environment:
        for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
            os.environ.pop(name, None)
    if not pid or not count:
        return None
    try:
        if int(pid) != os.getpid():
            return None
        passed = int(count)
    except ValueError:
        raise ValueError(f"LISTEN_PID={pid!r} and LISTEN_FDS={count!r} must be numbers") from None
    if passed <= 0:
        return None
    if passed > 1:
        raise ValueError(
            f"systemd passed {passed} sockets (LISTEN_FDS); one is served: "
            "give the socket unit a single ListenStream="
        )
    return inherited_socket(SD_LISTEN_FDS_START)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class ThreadingHTTPServer(socketserver.ThreadingMixIn, HTTPServer):
    """``http.server.ThreadingHTTPServer`` on an event loop: blocking handlers run on a
    bounded pool of ``config.threads`` worker threads while the loop keeps accepting and
    parsing; ``rfile`` streams the body and ``wfile`` applies backpressure.

    Any ``socketserver.ThreadingMixIn`` + ``aiohttpbase.HTTPServer`` class behaves the same.
    """

    daemon_threads = True
