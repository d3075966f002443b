"""Server settings: defined once here, read by the server classes and the command line."""

from __future__ import annotations

import dataclasses

__all__ = ["ServerConfig"]


@dataclasses.dataclass
class ServerConfig:
    """Limits and timeouts of one server.

    Every server object carries one as ``server.config``; the command line fills it from
    its flags.  Defaults follow the stdlib where it has an answer (64 KiB request line,
    100 header fields) and the robust peers where it has none.
    """

    #: Longest request line accepted; longer gets 414 (the stdlib's 65536).
    max_request_line: int = 65536
    #: Largest whole request head (request line plus header fields); larger gets 431.
    max_header_bytes: int = 65536 + 16384
    #: Most header fields in one request; more gets 431 (``http.client``'s 100).
    max_header_fields: int = 100
    #: Largest body buffered for a handler running on the event loop; larger gets 413.
    max_buffered_body_bytes: int = 64 * 1024 * 1024
    #: Worker threads of a ``ThreadingHTTPServer`` (blocking handlers run on these).
    threads: int = 64
    #: Requests allowed to wait for a free thread; beyond it they get 503 (None: no limit).
    max_queued_requests: int | None = None
    #: An inline handler holding the loop longer than this (seconds) is logged as slow.
    slow_handler_warning: float = 0.1
    #: Seconds for a whole request head, from accept or from the end of the previous
    #: response; bytes arriving do not extend it (408 if part of a head came).
    timeout_header: float = 10.0
    #: Seconds an idle keep-alive connection is kept open between requests.
    timeout_keep_alive: float = 5.0
    #: Seconds without a byte while a request body is being received (408).
    timeout_body: float = 30.0
    #: Seconds a client may leave the response unread before the connection is dropped.
    timeout_send: float = 30.0
    #: Request parser backend: "h11" (the reference), or "auto" for the fastest installed.
    parser: str = "auto"
    #: Seconds in-flight requests get to finish after ``shutdown()`` before being cut.
    timeout_graceful_shutdown: float = 10.0

    def replace(self, **changes: object) -> ServerConfig:
        """A copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]
