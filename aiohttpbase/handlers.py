"""aiohttpbase's handler base class, and what it changes in every handler class it serves.

``BaseHTTPRequestHandler`` *is* a ``http.server.BaseHTTPRequestHandler`` (a subclass), so
every attribute, default and output is the stdlib's.  ``ServingMixin`` holds the few
methods that differ, and aiohttpbase applies the same methods to stdlib handler classes it
serves, wherever the class still uses the stdlib's own version (``serving_class``):

* ``send_header`` and ``send_response`` refuse CR and LF (``ValueError``) instead of
  letting them split the response (the stdlib documents this injection risk);
* ``date_time_string()`` for "now" and ``log_date_time_string()`` are computed once per
  second, not per response;
* ``setup`` takes the connection's streams directly, and ``wfile`` accepts ``str``
  (UTF-8) as Python 2's ``BaseHTTPServer`` did;
* ``finish`` closes ``wfile`` without sending what is pending: the server sends it at
  once, together with the bytes that end the response;
* ``log_request`` leaves the access line to the server, which writes it through the
  ``aiohttpbase.access`` logger once the response is complete (same format by default).
  A class that overrides ``log_message`` or ``log_request`` keeps full control.

Outside aiohttpbase (the stdlib's own servers, or ``BytesIO`` files in tests) the class
behaves exactly like the stdlib's.
"""

from __future__ import annotations

import http.server
import socketserver
import time
from typing import Any

from ._streams import ConnectionProxy, ResponseStream
from .logs import log_time, logged_status

__all__ = ["BaseHTTPRequestHandler", "ServingMixin", "serving_class"]

_STDLIB = http.server.BaseHTTPRequestHandler
_date_cache: tuple[int, str] = (0, "")


def _check_field(what: str, text: str) -> None:
    if "\r" in text or "\n" in text:
        raise ValueError(f"{what} must not contain CR or LF: {text!r}")


class ServingMixin:
    """The methods aiohttpbase changes (see the module docstring).

    They call the stdlib's implementation by name rather than through ``super()``: they
    are also grafted onto stdlib classes that never inherit from this mixin.
    """

    def setup(self: Any) -> None:
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
            socketserver.StreamRequestHandler.setup(self)

    def send_response_only(self: Any, code: int, message: str | None = None) -> None:
        if message is not None:
            _check_field("status message", message)
        # What the stdlib's send_response_only does (the same in 3.10-3.14), here rather
        # than by a call to it, as send_header below: once per response.
        if self.request_version != "HTTP/0.9":
            if message is None:
                responses = self.responses
                message = responses[code][0] if code in responses else ""
            line = "%s %d %s\r\n" % (self.protocol_version, code, message)
            # (getattr with a default: no exception raised when, as usual here, the
            # buffer does not exist yet; the stdlib's hasattr rule)
            buffer: list[bytes] | None = getattr(self, "_headers_buffer", None)
            if buffer is None:
                buffer = []
                self._headers_buffer = buffer
            buffer.append(line.encode("latin-1", "strict"))

    def send_header(self: Any, keyword: str, value: str) -> None:
        text = str(value)
        # (_check_field's test, inline: this runs for every header of every response)
        if "\n" in keyword or "\r" in keyword or "\n" in text or "\r" in text:
            _check_field("header name", keyword)
            _check_field("header value", text)
        # What the stdlib's send_header does (the same in 3.10-3.14), here rather than by a
        # call to it: one Python call fewer per header of every response.
        if self.request_version != "HTTP/0.9":
            # (getattr with a default, as above: no exception raised when there is none)
            buffer: list[bytes] | None = getattr(self, "_headers_buffer", None)
            if buffer is None:
                buffer = []
                self._headers_buffer = buffer
            buffer.append(f"{keyword}: {text}\r\n".encode("latin-1", "strict"))
        if keyword.lower() == "connection":
            if value.lower() == "close":
                self.close_connection = True
            elif value.lower() == "keep-alive":
                self.close_connection = False

    def date_time_string(self: Any, timestamp: float | None = None) -> str:
        if timestamp is not None:
            return _STDLIB.date_time_string(self, timestamp)
        global _date_cache
        now = int(time.time())
        if _date_cache[0] != now:
            _date_cache = (now, _STDLIB.date_time_string(self, now))
        return _date_cache[1]

    def finish(self: Any) -> None:
        if type(self.wfile) is ResponseStream:
            # Nothing to flush: the connection ends the response right after this, in one
            # write with its framing's last bytes (a chunked body's end, say).
            self.wfile.close()
            self.rfile.close()
        else:  # a stream of the handler's own (a wrapper, a capture) is flushed as usual
            socketserver.StreamRequestHandler.finish(self)

    def log_date_time_string(self: Any) -> str:
        return log_time(self.monthname)

    def log_request(self: Any, code: Any = "-", size: Any = "-") -> None:
        request = getattr(self, "request", None)
        if isinstance(request, ConnectionProxy) and type(self).log_message is _STDLIB.log_message:
            request.access_logged = True  # the connection writes the line when the response is done
            request.logged_status = logged_status(code)  # an HTTP/0.9 answer has no status line
        else:
            _STDLIB.log_request(self, code, size)


class BaseHTTPRequestHandler(ServingMixin, http.server.BaseHTTPRequestHandler):
    """``http.server.BaseHTTPRequestHandler`` with the differences in the module docstring."""


_GRAFTED = (
    "setup",
    "send_response_only",
    "send_header",
    "date_time_string",
    "log_date_time_string",
    "finish",
    "log_request",
)
_serving_classes: dict[type, type] = {}


def serving_class(cls: type) -> type:
    """``cls``, or a same-named subclass with ``ServingMixin``'s methods wherever ``cls``
    still has the stdlib's own (never replacing a method the class defines itself)."""
    if not issubclass(cls, _STDLIB):
        return cls
    cached = _serving_classes.get(cls)
    if cached is not None:
        return cached
    grafts: dict[str, Any] = {
        name: ServingMixin.__dict__[name] for name in _GRAFTED if getattr(cls, name) is getattr(_STDLIB, name)
    }
    if "log_request" in grafts and cls.log_message is not _STDLIB.log_message:
        del grafts["log_request"]  # a class with its own log_message keeps every line
    served = cls
    if grafts:
        grafts.update(__module__=cls.__module__, __qualname__=cls.__qualname__, __doc__=cls.__doc__)
        served = _forwarding_metaclass(type(cls))(cls.__name__, (cls,), grafts)
    _serving_classes[cls] = served
    return served


def _forwarding_metaclass(meta: type) -> type:
    """A metaclass whose classes pass attribute writes on to their base class.

    Handlers keep state on their class (``type(self).hits += 1``); on the grafted subclass
    such a write would land on the subclass and the handler's own class would never see
    it.  Forwarding keeps ``type(self).name = value`` meaning what it means unserved.
    """

    class ForwardingMeta(meta):  # type: ignore[misc]
        def __setattr__(cls, name: str, value: Any) -> None:
            setattr(cls.__bases__[0], name, value)

        def __delattr__(cls, name: str) -> None:
            delattr(cls.__bases__[0], name)

    return ForwardingMeta
