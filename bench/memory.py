#!/usr/bin/env python3
"""Server memory under big transfers (issue 3's acceptance lines).

    .venv/bin/python bench/memory.py [--quick] [--cases sync,async,static,upload]

* ``sync``: a blocking handler writing SIZE bytes in 64 KiB pieces under ThreadingHTTPServer;
* ``async``: an ``async def`` handler writing them with ``await self.wfile.drain()``;
* ``static``: a SIZE-byte file served by ``aiohttpbase.SimpleHTTPRequestHandler`` (HTTPServer);

each to one client that reads at RATE (full: 1 GiB at 1 MiB/s, quick: 64 MiB at 8 MiB/s),
while another client makes a ``GET /`` every 0.25 s (its worst latency is reported);

* ``upload``: a chunked upload of UPLOAD bytes (full 256 MiB, quick 64 MiB) read by a threaded
  handler in 64 KiB pieces; the handler's SHA-256 must match the client's.

Reported: server RSS (VmRSS sampled every 0.1 s) at the start and its peak, the growth
(target < 64 MiB), and whether the bytes arrived intact.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reliability_common import ServerProcess, get

MiB = 1024 * 1024
TARGET_MIB = 64


class Sampler(threading.Thread):
    """Peak VmRSS of a server process, sampled every 0.1 s until stopped."""

    def __init__(self, server: ServerProcess) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.start_mib = server.rss_mib()
        self.peak_mib = self.start_mib
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(0.1):
            try:
                self.peak_mib = max(self.peak_mib, self.server.rss_mib())
            except OSError:
                return

    def stop(self) -> None:
        self._stop_event.set()
        self.join(2)


class Bystander(threading.Thread):
    """Another client: a ``GET /`` on a new connection every 0.25 s; worst latency."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.worst_ms = 0.0
        self.count = 0
        self.failures = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(0.25):
            try:
                status, _body, seconds = get(self.port, timeout=5)
                self.failures += status != 200
            except OSError:
                self.failures += 1
                continue
            self.count += 1
            self.worst_ms = max(self.worst_ms, seconds * 1000)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(6)


def slow_download(port: int, path: str, size: int, rate: float) -> tuple[int, float]:
    """Read the response at ``rate`` bytes/s; returns (body bytes received, seconds)."""
    start = time.monotonic()
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.settimeout(30)
        sock.connect(("127.0.0.1", port))
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(4096)
        head, _, first = head.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") or head.startswith(b"HTTP/1.0 200"), head[:100]
        received = len(first)
        tick = 0.05
        while received < size:
            # Take at most rate*tick bytes per tick: the client's pace, not the server's.
            budget = int(rate * tick)
            t0 = time.monotonic()
            while budget > 0:
                chunk = sock.recv(min(budget, 65536))
                if not chunk:
                    return received, time.monotonic() - start
                received += len(chunk)
                budget -= len(chunk)
            elapsed = time.monotonic() - t0
            if elapsed < tick:
                time.sleep(tick - elapsed)
    return received, time.monotonic() - start


def download_case(name: str, server_args: list[str], path: str, size: int, rate: float) -> dict[str, object]:
    server = ServerProcess(server_args)
    try:
        get(server.port)
        sampler = Sampler(server)
        bystander = Bystander(server.port)
        sampler.start()
        bystander.start()
        received, seconds = slow_download(server.port, path, size, rate)
        bystander.stop()
        sampler.stop()
    finally:
        server.stop()
    growth = sampler.peak_mib - sampler.start_mib
    return {
        "case": name,
        "bytes": f"{received / MiB:.0f}/{size / MiB:.0f} MiB",
        "seconds": f"{seconds:.1f}",
        "rate": f"{received / MiB / seconds:.2f} MiB/s",
        "rss start": f"{sampler.start_mib:.1f}",
        "rss peak": f"{sampler.peak_mib:.1f}",
        "growth": f"{growth:.1f}",
        "target": "met" if growth < TARGET_MIB and received == size else "MISSED",
        "other client": f"{bystander.count} ok, {bystander.failures} failed, worst {bystander.worst_ms:.1f} ms",
    }


def upload_case(size: int, parser: str) -> dict[str, object]:
    server = ServerProcess(
        ["--handler", "bench/reliability_app.py:Upload", "--threads", "8", "--parser", parser]
    )
    try:
        get(server.port)
        sampler = Sampler(server)
        sampler.start()
        digest = hashlib.sha256()
        start = time.monotonic()
        with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
            sock.sendall(
                b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            )
            piece = os.urandom(MiB)
            sent = 0
            while sent < size:
                chunk = piece[: min(len(piece), size - sent)]
                digest.update(chunk)
                # Varying chunk sizes: 1 MiB of data as 16 chunks of 64 KiB.
                for i in range(0, len(chunk), 65536):
                    part = chunk[i : i + 65536]
                    sock.sendall(b"%x\r\n%s\r\n" % (len(part), part))
                sent += len(chunk)
            sock.sendall(b"0\r\n\r\n")
            raw = b""
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                raw += data
        seconds = time.monotonic() - start
        sampler.stop()
    finally:
        server.stop()
    body = raw.partition(b"\r\n\r\n")[2].decode()
    intact = body == f"{size} {digest.hexdigest()}"
    growth = sampler.peak_mib - sampler.start_mib
    return {
        "case": "upload (chunked, threaded handler, 64 KiB reads)",
        "bytes": f"{size / MiB:.0f} MiB",
        "seconds": f"{seconds:.1f}",
        "rate": f"{size / MiB / seconds:.1f} MiB/s",
        "rss start": f"{sampler.start_mib:.1f}",
        "rss peak": f"{sampler.peak_mib:.1f}",
        "growth": f"{growth:.1f}",
        "target": "met" if growth < TARGET_MIB and intact else "MISSED",
        "other client": "bytes intact (SHA-256 matches)" if intact else f"CORRUPT: {body[:80]!r}",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="64 MiB at 8 MiB/s, 64 MiB upload")
    parser.add_argument("--cases", default="sync,async,static,upload")
    parser.add_argument("--size-mib", type=int, help="response size (default 1024, quick 64)")
    parser.add_argument("--rate-mib", type=float, help="client read rate in MiB/s (default 1, quick 8)")
    parser.add_argument("--upload-mib", type=int, help="upload size (default 256, quick 64)")
    parser.add_argument("--parser", default="auto")
    args = parser.parse_args()
    size = (args.size_mib or (64 if args.quick else 1024)) * MiB
    rate = (args.rate_mib or (8.0 if args.quick else 1.0)) * MiB
    upload = (args.upload_mib or (64 if args.quick else 256)) * MiB
    cases = args.cases.split(",")
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        common = ["--parser", args.parser]
        if "sync" in cases:
            rows.append(
                download_case(
                    "sync handler, ThreadingHTTPServer",
                    ["--handler", "bench/reliability_app.py:Mixed", "--threads", "8", *common],
                    f"/big?bytes={size}",
                    size,
                    rate,
                )
            )
        if "async" in cases:
            rows.append(
                download_case(
                    "async handler + drain(), HTTPServer",
                    ["--handler", "bench/reliability_app.py:AsyncBig", *common],
                    f"/big?bytes={size}",
                    size,
                    rate,
                )
            )
        if "static" in cases:
            with open(Path(directory) / "big.bin", "wb") as file:
                file.truncate(size)  # sparse: reads as zeros
            Path(directory, "index.html").write_bytes(b"<html><body><h1>hi!</h1></body></html>")
            rows.append(
                download_case(
                    "static file, SimpleHTTPRequestHandler, HTTPServer",
                    ["-d", directory, *common],
                    "/big.bin",
                    size,
                    rate,
                )
            )
        if "upload" in cases:
            rows.append(upload_case(upload, args.parser))
    print(f"command: {' '.join(sys.argv)}")
    columns = list(rows[0]) if rows else []
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row[c]) for c in columns) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
