"""``--header NAME:VALUE``: default response headers, added by subclassing the handler.

Python 3.15's ``http.server`` adds its ``--header`` headers from the handler too, as the
last fields before the blank line.  Here they go into every response the handler sends
through ``end_headers`` (its own answers and ``send_error`` pages alike), unless the
handler sent a field of the same name itself: they are defaults, and the handler's word
is the more specific one.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

__all__ = ["parse_header", "with_default_headers"]

# RFC 9110 5.1: a field name is a token.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def parse_header(text: str) -> tuple[str, str]:
    """``"NAME:VALUE"`` as ``(NAME, VALUE)``, the value stripped; an argparse type."""
    name, colon, value = text.partition(":")
    if not colon or not _TOKEN.fullmatch(name):
        raise argparse.ArgumentTypeError(f"{text!r}: give NAME:VALUE, NAME a header field name")
    value = value.strip()
    if any(char in value for char in "\r\n\0"):
        raise argparse.ArgumentTypeError(f"{text!r}: a header value cannot hold CR, LF or NUL")
    return name, value


parse_header.__name__ = "header"  # argparse names the type in its messages


def with_default_headers(handler_class: Any, headers: list[tuple[str, str]]) -> Any:
    """A subclass of ``handler_class`` whose responses carry ``headers`` by default."""
    defaults = list(headers)

    class DefaultHeaders(handler_class):  # type: ignore[misc]
        _sent_names: set[str] | None = None

        def send_header(self, keyword: str, value: str) -> None:
            if self._sent_names is None:
                self._sent_names = set()
            self._sent_names.add(keyword.lower())
            super().send_header(keyword, value)

        def end_headers(self) -> None:
            sent = self._sent_names or set()
            for name, value in defaults:
                if name.lower() not in sent:
                    super().send_header(name, value)
            self._sent_names = None  # the next response on the connection starts afresh
            super().end_headers()

    # Logs and warnings name the handler as its author wrote it.
    DefaultHeaders.__name__ = handler_class.__name__
    DefaultHeaders.__qualname__ = handler_class.__qualname__
    DefaultHeaders.__module__ = handler_class.__module__
    return DefaultHeaders
