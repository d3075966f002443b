"""``--cgi``: the stdlib's ``CGIHTTPRequestHandler``, where this Python still has it (3.14 and
earlier), adapted to a server that owns the connection.

The stdlib runs a script in one of two ways.  On Unix it forks and gives the child the
connection's socket as stdin and stdout; here a handler never holds that socket (the
server parses and frames), so the other way is used, the one the stdlib takes where there
is no fork: ``subprocess`` with pipes, the request body read from ``rfile`` and the
script's output written to ``wfile``.  That way polls ``rfile._sock`` to throw away bytes
a client sent past its body; the server has already framed the body, so nothing is ever
left, and ``_sock`` is a stand-in that is never readable.
"""

from __future__ import annotations

import functools
import http.server
import os
from typing import Any

__all__ = ["cgi_handler_class"]

# The read end of a pipe nobody writes to: select() never finds it readable.  One per
# process, made on first use and kept for the process's life.
_never_readable: int | None = None


class _NothingLeft:
    """Stands in for the socket behind ``rfile`` in ``run_cgi``'s discard loop."""

    def fileno(self) -> int:
        global _never_readable
        if _never_readable is None:
            _never_readable, _write_end = os.pipe()  # the write end stays open: no EOF either
        return _never_readable

    def recv(self, size: int) -> bytes:
        return b""


class _BodyWithSocket:
    """``rfile`` as ``run_cgi`` expects it: the server's body stream, with a ``_sock``."""

    _sock = _NothingLeft()

    def __init__(self, body: Any) -> None:
        self._body = body

    def __getattr__(self, name: str) -> Any:
        return getattr(self._body, name)


@functools.cache
def cgi_handler_class() -> type[http.server.BaseHTTPRequestHandler] | None:
    """``CGIHTTPRequestHandler`` made to run here, or ``None`` where Python removed it (3.15)."""
    base = getattr(http.server, "CGIHTTPRequestHandler", None)
    if base is None:
        return None

    class CGIHTTPRequestHandler(base):  # type: ignore[valid-type,misc]
        have_fork = False  # see the module docstring: subprocess, not fork
        rfile: Any

        def run_cgi(self) -> None:
            self.rfile = _BodyWithSocket(self.rfile)
            super().run_cgi()

    return CGIHTTPRequestHandler
