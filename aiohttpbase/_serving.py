"""How a server serves on the running event loop: listen, sweep timeouts, serve until
shutdown (or one request), and close gracefully.

Functions of one ``server.HTTPServer``, which they know by what it keeps for them:
``_listener`` (the loop's ``asyncio.Server``, accepting on a duplicate of ``socket``),
``_sweeper`` (the timeout task), ``_serving_loop`` and ``_wakeup`` (set while
``serve_forever``/``serve`` run, so that ``request_shutdown`` can wake them),
``_shutdown_request``, ``_state`` and ``_ensure_state()``; and by the stdlib's
``socket``, ``request_queue_size`` and ``service_actions()``, with ``config`` and
``ssl_context``.

No timer per request: one sweeper task per server wakes every quarter of the shortest
timeout (between 10 ms and 1 s) and has every connection check its own timestamps.
A graceful close stops accepting, closes idle connections at once and gives busy ones
``grace`` seconds before it aborts them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl
import time
from typing import Any

from ._protocol import HTTPConnection
from ._state import ServerState
from .config import ServerConfig

__all__ = [
    "close_everything",
    "plain_socket_and_tls",
    "serve_one_request",
    "serve_until_shutdown",
    "start_listening",
]

logger = logging.getLogger("aiohttpbase.error")


async def start_listening(server: Any) -> ServerState:
    """The server's state, with its listener and sweeper started on the running loop."""
    state: ServerState = server._ensure_state()
    if server._listener is None:
        loop = asyncio.get_running_loop()
        # A duplicate descriptor: asyncio closes the socket it serves, while the
        # stdlib contract keeps server.socket open until server_close().
        listening, context = plain_socket_and_tls(server.socket)
        context = context or server.ssl_context
        server._listener = await loop.create_server(
            lambda: HTTPConnection(state),
            sock=listening,
            backlog=server.request_queue_size,
            ssl=context,
        )
        server._sweeper = loop.create_task(_sweep_timeouts(server.config, state))
    return state


async def _sweep_timeouts(config: ServerConfig, state: ServerState) -> None:
    """One timer for all connections instead of one per request: cheap on the hot path,
    and precise to a fraction of the shortest timeout."""
    shortest = min(config.timeout_header, config.timeout_keep_alive, config.timeout_body, config.timeout_send)
    interval = max(0.01, min(1.0, shortest / 4))
    while True:
        await asyncio.sleep(interval)
        state.sweep()


async def serve_until_shutdown(server: Any, poll_interval: float) -> None:
    """Serve until ``request_shutdown()``, calling ``service_actions()`` every ``poll_interval``."""
    state = await start_listening(server)
    server._serving_loop = asyncio.get_running_loop()
    server._wakeup = wakeup = asyncio.Event()
    state.shutting_down = False
    state.grant(None)
    try:
        while not server._shutdown_request:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(wakeup.wait(), poll_interval)
            if server._shutdown_request:
                break
            server.service_actions()
    finally:
        server._serving_loop = None
        server._wakeup = None
        await close_everything(server, server.config.timeout_graceful_shutdown)


async def serve_one_request(server: Any, timeout: float | None) -> bool:
    """Serve exactly one request (``handle_request``); ``False`` if none began in ``timeout``."""
    state = await start_listening(server)
    progress = state.progress = asyncio.Event()
    started = state.requests_started
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        state.grant(1)
        while state.requests_started == started:
            progress.clear()
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(progress.wait(), remaining)
        while state.requests_finished < state.requests_started:
            progress.clear()
            await progress.wait()
        await _let_closing_connections_finish(state)
        return True
    finally:
        state.budget = 0
        state.progress = None


async def _let_closing_connections_finish(state: ServerState, limit: float = 1.0) -> None:
    """Run the loop until answered connections that are closing have closed.

    Between ``handle_request()`` calls the loop does not run; a close-delimited
    response is only complete for the client once its connection is really closed.
    """
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        await asyncio.sleep(0)
        if not any(c.closing for c in state.connections):
            return


async def close_everything(server: Any, grace: float) -> None:
    """Stop accepting, close idle connections, give busy ones ``grace`` seconds."""
    if server._listener is not None:
        server._listener.close()
        server._listener = None
    state: ServerState | None = server._state
    if state is None:
        return
    state.shutting_down = True
    for connection in list(state.connections):
        connection.close_when_idle()
    deadline = time.monotonic() + grace
    while state.connections and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    if state.connections:
        logger.warning(
            "graceful shutdown: %d connection(s) still busy after %.1f s; closing them",
            len(state.connections),
            grace,
        )
        for connection in list(state.connections):
            connection.abort()
    await state.async_runner.cancel_all()
    if server._sweeper is not None:
        server._sweeper.cancel()
        server._sweeper = None
    await asyncio.sleep(0)


def plain_socket_and_tls(sock: socket.socket) -> tuple[socket.socket, ssl.SSLContext | None]:
    """A duplicate of the listening socket for the loop, and the TLS context to serve with.

    The TLS context comes from ``HTTPSServer`` or from the stdlib idiom
    ``httpd.socket = context.wrap_socket(httpd.socket, server_side=True)``: the loop does
    the TLS itself (non-blocking), so it gets the plain descriptor and the context.
    A duplicate, because asyncio closes the socket it serves, while the stdlib contract
    keeps ``server.socket`` open until ``server_close()``.
    """
    if isinstance(sock, ssl.SSLSocket):
        plain = socket.socket(sock.family, sock.type, sock.proto, fileno=os.dup(sock.fileno()))
        return plain, sock.context
    return sock.dup(), None
