#!/usr/bin/env python3
"""Soak: minutes of mixed good and hostile traffic against one aiohttpbase server (issue 5).

    .venv/bin/python bench/soak.py [--quick] [--minutes M] [--concurrency 256] [--inline]

C asyncio client tasks (default 256) run for the whole time: most are good keep-alive
clients (``GET /`` and ``POST`` echo of 1 KiB, every response checked), the rest
(``--hostile``, default 32) cycle through hostile behaviours: slowloris (one header byte
per second), malformed request lines, smuggling (CL.TE, TE.CL, obfuscated TE), clients
that disconnect mid-body, clients that request 4 MiB and never read, and half-closes.
Every 10 s the server's RSS, open descriptors (/proc/PID/fd) and thread count are
sampled.  Pass: zero failed good requests, and RSS / fds / threads flat after warm-up
(the first quarter of the run, at least 20 s).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reliability_common import ServerProcess, raise_fd_limit

HELLO = b"<html><body><h1>hi!</h1></body></html>"
POST_BODY = b"p" * 1024


class Stats:
    def __init__(self) -> None:
        self.good = 0
        self.good_failed = 0
        self.failures: list[str] = []
        self.hostile: dict[str, int] = {}


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return status, await reader.readexactly(length)


async def good_client(port: int, stop: float, stats: Stats, rng: random.Random) -> None:
    """Keep-alive GETs and POSTs; reconnect when the server closes (keep-alive timeout)."""
    while time.monotonic() < stop:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
        except (OSError, asyncio.TimeoutError) as exc:
            stats.good_failed += 1
            stats.failures.append(f"connect: {exc!r}")
            await asyncio.sleep(0.1)
            continue
        try:
            for _ in range(rng.randint(20, 200)):
                if time.monotonic() >= stop:
                    break
                post = rng.random() < 0.3
                if post:
                    writer.write(
                        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1024\r\n\r\n" + POST_BODY
                    )
                else:
                    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                status, body = await asyncio.wait_for(read_response(reader), 10)
                if status != 200 or body != (POST_BODY if post else HELLO):
                    stats.good_failed += 1
                    stats.failures.append(f"status {status}, {len(body)} bytes")
                else:
                    stats.good += 1
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError) as exc:
            stats.good_failed += 1
            stats.failures.append(repr(exc)[:200])
        finally:
            writer.close()


HIDDEN = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
MALFORMED = [
    b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
    b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
    b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n",
]
SMUGGLING = [
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n%s"
    % (5 + len(HIDDEN), HIDDEN),
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n%x\r\n%s\r\n0\r\n\r\n"
    % (len(HIDDEN), HIDDEN),
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n" + HIDDEN,
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n" + HIDDEN,
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n" + HIDDEN,
]


async def hostile_client(port: int, stop: float, stats: Stats, rng: random.Random) -> None:
    kinds = ["slowloris", "malformed", "smuggling", "mid-body", "non-reader", "half-close"]
    while time.monotonic() < stop:
        kind = rng.choice(kinds)
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
        except (OSError, asyncio.TimeoutError):
            await asyncio.sleep(0.1)
            continue
        try:
            if kind == "slowloris":
                for byte in b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 30:
                    # Stop once the server has hung up (its head deadline), or the soak ends.
                    if time.monotonic() >= stop or writer.transport.is_closing():
                        break
                    writer.write(bytes([byte]))
                    await asyncio.sleep(1.0)
            elif kind in ("malformed", "smuggling", "half-close"):
                payload = (
                    rng.choice(MALFORMED if kind == "malformed" else SMUGGLING)
                    if kind != "half-close"
                    else b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
                )
                writer.write(payload)
                if kind == "half-close" and writer.can_write_eof():
                    writer.write_eof()
                data = await asyncio.wait_for(reader.read(1 << 20), 15)
                if b"/smuggled" in data:
                    stats.failures.append("smuggled request answered")
            elif kind == "mid-body":
                writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"x" * 500)
                await writer.drain()
                await asyncio.sleep(rng.random())
            elif kind == "non-reader":
                writer.write(b"GET /big?bytes=4194304 HTTP/1.1\r\nHost: x\r\n\r\n")
                await writer.drain()
                await asyncio.sleep(rng.uniform(2, 8))
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError):
            pass
        finally:
            writer.close()
        stats.hostile[kind] = stats.hostile.get(kind, 0) + 1


async def sample(
    server: ServerProcess, stop: float, stats: Stats, interval: float, rows: list[dict[str, float]]
) -> None:
    start = time.monotonic()
    last_good = 0
    while True:
        status = server.status()
        now = time.monotonic()
        rows.append(
            {
                "t": now - start,
                "rss": status["VmRSS"] / 1024,
                "fds": status["fds"],
                "threads": status["Threads"],
                "good": stats.good,
                "rate": (stats.good - last_good) / interval if rows else 0.0,
                "failed": stats.good_failed,
            }
        )
        last_good = stats.good
        r = rows[-1]
        print(
            f"  t={r['t']:5.0f}s rss={r['rss']:6.1f} MiB fds={r['fds']:4.0f} threads={r['threads']:3.0f} "
            f"good={r['good']:8.0f} ({r['rate']:6.0f}/s) failed={r['failed']:.0f} hostile={sum(stats.hostile.values())}",
            flush=True,
        )
        if now >= stop:
            return
        await asyncio.sleep(min(interval, max(0.0, stop - now)))


async def run(
    port: int,
    server: ServerProcess,
    seconds: float,
    concurrency: int,
    hostile: int,
    stats: Stats,
    rows: list[dict[str, float]],
) -> None:
    stop = time.monotonic() + seconds
    rng = random.Random(1)
    tasks = [
        asyncio.create_task(good_client(port, stop, stats, random.Random(rng.random())))
        for _ in range(concurrency - hostile)
    ]
    tasks += [
        asyncio.create_task(hostile_client(port, stop, stats, random.Random(rng.random())))
        for _ in range(hostile)
    ]
    await sample(server, stop, stats, 10.0, rows)
    await asyncio.wait(tasks, timeout=30)
    for task in tasks:
        task.cancel()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 minute instead of 10")
    parser.add_argument("--minutes", type=float)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--hostile", type=int, default=32, help="how many of the clients are hostile")
    parser.add_argument("--inline", action="store_true", help="HTTPServer instead of ThreadingHTTPServer")
    parser.add_argument("--parser", default="auto")
    args = parser.parse_args()
    minutes = args.minutes or (1.0 if args.quick else 10.0)
    raise_fd_limit(4096)
    server_args = [
        "--handler",
        "bench/reliability_app.py:Mixed",
        "--parser",
        args.parser,
        "--timeout-header",
        "5",
        "--timeout-send",
        "5",
    ]
    if not args.inline:
        server_args += ["--threads", "64"]
    server = ServerProcess(server_args)
    stats = Stats()
    rows: list[dict[str, float]] = []
    print(f"command: {' '.join(sys.argv)}\nserver: {' '.join(server.command[1:])}", flush=True)
    try:
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:
            runner = asyncio.run
        runner(run(server.port, server, minutes * 60, args.concurrency, args.hostile, stats, rows))
        alive = server.proc.poll() is None
    finally:
        server.stop()
    warm = [r for r in rows if r["t"] >= max(20.0, minutes * 60 / 4)]
    print(
        f"\ngood requests: {stats.good} ok, {stats.good_failed} failed; hostile connections: {stats.hostile}"
    )
    for failure in stats.failures[:10]:
        print(f"  failure: {failure}")
    if warm:
        for key, unit in (("rss", "MiB"), ("fds", ""), ("threads", "")):
            values = [r[key] for r in warm]
            print(
                f"after warm-up ({len(warm)} samples): {key} min {min(values):.1f} max {max(values):.1f} {unit}"
                f" (first {values[0]:.1f}, last {values[-1]:.1f})"
            )
    print(f"server still running at the end: {alive}")
    return 0 if stats.good_failed == 0 and alive else 1


if __name__ == "__main__":
    sys.exit(main())
