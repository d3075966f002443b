"""In-process cost of one keep-alive request cycle, without sockets or load generator.

Feeds ``GET /`` requests through a real ``HTTPConnection`` (parser, handler bridge,
response writer) over a stand-in transport, so the figure is the server's own per-request
CPU cost and is repeatable on a noisy machine.  Usage:

    python bench/micro.py [--parser h11|httptools] [--head-cache N] [--requests N] [--profile]

Every request is the same, so with the head cache on (the default) each head after the
first is a cache hit; ``--head-cache 0`` measures a full parse per request.
"""

from __future__ import annotations

import argparse
import cProfile
import http.server
import pstats
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from apps.handlers import HelloHandler

import aiohttpbase
from aiohttpbase._protocol import HTTPConnection

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n"

_AGENTS = (
    b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    b"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    b"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
)


def varied_request(i: int) -> bytes:
    """A browser-like head (~600 bytes, 8 fields) that differs from every other one: a path
    with a counter and a query, a changing cookie and request id (``--varied``)."""
    return (
        b"GET /items/%d?page=%d&sort=name HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: %s\r\n"
        b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
        b"Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\n"
        b"Referer: http://127.0.0.1:8080/items/%d\r\nCookie: session=%016x; theme=dark\r\n"
        b"X-Request-Id: %032x\r\n\r\n"
        % (i, i % 7, _AGENTS[i % 3], i - 1, i * 2654435761, i * 11400714819323198485)
    )


class NullTransport:
    """Enough of a transport for one connection: counts what is written, keeps the last write."""

    def __init__(self) -> None:
        self.written = 0
        self.writes = 0
        self.last = b""

    def write(self, data: bytes) -> None:
        self.written += len(data)
        self.writes += 1
        self.last = data

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 40000)}.get(name, default)

    def get_write_buffer_size(self) -> int:
        return 0

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        raise AssertionError("the connection closed: the response was not keep-alive")


def run(
    parser: str,
    requests: int,
    handler: type[http.server.BaseHTTPRequestHandler],
    head_cache: int = 256,
    varied: bool = False,
) -> tuple[float, NullTransport]:
    config = aiohttpbase.ServerConfig(parser=parser, head_cache=head_cache)
    server = aiohttpbase.HTTPServer(("127.0.0.1", 0), handler, config=config)
    transport = NullTransport()

    async def cycle() -> float:
        connection = HTTPConnection(server._ensure_state())
        connection.connection_made(transport)  # type: ignore[arg-type]
        heads = [varied_request(i) for i in range(requests)] if varied else [REQUEST] * requests
        start = time.perf_counter()
        for head in heads:
            connection.data_received(head)
        return time.perf_counter() - start

    loop = aiohttpbase.new_event_loop()  # uvloop, as the server uses
    try:
        elapsed = loop.run_until_complete(cycle())
    finally:
        loop.close()
        server.server_close()
    return elapsed, transport


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    args.add_argument("--parser", default="h11")
    args.add_argument("--head-cache", type=int, default=256)
    args.add_argument("--requests", type=int, default=50_000)
    args.add_argument("--profile", action="store_true")
    args.add_argument(
        "--varied", action="store_true", help="every head different (browser-like), not one repeated"
    )
    options = args.parse_args()
    run(options.parser, 2000, HelloHandler, options.head_cache, options.varied)  # warm up
    if options.profile:
        profiler = cProfile.Profile()
        profiler.enable()
    elapsed, transport = run(
        options.parser, options.requests, HelloHandler, options.head_cache, options.varied
    )
    if options.profile:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    per = elapsed / options.requests
    print(
        f"{options.parser} (head cache {options.head_cache}{', varied heads' if options.varied else ''}): {options.requests} requests in {elapsed:.2f} s = {1 / per:,.0f} req/s "
        f"({per * 1e6:.1f} us each), {transport.writes / options.requests:.2f} writes per response"
    )


if __name__ == "__main__":
    main()
