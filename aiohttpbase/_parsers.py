"""Choosing a request parser backend: every backend yields the events of ``_events``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ._events import BodyData, EndOfRequest, RequestError, RequestHead, _NeedData
from ._h11_parser import H11RequestParser
from .config import ServerConfig

__all__ = ["PARSERS", "RequestParser", "parser_class"]


class RequestParser(Protocol):
    """What the connection needs from a parser backend (see ``H11RequestParser``)."""

    @property
    def buffered_bytes(self) -> int: ...

    @property
    def idle(self) -> bool: ...

    def feed(self, data: bytes) -> None: ...

    def feed_eof(self) -> None: ...

    def start_next_request(self) -> None: ...

    def take_buffered(self) -> bytes: ...

    def next_event(self) -> RequestHead | BodyData | EndOfRequest | RequestError | _NeedData: ...


ParserFactory = Callable[[ServerConfig, "int | None", "dict[bytes, RequestHead] | None"], RequestParser]

#: Backends by name, in order of preference for ``parser="auto"``: httptools (the C
#: llhttp parser, the ``speed`` extra) when it is installed, else h11 (the reference).
PARSERS: dict[str, ParserFactory] = {}
try:
    from ._httptools_parser import HttptoolsRequestParser
except ImportError:  # httptools is optional
    pass
else:
    PARSERS["httptools"] = HttptoolsRequestParser
PARSERS["h11"] = H11RequestParser


def parser_class(name: str) -> ParserFactory:
    """The backend called ``name``; ``"auto"`` picks the fastest one installed."""
    if name == "auto":
        return next(iter(PARSERS.values()))
    try:
        return PARSERS[name]
    except KeyError:
        raise ValueError(f"unknown parser {name!r}; choose from auto, {', '.join(PARSERS)}") from None
