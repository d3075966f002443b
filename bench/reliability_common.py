"""What soak.py, memory.py and idle.py share: a server subprocess and /proc readings."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
APP = BENCH / "reliability_app.py"


def raise_fd_limit(wanted: int) -> int:
    """Raise this process's soft RLIMIT_NOFILE towards ``wanted``; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if new > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """``python -m aiohttpbase`` in its own session, stopped by its own PID."""

    def __init__(self, args: list[str], fd_limit: int = 4096) -> None:
        self.port = free_port()
        self.command = [sys.executable, "-m", "aiohttpbase", "--bind", "127.0.0.1", *args, str(self.port)]
        limit = fd_limit

        def child_setup() -> None:
            _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(limit, hard), hard))

        # stderr to a file, not a pipe: a pipe nobody drains fills up with access lines
        # after a few minutes and then blocks the server's writes (and its event loop).
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            self.command,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=self.stderr,
            preexec_fn=child_setup,
            start_new_session=True,
        )
        self.pid = self.proc.pid
        self._wait_ready()

    def _wait_ready(self, limit: float = 20) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stderr.seek(0)
                raise RuntimeError(f"server exited: {self.stderr.read().decode()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("server did not start listening in time")

    def status(self) -> dict[str, int]:
        """VmRSS and VmHWM (KiB), thread count and open fds of the server process."""
        fields: dict[str, int] = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "Threads"):
                fields[key] = int(value.split()[0])
        fields["fds"] = len(os.listdir(f"/proc/{self.pid}/fd"))
        return fields

    def rss_mib(self) -> float:
        return self.status()["VmRSS"] / 1024

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.stderr.close()


def get(port: int, path: str = "/", timeout: float = 5) -> tuple[int, bytes, float]:
    """One ``GET`` on a new connection: (status, body, seconds)."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
    return status, body, time.monotonic() - start


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")
