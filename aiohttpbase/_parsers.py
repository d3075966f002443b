"""Choosing a request parser: a ``RequestReader`` around the chosen head parser backend.

Every backend yields the events of ``_events``; a head cache, when on, is a
``RememberedHeads`` decorator around the backend, never a path inside it.
"""

from __future__ import annotations

from collections.abc import Callable

from ._events import RequestHead
from ._h11_parser import H11HeadParser
from ._head import HeadParser, RememberedHeads
from ._reader import RequestReader
from .config import ServerConfig

__all__ = ["BACKENDS", "PARSERS", "parser_class"]

#: Head parser backends by name, in order of preference for ``parser="auto"``: httptools
#: (the C llhttp parser, the ``speed`` extra) when it is installed, else h11 (the reference).
BACKENDS: dict[str, Callable[[int, int], HeadParser]] = {}
try:
    from ._httptools_parser import HttptoolsHeadParser
except ImportError:  # httptools is optional
    pass
else:
    BACKENDS["httptools"] = HttptoolsHeadParser
BACKENDS["h11"] = H11HeadParser

ParserFactory = Callable[[ServerConfig, "int | None", "dict[bytes, RequestHead] | None"], RequestReader]


def _factory(backend: Callable[[int, int], HeadParser]) -> ParserFactory:
    def make(
        config: ServerConfig,
        body_limit: int | None = None,
        head_cache: dict[bytes, RequestHead] | None = None,
    ) -> RequestReader:
        """A connection's request parser; ``head_cache``: the server's remembered heads."""
        heads = backend(config.max_header_bytes, config.max_header_fields)
        if head_cache is not None:
            heads = RememberedHeads(heads, head_cache, config.head_cache)
        return RequestReader(config, heads, body_limit)

    make.backend = backend  # type: ignore[attr-defined]
    return make


#: Request parser factories by backend name: ``PARSERS[name](config, body_limit, head_cache)``.
PARSERS: dict[str, ParserFactory] = {name: _factory(backend) for name, backend in BACKENDS.items()}


def parser_class(name: str) -> ParserFactory:
    """The parser factory of backend ``name``; ``"auto"`` picks the fastest one installed."""
    if name == "auto":
        return next(iter(PARSERS.values()))
    try:
        return PARSERS[name]
    except KeyError:
        raise ValueError(f"unknown parser {name!r}; choose from auto, {', '.join(PARSERS)}") from None
