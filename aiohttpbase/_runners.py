"""Where handler code runs: inline on the loop, on a worker thread, or as a task.

Theory of operation: a runner is given a request (an ``Exchange``, its head parsed and its
streams set on the ``ConnectionProxy``) and runs all of its handler code -- making the
handler, ``do_<COMMAND>``, ``finish`` -- then calls ``done`` exactly once, on the loop,
with the exception that escaped the handler (None if it returned).  What the response
and the connection do next is the connection's business, not the runner's.

* ``InlineRunner`` (``HTTPServer``): the body is already buffered; the handler runs on the
  loop, watched for how long it holds it.
* ``ThreadRunner`` (``ThreadingHTTPServer``, and requests that may take their connection
  over): on the server's thread pool while the body streams in.
* ``AsyncRunner`` (``async def do_<COMMAND>``): a task on the loop.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from ._bridge import ASYNC, INLINE, THREAD, HandlerBridge, replay_bytes
from ._exchange import Exchange
from ._streams import ConnectionProxy

if TYPE_CHECKING:
    from ._pool import HandlerThreadPool

__all__ = ["AsyncRunner", "InlineRunner", "Runner", "ThreadRunner", "make_runners"]

logger = logging.getLogger("aiohttpbase.error")

Done = Callable[[BaseException | None], None]


class Runner(Protocol):
    def start(self, exchange: Exchange, proxy: ConnectionProxy, done: Done) -> None:
        """Run ``exchange``'s handler code; call ``done`` on the loop when it has returned."""


class _Base:
    def __init__(self, server: Any, bridge: HandlerBridge) -> None:
        self._server = server
        self._bridge = bridge

    def _report(self, exc: BaseException, exchange: Exchange, proxy: ConnectionProxy) -> None:
        """In the ``except`` block (``handle_error`` prints the exception being handled)."""
        client_fault = exchange.client_gone or exchange.refusal is not None  # gone, or a bad body
        if client_fault and isinstance(exc, (BrokenPipeError, ConnectionResetError)):
            logger.debug("client %s: %r", exchange.client_address, exc)
        else:
            self._server.handle_error(proxy, exchange.client_address)

    def _finish(self, exchange: Exchange, proxy: ConnectionProxy) -> None:
        """The handler's own ``finish`` (replayed handlers ran theirs already)."""
        handler = exchange.handler
        if handler is not None:
            try:
                handler.finish()
            except Exception:
                self._server.handle_error(proxy, exchange.client_address)
                exchange.must_close = True


class InlineRunner(_Base):
    """On the loop, once the body is buffered (``HTTPServer``)."""

    def __init__(
        self, server: Any, bridge: HandlerBridge, warn_slow: Callable[[Any, str, float], None]
    ) -> None:
        super().__init__(server, bridge)
        self._warn_slow = warn_slow
        self._slow = server.config.slow_handler_warning

    def start(self, exchange: Exchange, proxy: ConnectionProxy, done: Done) -> None:
        head = exchange.head
        exchange.body.seek(0)
        failure: BaseException | None = None
        started = time.perf_counter()
        try:
            if exchange.handler is None:
                proxy.rfile = replayed(exchange)
                self._bridge.replay(proxy, exchange.client_address)
            else:
                self._bridge.dispatch(exchange.handler)
        except Exception as exc:
            failure = exc
            self._report(exc, exchange, proxy)
        elapsed = time.perf_counter() - started
        if elapsed > self._slow:
            self._warn_slow(exchange.handler, head.method, elapsed)
        handler = exchange.handler
        if handler is not None:  # (_finish, inline: this runs for every request)
            try:
                handler.finish()
            except Exception:
                self._server.handle_error(proxy, exchange.client_address)
                exchange.must_close = True
        done(failure)


class ThreadRunner(_Base):
    """On a worker thread of the server's pool, while the body streams in."""

    def __init__(self, server: Any, bridge: HandlerBridge, pool: HandlerThreadPool) -> None:
        super().__init__(server, bridge)
        self.pool = pool

    def start(self, exchange: Exchange, proxy: ConnectionProxy, done: Done) -> None:
        loop = asyncio.get_running_loop()
        self.pool.submit(lambda: self._run(exchange, proxy, done, loop))

    def _run(
        self, exchange: Exchange, proxy: ConnectionProxy, done: Done, loop: asyncio.AbstractEventLoop
    ) -> None:
        bridge = self._bridge
        sink = exchange.sink
        failure: BaseException | None = None
        try:
            if bridge.direct:
                if not exchange.prepared:
                    exchange.handler, exchange.dispatch_ok = bridge.prepare(
                        exchange.head, proxy, exchange.client_address
                    )
                if exchange.dispatch_ok:
                    bridge.dispatch(exchange.handler)
            else:
                if exchange.buffered:
                    proxy.rfile = replayed(exchange)
                bridge.replay(proxy, exchange.client_address)
            sink.flush()
        except Exception as exc:
            failure = exc
            sink.drop_held()
            self._report(exc, exchange, proxy)
        self._finish(exchange, proxy)
        try:
            loop.call_soon_threadsafe(done, failure)
        except RuntimeError:
            pass  # the loop is closed: the server is gone


class AsyncRunner(_Base):
    """A task on the loop, for ``async def do_<COMMAND>``."""

    def __init__(self, server: Any, bridge: HandlerBridge) -> None:
        super().__init__(server, bridge)
        #: Handler tasks still running: cancelled when the server closes (``cancel_all``).
        self.tasks: set[asyncio.Task[None]] = set()

    def start(self, exchange: Exchange, proxy: ConnectionProxy, done: Done) -> None:
        task = asyncio.get_running_loop().create_task(self._run(exchange, proxy, done))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def cancel_all(self) -> None:
        """Cancel the handler tasks left after a graceful shutdown's grace, and let their
        ``finally`` blocks run."""
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=1.0)

    async def _run(self, exchange: Exchange, proxy: ConnectionProxy, done: Done) -> None:
        failure: BaseException | None = None
        try:
            exchange.handler, exchange.dispatch_ok = self._bridge.prepare(
                exchange.head, proxy, exchange.client_address
            )
            handler = exchange.handler
            if exchange.dispatch_ok:
                result = self._bridge.dispatch(handler)
                if result is not None:
                    try:
                        await result
                    except TimeoutError as exc:  # as the sync path (HandlerBridge.dispatch)
                        handler.log_error("Request timed out: %r", exc)
                        handler.close_connection = True
        except Exception as exc:
            failure = exc
            self._report(exc, exchange, proxy)
        except asyncio.CancelledError:
            self._finish(exchange, proxy)
            raise  # the server is closing: the connection is gone already
        self._finish(exchange, proxy)
        done(failure)


def replayed(exchange: Exchange) -> io.BytesIO:
    """For replay mode: the request as the handler's own code will read it -- head, then
    the buffered body (a decoded chunked one announced by Content-Length)."""
    body = exchange.body
    body.seek(0)
    data = body.read()
    length = len(data) if exchange.head.content_length is None else None
    return io.BytesIO(replay_bytes(exchange.head, drop_expect=True, body_length=length) + data)


def make_runners(
    server: Any, bridge: HandlerBridge, pool: HandlerThreadPool, warn_slow: Callable[[Any, str, float], None]
) -> dict[int, Runner]:
    """One runner per mode, shared by a server's connections."""
    return {
        INLINE: InlineRunner(server, bridge, warn_slow),
        THREAD: ThreadRunner(server, bridge, pool),
        ASYNC: AsyncRunner(server, bridge),
    }
