"""In-process cost of one keep-alive request cycle, without sockets or load generator.

Feeds ``GET /`` requests through a real ``HTTPConnection`` (parser, handler bridge,
response writer) over a stand-in transport, so the figure is the server's own per-request
CPU cost and is repeatable on a noisy machine.  Usage:

    python bench/micro.py [--parser h11|httptools] [--requests N] [--profile]
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
    """Enough of a transport for one connection: counts what is written."""

    def __init__(self) -> None:
        self.written = 0
        self.writes = 0

    def write(self, data: bytes) -> None:
        self.written += len(data)
        self.writes += 1

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
    parser: str, requests: int, handler: type[http.server.BaseHTTPRequestHandler]
) -> tuple[float, NullTransport]:
    server = aiohttpbase.HTTPServer(("127.0.0.1", 0), handler, config=aiohttpbase.ServerConfig(parser=parser))
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
    args.add_argument("--requests", type=int, default=50_000)
    args.add_argument("--profile", action="store_true")
    options = args.parse_args()
    run(options.parser, 2000, HelloHandler)  # warm up
    if options.profile:
        profiler = cProfile.Profile()
        profiler.enable()
    elapsed, transport = run(options.parser, options.requests, HelloHandler)
    if options.profile:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    per = elapsed / options.requests
    print(
        f"{options.parser}: {options.requests} requests in {elapsed:.2f} s = {1 / per:,.0f} req/s "
        f"({per * 1e6:.1f} us each), {transport.writes / options.requests:.2f} writes per response"
    )


if __name__ == "__main__":
    main()
