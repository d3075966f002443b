#!/usr/bin/env python3
"""Show what the varied workloads really send: run each one's wrk script against a recording server.

    python3 bench/sample_requests.py [--workloads varied-get,varied-post,keepalive-mix,static-mix]
                                     [--seconds 2] [--show 2]

A small asyncio server on 127.0.0.1 reads every request (head, then ``Content-Length`` bytes of
body), answers ``200 ok`` (with ``Connection: close`` and a close when asked) and records the
heads. Then it prints, per workload: how many requests came and how many distinct heads, head
sizes and field counts, body sizes, the share of ``Connection: close`` and ``If-Modified-Since``
requests, how concentrated the paths are, and a few heads in full. Needs ``wrk``; standard
library only otherwise. Loopback only; each workload runs ``--seconds`` and stops.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import static_tree, wrk
from harness.workloads import WORKLOADS

DEFAULT = ("varied-get", "varied-post", "keepalive-mix", "static-mix")


class Recorder:
    def __init__(self) -> None:
        self.heads: list[bytes] = []
        self.bodies: list[int] = []
        self.short_bodies = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                fields = head.split(b"\r\n")[1:-2]
                values = {f.partition(b":")[0].strip().lower(): f.partition(b":")[2].strip() for f in fields}
                length = int(values.get(b"content-length", b"0"))
                body = await reader.readexactly(length) if length else b""
                self.heads.append(head)
                self.bodies.append(len(body))
                close = values.get(b"connection", b"").lower() == b"close"
                extra = b"Connection: close\r\n" if close else b""
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + extra + b"\r\nok")
                if close:
                    await writer.drain()
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def run_server(recorder: Recorder, ready: threading.Event, port: list[int], stop: threading.Event) -> None:
    async def main() -> None:
        server = await asyncio.start_server(recorder.serve, "127.0.0.1", 0, backlog=1024)
        port.append(server.sockets[0].getsockname()[1])
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.05)
        server.close()

    asyncio.run(main())


def spread(values: list[int]) -> str:
    return f"min {min(values):,}, median {statistics.median(values):,.0f}, max {max(values):,}"


def sample(name: str, seconds: int, show: int, scripts: Path, static: static_tree.StaticTree | None) -> None:
    workload = WORKLOADS[name]
    prelude = static.lua_prelude() if name == "static-mix" and static else None
    script = wrk.write_script(workload, scripts, prelude)
    recorder, ready, stop, port = Recorder(), threading.Event(), threading.Event(), []
    thread = threading.Thread(target=run_server, args=(recorder, ready, port, stop), daemon=True)
    thread.start()
    ready.wait(10)
    cmd = [shutil.which("wrk") or "wrk", "-t1", "-c8", f"-d{seconds}s", "-s", str(script)]
    cmd.append(f"http://127.0.0.1:{port[0]}{workload.path}")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30, check=False)
    stop.set()
    thread.join(10)
    heads = recorder.heads
    print(f"\n== {name}: {workload.description}")
    if not heads:
        print(f"no request recorded; wrk said:\n{out.stdout}{out.stderr}")
        return
    result = wrk.parse(out.stdout)
    paths = collections.Counter(h.split(b" ", 2)[1].split(b"?")[0] for h in heads)
    counts = [h.count(b"\r\n") - 2 for h in heads]
    bodies = [b for b in recorder.bodies if b]

    def share(field: bytes) -> str:
        return f"{sum(1 for h in heads if field in h.lower()) / len(heads):.1%}"

    print(f"requests recorded {len(heads):,}; distinct heads {len(set(heads)):,}")
    print(f"head bytes: {spread([len(h) for h in heads])}; header fields: {spread(counts)}")
    if bodies:
        print(f"bodies: {len(bodies):,}, {len(set(bodies))} distinct sizes, bytes {spread(bodies)}")
    print(f"Connection: close {share(b'connection: close')}; If-Modified-Since {share(b'if-modified-since')}")
    top = paths.most_common(5)
    print(
        f"distinct paths (query dropped) {len(paths):,}; the 5 most requested take "
        f"{sum(c for _, c in top) / len(heads):.1%}: " + ", ".join(p.decode() for p, _ in top)
    )
    print(f"wrk: non-2xx {result.non_2xx_3xx}, socket errors {result.socket_errors}")
    for head in heads[:: max(1, len(heads) // show)][:show]:
        print("---\n" + head.decode("latin-1").rstrip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default=",".join(DEFAULT))
    parser.add_argument("--seconds", type=int, default=2)
    parser.add_argument("--show", type=int, default=2, help="heads printed in full per workload")
    args = parser.parse_args()
    names = [n for n in args.workloads.split(",") if n]
    with tempfile.TemporaryDirectory() as scripts, tempfile.TemporaryDirectory() as files:
        static = static_tree.generate(Path(files)) if "static-mix" in names else None
        if static:
            print(f"static-mix files: {static.describe()}")
        for name in names:
            sample(name, args.seconds, args.show, Path(scripts), static)
    return 0


if __name__ == "__main__":
    sys.exit(main())
