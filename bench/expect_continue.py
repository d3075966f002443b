"""How long a client waits for ``100 Continue``, in each run mode (issue 10: within 50 ms).

A client that sends ``Expect: 100-continue`` holds its body back until the interim answer
comes (curl waits up to a second, then sends anyway).  For each run mode -- ``HTTPServer``
(inline), ``ThreadingHTTPServer`` (a worker thread) and an ``async def`` handler -- and
for the stdlib's ``ThreadingHTTPServer`` serving the same class as the reference, this
sends the head on a fresh connection, times the ``100 Continue``, sends the body and reads
the answer; median and worst of ``--samples`` exchanges.  Loopback only; every server is
stopped at the end.  Usage::

    python bench/expect_continue.py [--samples 200]
"""

from __future__ import annotations

import argparse
import http.server
import socket
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttpbase

HEAD = b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
INTERIM = b"HTTP/1.1 100 Continue\r\n\r\n"


class Echo(http.server.BaseHTTPRequestHandler):
    """Reads the body whole and answers its length: the stdlib's handle_expect_100 is used."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class AsyncEcho(Echo):
    async def do_POST(self) -> None:  # type: ignore[override]
        body = await self.rfile.aread(int(self.headers["Content-Length"]))  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def exchange(port: int) -> float:
    """Seconds from the head sent to the 100 Continue received; the rest checked."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        started = time.perf_counter()
        sock.sendall(HEAD)
        interim = b""
        while len(interim) < len(INTERIM):
            chunk = sock.recv(len(INTERIM) - len(interim))
            if not chunk:
                raise RuntimeError("closed before 100 Continue")
            interim += chunk
        waited = time.perf_counter() - started
        if interim != INTERIM:
            raise RuntimeError(f"not a 100 Continue: {interim!r}")
        sock.sendall(b"hello")
        answer = b""
        while not answer.endswith(b"hello"):
            chunk = sock.recv(4096)
            if not chunk:
                raise RuntimeError(f"closed early: {answer!r}")
            answer += chunk
        return waited


def measure(name: str, server: Any, samples: int) -> None:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        exchange(port)  # warm-up
        waits = sorted(exchange(port) * 1000 for _ in range(samples))
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    print(
        f"| {name} | {statistics.median(waits):.2f} | {waits[int(len(waits) * 0.99) - 1]:.2f} | "
        f"{waits[-1]:.2f} |",
        flush=True,
    )


def main() -> None:
    options = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    options.add_argument("--samples", type=int, default=200)
    samples = options.parse_args().samples
    address = ("127.0.0.1", 0)
    print(f"| server (run mode) | median ms | p99 ms | worst ms |  ({samples} exchanges each)")
    print("|---|---:|---:|---:|")
    measure("stdlib ThreadingHTTPServer (reference)", http.server.ThreadingHTTPServer(address, Echo), samples)
    measure("aiohttpbase HTTPServer (inline)", aiohttpbase.HTTPServer(address, Echo), samples)
    measure(
        "aiohttpbase ThreadingHTTPServer (thread)", aiohttpbase.ThreadingHTTPServer(address, Echo), samples
    )
    measure("aiohttpbase HTTPServer, async def (async)", aiohttpbase.HTTPServer(address, AsyncEcho), samples)


if __name__ == "__main__":
    main()
