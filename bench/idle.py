#!/usr/bin/env python3
"""Idle keep-alive connections held by one aiohttpbase process: RSS per connection, and
the latency of new requests meanwhile (issue 4: 10,000 connections, <= 10 KiB each,
a new request answered in < 20 ms).

    .venv/bin/python bench/idle.py [--quick] [--connections N] [--threaded]

Each connection makes one keep-alive ``GET /`` (answered) and then stays idle; the
server's deadlines are raised so that none is closed during the run.  RSS is the
server's VmRSS after all connections are idle minus VmRSS after one warm-up request.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reliability_common import ServerProcess, get, percentile, raise_fd_limit

REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def open_idle(port: int, count: int, limit: float) -> list[socket.socket]:
    """``count`` connections, each answered once and then left idle (bounded by ``limit`` s)."""
    socks: list[socket.socket] = []
    deadline = time.monotonic() + limit
    batch = 200
    while len(socks) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(socks)} connections within {limit} s")
        group = []
        for _ in range(min(batch, count - len(socks))):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(REQUEST)
            group.append(sock)
        for sock in group:
            data = b""
            while not data.endswith(b"</html>"):
                chunk = sock.recv(4096)
                if not chunk:
                    raise SystemExit("the server closed an idle connection early")
                data += chunk
        socks.extend(group)
    return socks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 connections instead of 10,000")
    parser.add_argument("--connections", type=int, help="idle connections to hold")
    parser.add_argument(
        "--threaded", action="store_true", help="serve with ThreadingHTTPServer (--threads 64)"
    )
    parser.add_argument("--parser", default="auto", help="request parser backend")
    args = parser.parse_args()
    count = args.connections or (2000 if args.quick else 10_000)
    fd_limit = raise_fd_limit(count + 1024)
    if fd_limit < count + 64:
        raise SystemExit(f"RLIMIT_NOFILE allows {fd_limit} descriptors, need {count + 64}")
    server_args = [
        "--handler",
        "bench/reliability_app.py:Mixed",
        "--parser",
        args.parser,
        "--timeout-keep-alive",
        "600",
        "--timeout-header",
        "600",
    ]
    if args.threaded:
        server_args += ["--threads", "64"]
    server = ServerProcess(server_args, fd_limit=count + 1024)
    socks: list[socket.socket] = []
    try:
        for _ in range(20):
            get(server.port)
        time.sleep(0.5)
        before = server.status()
        start = time.monotonic()
        socks = open_idle(server.port, count, limit=120)
        opened = time.monotonic() - start
        time.sleep(1.0)
        after = server.status()
        latencies = []
        for _ in range(100):
            status, _body, seconds = get(server.port)
            assert status == 200, status
            latencies.append(seconds * 1000)
            time.sleep(0.01)
        # A request on one of the idle keep-alive connections.
        sock = socks[len(socks) // 2]
        t = time.monotonic()
        sock.sendall(REQUEST)
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        reuse_ms = (time.monotonic() - t) * 1000
        final = server.status()
    finally:
        for sock in socks:
            sock.close()
        server.stop()
    per_conn = (after["VmRSS"] - before["VmRSS"]) / count
    p50, p99, worst = percentile(latencies, 0.5), percentile(latencies, 0.99), max(latencies)
    print(f"command: {' '.join(sys.argv)}")
    print(f"server: {' '.join(server.command[1:])}")
    print(f"connections held: {count} (opened and answered in {opened:.1f} s)")
    print(
        f"server RSS: {before['VmRSS'] / 1024:.1f} MiB before, {after['VmRSS'] / 1024:.1f} MiB with "
        f"{count} idle -> {per_conn:.2f} KiB per connection (target <= 10 KiB: "
        f"{'met' if per_conn <= 10 else 'MISSED'})"
    )
    print(
        f"server fds: {before['fds']} -> {after['fds']}; threads: {before['Threads']} -> {after['Threads']}"
    )
    print(
        f"new request meanwhile (new connection each, 100 sequential): p50 {p50:.2f} ms, p99 {p99:.2f} ms, "
        f"max {worst:.2f} ms (target < 20 ms: {'met' if p99 < 20 else 'MISSED'})"
    )
    print(
        f"request on an idle keep-alive connection: {reuse_ms:.2f} ms; final RSS {final['VmRSS'] / 1024:.1f} MiB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
