"""What all connections of one server share: settings, handler bridge, runners, logs.

Also the bookkeeping the server's entry points need: the set of open connections (for
graceful shutdown and the timeout sweep) and the request budget with which
``handle_request()`` lets exactly one request start.  This module sits below the
protocol: it knows connections only by the ``Connection`` interface, and whatever wants to
hear of finished requests (the access log; a metric) subscribes to ``request_done``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from ._bridge import ASYNC
from ._events import RequestHead
from ._parsers import parser_class
from ._pool import HandlerThreadPool
from ._proxy import ProxyTrust
from ._runners import AsyncRunner, Runner, make_runners
from .logs import AccessLog, RequestFacts, facts_of_refusal

if TYPE_CHECKING:
    from ._bridge import HandlerBridge
    from ._exchange import Exchange
    from .config import ServerConfig

__all__ = ["Connection", "RequestDoneListener", "ServerState"]

#: Told of every complete response: the exchange, its status, its body bytes, and whether
#: the handler logged it (``log_request``), which is when the access log writes a line.
RequestDoneListener = Callable[["Exchange", int, int, bool], None]


class Connection(Protocol):
    """What the server's bookkeeping needs of a connection (``HTTPConnection``)."""

    @property
    def idle(self) -> bool: ...

    @property
    def closing(self) -> bool: ...

    def resume(self) -> None: ...

    def check_timeouts(self, now: float) -> None: ...

    def close_when_idle(self) -> None: ...

    def abort(self) -> None: ...


logger = logging.getLogger("aiohttpbase.error")


class ServerState:
    """What all connections of one server share: settings, the bridge, and bookkeeping."""

    def __init__(
        self, server: Any, config: ServerConfig, bridge: HandlerBridge, pool: HandlerThreadPool
    ) -> None:
        self.server = server
        self.handler_factory = server.RequestHandlerClass
        self.pool = pool
        self.runners: dict[int, Runner] = make_runners(server, bridge, pool, self.warn_slow_handler)
        self.async_runner: AsyncRunner = self.runners[ASYNC]  # type: ignore[assignment]
        self.request_done: list[RequestDoneListener] = []
        self.access_log = AccessLog(config.access_log_format) if config.access_log is not None else None
        if self.access_log is not None:
            self.request_done.append(self._log_access)
        self.proxy_trust = ProxyTrust(config.forwarded_allow_ips) if config.proxy_headers else None
        self.config = config
        self.bridge = bridge
        self.parser_class = parser_class(config.parser)
        #: Parsed heads shared by the connections (see ``_head``); None when turned off.
        self.head_cache: dict[bytes, RequestHead] | None = {} if config.head_cache > 0 else None
        self.connections: set[Connection] = set()
        #: Requests still allowed to start; None means no limit (``serve_forever``).
        self.budget: int | None = None
        self.parked: list[Connection] = []
        self.shutting_down = False
        self.requests_started = 0
        self.requests_finished = 0
        self.progress: asyncio.Event | None = None
        self.loop_thread = threading.get_ident()
        self._slow_warned: dict[str, float] = {}

    def _log_access(self, exchange: Exchange, status: int, body_bytes: int, logged: bool) -> None:
        if not logged:
            return
        head = exchange.head
        self.access_log.emit(  # type: ignore[union-attr]
            RequestFacts(
                exchange.client_address[0],
                head.request_line.decode("latin-1"),
                head.method,
                head.target,
                head.version,
                head.headers,
                status,
                body_bytes,
                asyncio.get_running_loop().time() - exchange.started_at,
            )
        )

    def log_refusal(
        self, client_address: Any, request_line: bytes | None, status: int, body_bytes: int, duration: float
    ) -> None:
        """The access line of a request the server refused before any handler ran (400,
        414, 431, ...), once its error page is sent; the caller checks that the handler
        class logged it (``log_request``, as ``send_error`` does), as for any response.

        ``request_line`` is the line as received, ``None`` if no whole line came: the
        stdlib logs ``"GARBAGE" 400 -`` and ``"GET / HTTP/1.1" 431 -``, but ``"" 414 -``.
        Not a finished request for ``request_done``'s listeners (``--limit-max-requests``
        counts served requests only).
        """
        if self.access_log is None:
            return
        client = client_address[0] if isinstance(client_address, tuple) else str(client_address)
        self.access_log.emit(facts_of_refusal(client, request_line, status, body_bytes, duration))

    def may_dispatch(self, connection: Connection) -> bool:
        """Whether ``connection`` may run its complete request now; parks it if not."""
        if self.budget is None:
            self.requests_started += 1
            return True
        if self.budget > 0:
            self.budget -= 1
            self.requests_started += 1
            self._notify()
            return True
        self.parked.append(connection)
        return False

    def request_finished(self) -> None:
        self.requests_finished += 1
        if self.progress is not None:
            self._notify()

    def grant(self, requests: int | None) -> None:
        """Allow ``requests`` more requests to start (None: any number) and wake parked ones."""
        self.budget = requests
        parked, self.parked = self.parked, []
        for connection in parked:
            connection.resume()

    def warn_slow_handler(self, handler: Any, method: str, seconds: float) -> None:
        """The inline watchdog: name a handler that held the loop too long (once a minute)."""
        name = f"{type(handler).__qualname__}.do_{method}" if handler is not None else f"do_{method}"
        now = time.monotonic()
        if now - self._slow_warned.get(name, -120.0) < 60.0:
            return
        if len(self._slow_warned) > 1000:
            self._slow_warned.clear()
        self._slow_warned[name] = now
        logger.warning(
            "%s held the event loop for %.0f ms, stalling every other connection; "
            "serve blocking handlers with aiohttpbase.ThreadingHTTPServer or make them async",
            name,
            seconds * 1000,
        )

    def sweep(self) -> None:
        """Apply every connection's timeouts (see ``HTTPConnection.check_timeouts``)."""
        now = asyncio.get_running_loop().time()
        for connection in list(self.connections):
            connection.check_timeouts(now)

    def _notify(self) -> None:
        if self.progress is not None:
            self.progress.set()
