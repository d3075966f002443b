"""Server settings: defined once here, read by the server classes and the command line.

Each field's ``help`` is both its documentation and its ``--flag`` help text: the command
line builds one flag per field (``timeout_keep_alive`` -> ``--timeout-keep-alive``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["ServerConfig"]


def _setting(
    default: Any, help: str, *, unset: str = "", minimum: float = 0, choices: Any = None, metavar: str = ""
) -> Any:
    """A field whose metadata the command line reads: ``help``; ``unset``, what a default of
    ``None`` means (shown as the default); the ``minimum`` a number may be; ``choices``;
    ``metavar``, what the value is (``PATH``) where ``N`` would not say."""
    metadata = {"help": help, "unset": unset, "minimum": minimum, "choices": choices, "metavar": metavar}
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass
class ServerConfig:
    """Limits and timeouts of one server.

    Every server object carries one as ``server.config``; the command line fills it from
    its flags.  Defaults follow the stdlib where it has an answer (64 KiB request line,
    100 header fields) and the robust peers where it has none.
    """

    max_request_line: int = _setting(65536, "longest request line; longer gets 414 (the stdlib's 65536)")
    max_header_bytes: int = _setting(
        65536 + 16384, "largest request head (request line and fields); larger gets 431"
    )
    max_header_fields: int = _setting(
        100, "most header fields in a request; more gets 431 (http.client's 100)"
    )
    max_body_bytes: int | None = _setting(
        None, "largest request body in any mode; larger gets 413", unset="no limit"
    )
    max_buffered_body_bytes: int = _setting(
        64 * 1024 * 1024, "largest body buffered for a handler running on the event loop; larger gets 413"
    )
    buffer_chunked_body: bool = _setting(
        True,
        "read a chunked request body whole (in memory up to 1 MiB, then a temporary file) before "
        "the handler runs, and give it Content-Length; off: threaded handlers stream it",
    )
    limit_concurrency: int | None = _setting(
        None, "most open connections; more are answered 503 and closed", unset="no limit", minimum=1
    )
    threads: int = _setting(64, "worker threads of a ThreadingHTTPServer", minimum=1)
    max_queued_requests: int | None = _setting(
        None, "requests allowed to wait for a free thread; more get 503", unset="no limit"
    )
    slow_handler_warning: float = _setting(
        0.1, "seconds an inline handler may hold the event loop before a warning names it"
    )
    timeout_header: float = _setting(
        10.0,
        "seconds for a whole request head, from accept or the previous response; "
        "not extended by dribbled bytes (408)",
    )
    timeout_keep_alive: float = _setting(
        5.0, "seconds an idle keep-alive connection stays open between requests"
    )
    timeout_body: float = _setting(30.0, "seconds without a byte while a request body arrives (408)")
    timeout_send: float = _setting(
        30.0, "seconds a client may leave the response unread before it is dropped"
    )
    timeout_graceful_shutdown: float = _setting(
        10.0, "seconds in-flight requests get to finish after shutdown or SIGTERM"
    )
    access_log: str | None = _setting(
        "-",
        "where access lines go: - for stderr (through the aiohttpbase.access logger), or a file",
        metavar="PATH",
    )
    access_log_format: str = _setting(
        '%h - - [%t] "%r" %s -',
        "access line format with Apache/gunicorn atoms; see aiohttpbase.logs",
        metavar="FORMAT",
    )
    proxy_headers: bool = _setting(
        False, "take the client address from X-Forwarded-For / Forwarded sent by a trusted proxy"
    )
    forwarded_allow_ips: str = _setting(
        "127.0.0.1,::1",
        "comma-separated addresses or networks trusted to send proxy headers; * for any",
        metavar="IPS",
    )
    head_cache: int = _setting(
        0,
        "distinct request heads remembered parsed (opt-in: pays only when clients repeat heads "
        "byte for byte, costs up to 6 % when every head differs); 0 parses every head",
    )
    parser: str = _setting(
        "auto",
        "request parser: h11 (the reference), httptools, or auto (fastest installed)",
        choices=("auto", "h11", "httptools"),
    )

    def replace(self, **changes: Any) -> ServerConfig:
        """A copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)
