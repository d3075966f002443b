"""aiohttpbase's own handler base classes: the stdlib's, plus what an event loop allows.

``BaseHTTPRequestHandler`` *is* a ``http.server.BaseHTTPRequestHandler`` (a subclass), so
every attribute, default and output is the stdlib's.  It differs where the stdlib is
unsafe or slow, never in what a correct handler observes:

* ``send_header`` and ``send_response`` refuse CR and LF (``ValueError``) instead of
  letting them split the response (the stdlib documents this injection risk);
* ``date_time_string()`` for "now" is computed once per second, not per response;
* when served by aiohttpbase, ``rfile``/``wfile`` are the connection's streams directly,
  and ``wfile`` accepts ``str`` (UTF-8) as Python 2's ``BaseHTTPServer`` did.

Outside aiohttpbase (the stdlib's own servers, or ``BytesIO`` files in tests) the classes
behave exactly like the stdlib's.
"""

from __future__ import annotations

import http.server
import time

from ._streams import ConnectionProxy

__all__ = ["BaseHTTPRequestHandler"]

_date_cache: tuple[int, str] = (0, "")


def _check_field(what: str, text: str) -> None:
    if "\r" in text or "\n" in text:
        raise ValueError(f"{what} must not contain CR or LF: {text!r}")


class BaseHTTPRequestHandler(http.server.BaseHTTPRequestHandler):
    """``http.server.BaseHTTPRequestHandler`` with the differences in the module docstring."""

    def setup(self) -> None:
        request = self.request
        if isinstance(request, ConnectionProxy):
            self.connection = request
            if self.timeout is not None:
                request.settimeout(self.timeout)
            # TCP_NODELAY is always on under aiohttpbase, so disable_nagle_algorithm
            # has nothing left to do.
            self.rfile = request.rfile
            self.wfile = request.wfile
        else:
            super().setup()

    def send_response_only(self, code: int, message: str | None = None) -> None:
        if message is not None:
            _check_field("status message", message)
        super().send_response_only(code, message)

    def send_header(self, keyword: str, value: str) -> None:
        _check_field("header name", keyword)
        _check_field("header value", str(value))
        super().send_header(keyword, value)

    def date_time_string(self, timestamp: float | None = None) -> str:
        if timestamp is not None:
            return super().date_time_string(timestamp)
        global _date_cache
        now = int(time.time())
        if _date_cache[0] != now:
            _date_cache = (now, super().date_time_string(now))
        return _date_cache[1]

