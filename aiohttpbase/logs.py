"""Access and error logging through ``logging``, in the stdlib's line format by default.

Loggers (configure them like any others):

* ``aiohttpbase.access`` -- one INFO record per request, written when its response is
  complete, so duration and size are known.  Default line, as ``http.server`` writes it:
  ``127.0.0.1 - - [27/Nov/2026 10:59:36] "GET / HTTP/1.1" 200 -``.
* ``aiohttpbase.error`` -- server-side problems (handler exceptions go through
  ``server.handle_error`` as in the stdlib; timeouts, slow inline handlers, shutdown).

Unless something else has configured ``aiohttpbase.access``, access lines go to the
``sys.stderr`` of the moment, exactly where the stdlib's ``log_message`` writes them.

Format atoms (``--access-log-format``), after Apache and gunicorn:

``%h`` client address, ``%l`` and ``%u`` always ``-``, ``%t`` time as the stdlib logs it,
``%r`` request line, ``%m`` method, ``%U`` path, ``%q`` query string, ``%H`` protocol,
``%s`` status, ``%b`` body bytes (``-`` for none), ``%B`` body bytes, ``%D`` duration in
microseconds, ``%M`` in milliseconds, ``%T`` in seconds, ``%p`` process id,
``%{Name}i`` a request header, ``%%`` a percent sign.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from collections.abc import Callable
from typing import Any, Final

__all__ = [
    "ACCESS_LOGGER",
    "DEFAULT_ACCESS_LOG_FORMAT",
    "ERROR_LOGGER",
    "AccessLog",
    "facts_of_refusal",
    "logged_status",
    "reopen_log_files",
    "request_reopen",
]

ACCESS_LOGGER: Final = logging.getLogger("aiohttpbase.access")
ERROR_LOGGER: Final = logging.getLogger("aiohttpbase.error")
DEFAULT_ACCESS_LOG_FORMAT: Final = '%h - - [%t] "%r" %s -'

_ATOM: Final = re.compile(r"%(\{[^}]*\}[a-z]|.)")
# The escaping of CPython's log_message (gh-100001): C0/C1 controls and backslashes.
_CONTROL_CHARS: Final = str.maketrans(
    {c: rf"\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))} | {ord("\\"): r"\\"}
)
_MONTHS: Final = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class _StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is when a record arrives (as ``log_message``)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


def use_default_access_handler() -> None:
    """Send access lines to stderr unless ``aiohttpbase.access`` is configured already."""
    if not ACCESS_LOGGER.handlers:
        ACCESS_LOGGER.addHandler(_StderrHandler())
        ACCESS_LOGGER.propagate = False
    if ACCESS_LOGGER.level == logging.NOTSET:
        ACCESS_LOGGER.setLevel(logging.INFO)


def log_to_file(path: str) -> None:
    """Write access lines to ``path`` (appending) instead of stderr.

    The file can be rotated: rename it, then send SIGUSR1 (or call ``reopen_log_files()``)
    and the next lines go to a new file at ``path``.
    """
    for handler in ACCESS_LOGGER.handlers:
        handler.close()
    ACCESS_LOGGER.handlers[:] = [_ReopenableFileHandler(path, encoding="utf-8")]
    ACCESS_LOGGER.propagate = False
    ACCESS_LOGGER.setLevel(logging.INFO)


# Bumped by request_reopen(); a file handler whose own count differs reopens its file.
_reopen_requests = 0


class _ReopenableFileHandler(logging.FileHandler):
    """The handler ``log_to_file`` installs: reopens its file when asked (log rotation)."""

    def __init__(self, filename: str, encoding: str | None = None) -> None:
        super().__init__(filename, encoding=encoding)
        self._reopened_for = _reopen_requests

    def emit(self, record: logging.LogRecord) -> None:
        # Under the handler's lock (Handler.handle holds it): a reopen requested by a
        # signal that arrived while no one could act on it happens before this line.
        if self._reopened_for != _reopen_requests:
            self._reopen()
        super().emit(record)

    def reopen_if_requested(self) -> bool:
        """Reopen now if a reopen was requested since the last one; thread-safe."""
        self.acquire()
        try:
            if self._reopened_for == _reopen_requests:
                return False
            return self._reopen()
        finally:
            self.release()

    def _reopen(self) -> bool:
        self._reopened_for = _reopen_requests
        old = self.stream
        try:
            self.stream = self._open()  # appends to a new file at the same path
        except OSError as exc:  # keep writing to the old file rather than lose lines
            ERROR_LOGGER.error("cannot reopen the access log %s: %s", self.baseFilename, exc)
            return False
        if old is not None:
            try:
                old.flush()
            finally:
                old.close()
        ERROR_LOGGER.info("access log reopened: %s (pid %d)", self.baseFilename, os.getpid())
        return True


def request_reopen() -> None:
    """Ask the files of ``log_to_file`` to be reopened; safe in a signal handler.

    Only records the request: ``reopen_log_files()`` acts on it, or else each file is
    reopened before its next line is written.
    """
    global _reopen_requests
    _reopen_requests += 1


def reopen_log_files() -> list[str]:
    """Reopen the files ``log_to_file`` writes to, now.

    For log rotation: after the file was renamed, lines go to a fresh file at its
    original path.  Returns the paths reopened.  Thread-safe, but not for a signal
    handler (it takes the handlers' locks): call ``request_reopen()`` there.
    """
    request_reopen()
    return [
        handler.baseFilename
        for handler in list(ACCESS_LOGGER.handlers)
        if isinstance(handler, _ReopenableFileHandler) and handler.reopen_if_requested()
    ]


class RequestFacts:
    """What an access line can show about one finished request."""

    __slots__ = (
        "client",
        "request_line",
        "method",
        "target",
        "version",
        "headers",
        "status",
        "size",
        "duration",
    )

    def __init__(
        self,
        client: str,
        request_line: str,
        method: str,
        target: str,
        version: str,
        headers: list[tuple[str, str]],
        status: int,
        size: int,
        duration: float,
    ) -> None:
        self.client = client
        self.request_line = request_line
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.status = status
        self.size = size
        self.duration = duration


def logged_status(code: Any) -> int:
    """The status ``log_request(code)`` was called with, as a number (0 if none).

    ``send_response`` passes the code it sends (an ``HTTPStatus`` or an ``int``); a handler
    calling ``log_request()`` itself may pass nothing (``"-"``) or any text.  This is the
    status of the access line when the response has no status line to read it from: the
    answer to an HTTP/0.9 request, which is the bare body.
    """
    if isinstance(code, int) and not isinstance(code, bool):  # HTTPStatus is an int
        return int(code)
    if isinstance(code, str) and code.isascii() and code.isdigit() and len(code) == 3:
        return int(code)
    return 0


def facts_of_refusal(
    client: str, request_line: bytes | None, status: int, size: int, duration: float
) -> RequestFacts:
    """What an access line can show of a request refused before any handler ran.

    ``request_line`` is the line as received (CRLF stripped), or ``None`` when the server
    answered before a whole line came (a 414, a head that did not arrive in time): then
    ``%r`` is empty, as the stdlib's ``"" 414 -``.  Method, target and version are taken
    from the line when it has the shape of one (two or three words), else they are empty;
    no header is known (``%{Name}i`` is ``-``).
    """
    line = request_line.decode("latin-1") if request_line is not None else ""
    words = line.split()
    method = target = version = ""
    if len(words) == 3:
        method, target, version = words
    elif len(words) == 2:
        method, target, version = words[0], words[1], "HTTP/0.9"
    return RequestFacts(client, line, method, target, version, [], status, size, duration)


_log_time_cache: tuple[int, Any, str] = (0, None, "")


def log_time(months: Any = _MONTHS) -> str:
    """Now, as ``BaseHTTPRequestHandler.log_date_time_string()`` writes it (``months``: its
    ``monthname``); computed once per second, since every access line asks for it."""
    global _log_time_cache
    now = int(time.time())
    if _log_time_cache[0] != now or _log_time_cache[1] is not months:
        year, month, day, hh, mm, ss, *_ = time.localtime(now)
        text = "%02d/%3s/%04d %02d:%02d:%02d" % (day, months[month], year, hh, mm, ss)
        _log_time_cache = (now, months, text)
    return _log_time_cache[2]


def _header_atom(name: str) -> Callable[[RequestFacts], str]:
    lowered = name.lower()

    def value(facts: RequestFacts) -> str:
        for key, field in facts.headers:
            if key.lower() == lowered:
                return field
        return "-"

    return value


_ATOMS: Final[dict[str, Callable[[RequestFacts], Any]]] = {
    "h": lambda f: f.client,
    "a": lambda f: f.client,
    "l": lambda f: "-",
    "u": lambda f: "-",
    "t": lambda f: log_time(),
    "r": lambda f: f.request_line,
    "m": lambda f: f.method,
    "U": lambda f: f.target.partition("?")[0],
    "q": lambda f: f.target.partition("?")[2],
    "H": lambda f: f.version,
    "s": lambda f: f.status,
    "b": lambda f: f.size or "-",
    "B": lambda f: f.size,
    "D": lambda f: round(f.duration * 1e6),
    "M": lambda f: round(f.duration * 1e3),
    "T": lambda f: f"{f.duration:.6f}",
    "p": lambda f: os.getpid(),
    "%": lambda f: "%",
}


class AccessLog:
    """Formats and emits access lines; the format is compiled once."""

    def __init__(self, fmt: str = DEFAULT_ACCESS_LOG_FORMAT) -> None:
        self.format = fmt
        self._pieces: list[str | Callable[[RequestFacts], Any]] = []
        position = 0
        for match in _ATOM.finditer(fmt):
            if match.start() > position:
                self._pieces.append(fmt[position : match.start()])
            atom = match.group(1)
            if atom.startswith("{") and atom.endswith("}i"):
                self._pieces.append(_header_atom(atom[1:-2]))
            elif atom in _ATOMS:
                self._pieces.append(_ATOMS[atom])
            else:
                raise ValueError(f"unknown access log atom %{atom} in {fmt!r}")
            position = match.end()
        self._pieces.append(fmt[position:])

    def line(self, facts: RequestFacts) -> str:
        text = "".join(piece if isinstance(piece, str) else str(piece(facts)) for piece in self._pieces)
        return text.translate(_CONTROL_CHARS)

    def emit(self, facts: RequestFacts) -> None:
        if ACCESS_LOGGER.isEnabledFor(logging.INFO):
            ACCESS_LOGGER.info(self.line(facts))
