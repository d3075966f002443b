"""Running ``BaseHTTPRequestHandler`` classes on requests parsed by the server.

Theory of operation: a stdlib handler's whole life happens inside its constructor --
``__init__`` calls ``setup``, then ``handle`` loops over ``handle_one_request``, which
reads the request line and headers from ``rfile`` (``parse_request``) and calls
``do_<COMMAND>``; ``finish`` closes the files.  The server has already parsed the request,
so there are two ways to run a handler class:

* **direct**, for every class that keeps the stdlib's ``__init__``, ``handle``,
  ``handle_one_request`` and ``parse_request`` (the great majority, and all of ours): the
  instance is made with ``__new__``, its own ``setup`` runs, the attributes
  ``parse_request`` would set are filled from the parsed request -- the same values by
  the same rules, without re-reading the head through the ``email`` parser -- and
  ``do_<COMMAND>`` is dispatched as ``handle_one_request`` does, then ``finish`` runs.
  ``handle_expect_100`` is called as soon as the head is in, before the body is awaited.
* **replay**, for everything else (classes that override those methods, factories such as
  ``functools.partial(SimpleHTTPRequestHandler, directory=...)``, servers that override
  ``finish_request``): ``server.finish_request`` is called as the stdlib would, on a
  connection whose ``rfile`` holds this one request, head re-serialised and body decoded,
  so the stdlib's own code parses it.  After that request ``rfile`` is at EOF, so the
  handler's ``handle`` loop ends on its own.

Either way what the handler writes goes to ``wfile`` and from there to the
``ResponseWriter`` that frames it.
"""

from __future__ import annotations

import email.message
import functools
import http.server
import inspect
import io
import logging
import socketserver
from http import HTTPStatus
from typing import Any, Final

from ._events import RequestHead
from ._streams import ConnectionProxy
from .handlers import BaseHTTPRequestHandler, serving_class

__all__ = ["ASYNC", "INLINE", "THREAD", "HandlerBridge", "replay_bytes"]

#: Where a request's handler code runs: on the loop after buffering the body, on a worker
#: thread while the body streams in, or as a coroutine on the loop (``async def do_X``).
INLINE: Final = 0
THREAD: Final = 1
ASYNC: Final = 2

logger = logging.getLogger("aiohttpbase.error")

_STDLIB_HANDLER = http.server.BaseHTTPRequestHandler
_MISSING: Final[Any] = object()
_PARSING_METHODS = ("__init__", "handle", "handle_one_request", "parse_request")


def _serves_directly(server: Any, factory: Any) -> bool:
    if not (isinstance(factory, type) and issubclass(factory, _STDLIB_HANDLER)):
        return False
    if any(getattr(factory, name) is not getattr(_STDLIB_HANDLER, name) for name in _PARSING_METHODS):
        return False
    if not issubclass(factory.MessageClass, email.message.Message):
        return False
    return type(server).finish_request is socketserver.BaseServer.finish_request


#: What ``_error_page_class`` gives: the class, and the arguments its constructor takes
#: before the stdlib's three (a ``functools.partial``'s).
ErrorPageMaker = tuple[type[http.server.BaseHTTPRequestHandler], tuple[Any, ...], dict[str, Any]]


def _error_page_class(factory: Any) -> ErrorPageMaker:
    """The handler class whose ``send_error`` answers requests that never reach it, and the
    leading arguments its constructor is called with; for a factory that is not a handler
    class, aiohttpbase's ``BaseHTTPRequestHandler`` (the stdlib's page)."""
    if isinstance(factory, functools.partial):  # functools.partial(Handler, directory=...)
        candidate, args, keywords = factory.func, factory.args, factory.keywords
    else:
        candidate, args, keywords = factory, (), {}
    if isinstance(candidate, type) and issubclass(candidate, _STDLIB_HANDLER):
        return candidate, args, keywords
    return BaseHTTPRequestHandler, (), {}


class _PageCapture(io.BufferedIOBase):
    """The ``wfile`` of a handler writing an error page: holds the page until the handler
    is done, so a handler failing half-way sends nothing of it.  Takes ``str`` (as UTF-8)
    as ``ResponseStream`` does."""

    def __init__(self) -> None:
        super().__init__()
        self.page = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self.closed:
            raise ValueError("write to closed file")
        data = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        self.page += data
        return len(data)


def _serving_factory(factory: Any) -> Any:
    """The handler factory with ``serving_class`` applied, partials included."""
    if isinstance(factory, type):
        return serving_class(factory)
    if isinstance(factory, functools.partial) and isinstance(factory.func, type):
        return functools.partial(serving_class(factory.func), *factory.args, **factory.keywords)
    return factory


def replay_bytes(head: RequestHead, drop_expect: bool, body_length: int | None = None) -> bytes:
    """The request head as a stdlib handler would read it from its socket; with
    ``body_length``, a chunked body already decoded is announced by Content-Length."""
    lines = [head.request_line]
    for name, value in head.headers:
        lowered = name.lower()
        if (drop_expect and lowered == "expect") or (
            body_length is not None and lowered == "transfer-encoding"
        ):
            continue
        lines.append(f"{name}: {value}".encode("latin-1"))
    if body_length is not None:
        lines.append(b"Content-Length: %d" % body_length)
    lines.append(b"\r\n")
    return b"\r\n".join(lines)


def _refuse_async_methods(factory: Any) -> None:
    """Replayed classes run the stdlib's own ``handle_one_request``, which would call an
    ``async def do_X`` and drop the coroutine unawaited: say so at once instead."""
    cls = getattr(factory, "func", factory)
    if not isinstance(cls, type):
        return
    for name in dir(cls):
        if name.startswith("do_") and inspect.iscoroutinefunction(getattr(cls, name)):
            raise TypeError(
                f"{cls.__qualname__}.{name} is 'async def', but {cls.__qualname__} (or its server) "
                "overrides how requests are read (__init__, handle, handle_one_request, "
                "parse_request or finish_request), so aiohttpbase runs it through the stdlib's "
                "own code, which cannot await it; keep those methods, or make the method plain def"
            )


class HandlerBridge:
    """Runs the server's ``RequestHandlerClass`` for requests of any connection."""

    __slots__ = ("server", "factory", "direct", "error_class", "threaded", "_modes")

    def __init__(self, server: Any, threaded: bool) -> None:
        self.server = server
        self.factory = _serving_factory(server.RequestHandlerClass)
        self.direct = _serves_directly(server, self.factory)
        if not self.direct:
            _refuse_async_methods(self.factory)
        self.error_class = _error_page_class(self.factory)
        self.threaded = threaded
        self._modes: dict[str, int] = {}

    def mode_for(self, method: str) -> int:
        """``INLINE``, ``THREAD`` or ``ASYNC`` for a request with this method."""
        mode = self._modes.get(method)
        if mode is None:
            func = getattr(self.factory, "do_" + method, None) if self.direct else None
            if func is not None and inspect.iscoroutinefunction(func):
                mode = ASYNC
            else:
                mode = THREAD if self.threaded else INLINE
            if func is not None:  # only real methods: a client must not grow this dict
                self._modes[method] = mode
        return mode

    def prepare(
        self, head: RequestHead, proxy: ConnectionProxy, client_address: Any
    ) -> tuple[http.server.BaseHTTPRequestHandler | None, bool]:
        """Make the handler for ``head`` (direct mode) and settle ``Expect: 100-continue``.

        Returns the handler (None in replay mode) and whether the request should be
        dispatched once its body is in: False when ``handle_expect_100`` refused it.
        """
        if not self.direct:
            if head.expect_continue:
                # The replayed head carries no Expect: the client is told to go on now,
                # because the body is collected before the handler runs.
                proxy.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            return None, True
        cls = self.factory
        handler = cls.__new__(cls)
        handler.request = proxy
        handler.client_address = client_address
        handler.server = self.server
        handler.setup()
        # What parse_request() would have set, by its rules (CPython 3.11 http/server.py).
        handler.close_connection = True
        handler.raw_requestline = head.request_line + b"\r\n"
        handler.requestline = head.request_line.decode("latin-1")
        handler.command = head.method
        handler.request_version = version = head.version
        path = head.target
        if path.startswith("//"):  # gh-87389: never let "//host/..." look like a URL
            path = "/" + path.lstrip("/")
        handler.path = path
        headers = handler.MessageClass()
        # email.message.Message keeps its fields in this list; filling it directly skips
        # the email parser, the most expensive part of the stdlib's parse_request.
        headers._headers = list(head.headers)  # a copy: parsed heads are shared (head cache)
        handler.headers = headers
        if version == "HTTP/0.9":
            # parse_request leaves a simple request's request_version at the class's
            # default_request_version: "HTTP/0.9" (the bare body), unless the class sets
            # another, and then the handler writes a status line and headers.
            handler.request_version = handler.default_request_version
            return handler, True
        http11_handler = handler.protocol_version >= "HTTP/1.1"
        if version >= "HTTP/1.1" and http11_handler:
            handler.close_connection = False
        if head.connection:  # (the first Connection value: what headers.get gives)
            conntype = head.connection.lower()
            if conntype == "close":
                handler.close_connection = True
            elif conntype == "keep-alive" and http11_handler:
                handler.close_connection = False
        if head.expect_continue and http11_handler and not handler.handle_expect_100():
            return handler, False
        return handler, True

    def dispatch(self, handler: http.server.BaseHTTPRequestHandler) -> Any:
        """Call ``do_<COMMAND>`` as ``handle_one_request`` does; returns what it returns
        (a coroutine for ``async def`` methods)."""
        method = getattr(handler, "do_" + handler.command, _MISSING)  # (hasattr's test, once)
        if method is _MISSING:
            handler.send_error(HTTPStatus.NOT_IMPLEMENTED, "Unsupported method (%r)" % handler.command)
            return None
        try:
            return method()
        except TimeoutError as exc:
            # As handle_one_request: a read or write timed out; log it, drop the connection.
            handler.log_error("Request timed out: %r", exc)
            handler.close_connection = True
            return None

    def replay(self, proxy: ConnectionProxy, client_address: Any) -> None:
        """Run the request through the stdlib's own parsing code (see module docstring);
        ``proxy.rfile`` holds ``replay_bytes(head)`` followed by the body."""
        self.server.finish_request(proxy, client_address)

    def send_error_page(
        self,
        proxy: ConnectionProxy,
        client_address: Any,
        status: int,
        message: str | None = None,
        explain: str | None = None,
        head: RequestHead | None = None,
        request_line: bytes | None = None,
    ) -> None:
        """Answer with the handler class's own ``send_error`` page and close.

        Used for requests that never reach a handler (bad syntax, limits) and for 500s.
        Unlike the stdlib, which answers a bad request version with a bare HTML body, the
        reply always has a status line.

        The handler is made as the stdlib makes one: the class's own constructor runs (so
        state a class sets in ``__init__`` before the stdlib's, such as a logger its
        ``log_message`` uses, is there), and its ``handle`` -- which the constructor
        calls -- answers the error instead of reading a request.  If any of that raises,
        the exception goes to ``server.handle_error`` and, unless the page was complete,
        the stdlib's own page is sent instead (``_plain_error_page``): whatever the
        handler class does, the client learns the status.
        """
        wfile = proxy.wfile
        capture = _PageCapture()
        proxy.wfile = capture  # what the handler's setup() takes as its wfile
        answered: list[bool] = []
        try:
            self._handler_error_page(
                proxy, client_address, status, message, explain, head, request_line, answered
            )
        except Exception:
            try:
                self.server.handle_error(proxy, client_address)
            except Exception:
                logger.exception("handle_error failed")
        finally:
            proxy.wfile = wfile
        if answered:
            wfile.write(bytes(capture.page))
        else:
            self._plain_error_page(proxy, client_address, status, message, explain, head, request_line)
        wfile.close()

    def _handler_error_page(
        self,
        proxy: ConnectionProxy,
        client_address: Any,
        status: int,
        message: str | None,
        explain: str | None,
        head: RequestHead | None,
        request_line: bytes | None,
        answered: list[bool],
    ) -> None:
        """The handler class's page (see ``send_error_page``); ``answered`` gets an item
        once its ``send_error`` has returned."""
        cls, args, keywords = self.error_class
        handler: Any = cls.__new__(cls)  # Any: typeshed does not declare raw_requestline

        def handle() -> None:
            _request_attributes(handler, head, request_line)
            # An HTTPStatus, as the stdlib passes: before 3.11 its error page shows str(code).
            handler.send_error(HTTPStatus(status), message, explain)
            answered.append(True)

        # Found before the class's own handle(): BaseRequestHandler.__init__ runs setup(),
        # handle() and finish() in turn, within whatever the class's __init__ does.
        handler.handle = handle
        init: Any = cls.__init__  # Any: a partial's arguments come first
        try:
            init(handler, *args, proxy, client_address, self.server, **keywords)
        finally:
            vars(handler).pop("handle", None)  # no reference cycle through the closure

    def _plain_error_page(
        self,
        proxy: ConnectionProxy,
        client_address: Any,
        status: int,
        message: str | None,
        explain: str | None,
        head: RequestHead | None,
        request_line: bytes | None = None,
    ) -> None:
        """The stdlib's page, from ``BaseHTTPRequestHandler.send_error`` itself, with the
        handler class's ``protocol_version``: the answer when the class could not give one."""
        page: Any = BaseHTTPRequestHandler.__new__(BaseHTTPRequestHandler)
        page.request = proxy
        page.client_address = client_address
        page.server = self.server
        page.rfile = proxy.rfile
        page.wfile = proxy.wfile
        version = getattr(self.error_class[0], "protocol_version", None)
        if isinstance(version, str) and version in ("HTTP/1.0", "HTTP/1.1"):
            page.protocol_version = version
        _request_attributes(page, head, request_line)
        try:
            page.send_error(HTTPStatus(status), message, explain)
        except Exception:
            logger.exception("error page failed")


def _request_attributes(handler: Any, head: RequestHead | None, request_line: bytes | None = None) -> None:
    """What ``parse_request`` has set when it calls ``send_error``; a simple (HTTP/0.9)
    request counts as HTTP/1.0, so the page has a status line.  Without a head, the
    request line of a refused request (``request_line``, if a whole one came) is still
    ``requestline``, which the stdlib's ``log_request`` logs."""
    handler.close_connection = True
    handler.command = head.method if head is not None else ""
    handler.request_version = "HTTP/1.0" if head is None or head.version == "HTTP/0.9" else head.version
    if head is not None:
        request_line = head.request_line
    handler.requestline = request_line.decode("latin-1") if request_line is not None else ""
    handler.raw_requestline = request_line + b"\r\n" if request_line is not None else b""
