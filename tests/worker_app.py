"""A small server for tests/test_workers.py, run as a separate process.

    python tests/worker_app.py [--workers N] [--threading] [--reuse-port]
                               [--grace S] [--kill-margin S] [--tls CERT KEY]
                               [--death-watch both|pdeathsig|pipe]

Binds 127.0.0.1 on an OS-chosen port, prints ``PORT <n>`` on stdout, then serves with
``serve_workers`` (or, with ``--workers 0``, in this one process with
``install_signal_handlers``), and exits with the status that returns.

Every answer carries ``X-Worker-Pid``, ``X-Worker-Id`` (``server.worker_id``) and
``X-Worker-Env`` (``$AIOHTTPBASE_WORKER_ID``) headers; ``-`` when not a worker.
Paths: ``/slow?S`` answers after S seconds without holding the loop (an awaited sleep, or a
sleep on a handler thread with ``--threading``); ``/block?S`` holds the whole worker for S
seconds (a ``time.sleep`` on the loop; with ``--threading``, same as ``/slow``); anything
else answers at once.

``--death-watch`` keeps only one of the two ways a worker notices that its supervisor died
(Linux's ``PR_SET_PDEATHSIG``, or the pipe only the supervisor holds open), to test each.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import ssl
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttpbase
from aiohttpbase import _worker_process
from aiohttpbase.workers import install_signal_handlers, serve_workers


class _Answer(aiohttpbase.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _delay(self) -> tuple[str, float]:
        url = urlsplit(self.path)
        return url.path, float(url.query or 0)

    def _answer(self) -> None:
        worker_id = getattr(self.server, "worker_id", None)
        body = f"pid={os.getpid()} worker={worker_id} path={self.path}\n".encode()
        self.send_response(200)
        self.send_header("X-Worker-Pid", str(os.getpid()))
        self.send_header("X-Worker-Id", "-" if worker_id is None else str(worker_id))
        self.send_header("X-Worker-Env", os.environ.get("AIOHTTPBASE_WORKER_ID", "-"))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        worker_id = getattr(self.server, "worker_id", None)
        sys.stderr.write(f"[worker {worker_id} pid {os.getpid()}] {format % args}\n")


class AsyncHandler(_Answer):
    """For the inline server: ``/slow`` awaits, ``/block`` stalls the worker's loop."""

    async def do_GET(self) -> None:
        path, seconds = self._delay()
        if path == "/slow":
            await asyncio.sleep(seconds)
        elif path == "/block":
            time.sleep(seconds)
        self._answer()


class ThreadedHandler(_Answer):
    """For ``ThreadingHTTPServer``: blocking sleeps on a handler thread."""

    def do_GET(self) -> None:
        path, seconds = self._delay()
        if path in ("/slow", "/block"):
            time.sleep(seconds)
        self._answer()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threading", action="store_true")
    parser.add_argument("--reuse-port", action="store_true")
    parser.add_argument("--grace", type=float, default=5.0)
    parser.add_argument("--kill-margin", type=float, default=5.0)
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), help="serve HTTPS (the wrap_socket idiom)")
    parser.add_argument("--death-watch", choices=["both", "pdeathsig", "pipe"], default="both")
    args = parser.parse_args()
    if args.death_watch == "pipe":
        _worker_process._linux_libc = lambda: None
    elif args.death_watch == "pdeathsig":
        _worker_process._watch_supervisor = lambda fd, pid: None
    logging.basicConfig(level=logging.INFO, format="%(process)d %(name)s %(levelname)s %(message)s")

    server_class = aiohttpbase.ThreadingHTTPServer if args.threading else aiohttpbase.HTTPServer
    handler = ThreadedHandler if args.threading else AsyncHandler
    config = aiohttpbase.ServerConfig(timeout_graceful_shutdown=args.grace)
    server = server_class(("127.0.0.1", 0), handler, bind_and_activate=False, config=config)
    if args.reuse_port:
        server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    server.server_bind()
    server.server_activate()
    if args.tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*args.tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print(f"PORT {server.server_port}", flush=True)

    if args.workers == 0:
        restore = install_signal_handlers(server)
        try:
            server.serve_forever(poll_interval=0.1)
        finally:
            restore()
            server.server_close()
        return 0
    return serve_workers(
        server, args.workers, reuse_port=args.reuse_port, kill_margin=args.kill_margin, poll_interval=0.2
    )


if __name__ == "__main__":
    sys.exit(main())
