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
    parser: str, requests: int, handler: type[http.server.BaseHTTPRequestHandler], head_cache: int = 256
) -> tuple[float, NullTransport]:
    config = aiohttpbase.ServerConfig(parser=parser, head_cache=head_cache)
    server = aiohttpbase.HTTPServer(("127.0.0.1", 0), handler, config=config)
    transport = NullTransport()

    async def cycle() -> float:
        connection = HTTPConnection(server._ensure_state())
        connection.connection_made(transport)  # type: ignore[arg-type]
        start = time.perf_counter()
        for _ in range(requests):
            connection.data_received(REQUEST)
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
    options = args.parse_args()
    run(options.parser, 2000, HelloHandler, options.head_cache)  # warm up
    if options.profile:
        profiler = cProfile.Profile()
        profiler.enable()
    elapsed, transport = run(options.parser, options.requests, HelloHandler, options.head_cache)
    if options.profile:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    per = elapsed / options.requests
    print(
        f"{options.parser} (head cache {options.head_cache}): {options.requests} requests in {elapsed:.2f} s = {1 / per:,.0f} req/s "
        f"({per * 1e6:.1f} us each), {transport.writes / options.requests:.2f} writes per response"
    )


if __name__ == "__main__":
    main()
