"""The servers under test: how each is started (pinned to core 0), checked and stopped by PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import probe
from .paths import APPS_DIR, REPO_ROOT

SERVER_CORE = "0"
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 5.0

#: The handler served by aiohttpbase, given as a path relative to the repo root (the server's cwd).
HANDLER_FILE = "bench/apps/handlers.py"
#: Where aiohttpbase servers start (``python -m aiohttpbase`` imports the package from its cwd
#: first): the repository, or a tree exported from a commit by ``use_aiohttpbase_tree``.
AIOHTTPBASE_CWD: list[Path] = [REPO_ROOT]


def use_aiohttpbase_tree(tree: Path) -> None:
    """Serve aiohttpbase from ``tree`` (holding an ``aiohttpbase/`` package), not the checkout."""
    AIOHTTPBASE_CWD[0] = tree


@dataclass(frozen=True)
class ServerSpec:
    """How to start one server under test on a given port."""

    name: str
    description: str
    argv: Callable[[int], list[str]]
    #: Needs the repository's package (skipped with a note when it is not runnable).
    aiohttpbase: bool = False
    #: Needs ``python -m aiohttpbase --parser``.
    needs_parser_flag: bool = False
    #: Only measured in these ``(workload, concurrency)`` cells unless named with ``--servers``.
    only_cells: frozenset[tuple[str, int]] | None = None
    #: Only measured in these workloads' cells unless named with ``--servers``.
    only_workloads: frozenset[str] | None = None


def _py(*args: str) -> Callable[[int], list[str]]:
    """argv for a Python program of ours in ``bench/apps`` (port appended)."""
    return lambda port: [sys.executable, str(APPS_DIR / args[0]), *args[1:], str(port)]


def _uvicorn(http: str) -> Callable[[int], list[str]]:
    return lambda port: [
        sys.executable, "-m", "uvicorn", "--http", http, "--loop", "uvloop", "--no-access-log",
        "--log-level", "warning", "--host", "127.0.0.1", "--port", str(port),
        "--app-dir", str(APPS_DIR), "asgi_app:app",
    ]  # fmt: skip


#: Extra arguments for every aiohttpbase server, filled in by :func:`aiohttpbase_status`: its CLI,
#: like ``python -m http.server``, sets the handler's ``protocol_version`` from ``--protocol``
#: (default HTTP/1.0), so keep-alive needs ``--protocol HTTP/1.1``.
AIOHTTPBASE_COMMON_ARGS: list[str] = []


def _handler_file() -> str:
    cwd = AIOHTTPBASE_CWD[0]
    return HANDLER_FILE if cwd == REPO_ROOT else str(REPO_ROOT / HANDLER_FILE)


def _aiohttpbase(handler: str, *extra: str) -> Callable[[int], list[str]]:
    return lambda port: [
        sys.executable, "-m", "aiohttpbase", "--bind", "127.0.0.1",
        "--handler", f"{_handler_file()}:{handler}", *AIOHTTPBASE_COMMON_ARGS, *extra, str(port),
    ]  # fmt: skip


_LOG_CELLS = frozenset({("hello", 64)})
#: Where aiohttpbase's other run modes (thread pool, async handler) are measured.
_RUN_MODE_WORKLOADS = frozenset({"ab-keepalive", "upload-1m", "upload-64m"})
#: ``--threads`` makes the CLI serve with a ThreadingHTTPServer; 64 is its default pool size.
THREADS = "64"
#: Where the "-parse" variants (head cache off: every request head parsed) are measured.
_PARSE_CELLS = frozenset({("hello", 64), ("hello", 256), ("headers-20", 64)})

SERVERS: dict[str, ServerSpec] = {
    s.name: s
    for s in (
        ServerSpec("stdlib", "http.server.ThreadingHTTPServer, stock", _py("stdlib_server.py")),
        ServerSpec(
            "stdlib-nodelay",
            "ThreadingHTTPServer, disable_nagle_algorithm=True, request_queue_size=1024",
            _py("stdlib_server.py", "--nodelay"),
        ),
        ServerSpec("uvicorn-h11", "uvicorn --http h11 --loop uvloop, raw ASGI app", _uvicorn("h11")),
        ServerSpec(
            "uvicorn-httptools", "uvicorn --http httptools --loop uvloop, raw ASGI app", _uvicorn("httptools")
        ),
        ServerSpec("aiohttp", "aiohttp.web minimal app on uvloop", _py("aiohttp_app.py")),
        ServerSpec("bare-h11", "bare asyncio.Protocol on uvloop, h11 parse + answer", _py("bare_h11.py")),
        ServerSpec(
            "bare-canned", "bare uvloop Protocol, canned response (loop ceiling)", _py("bare_canned.py")
        ),
        ServerSpec(
            "aiohttpbase-h11",
            "python -m aiohttpbase --parser h11, HelloHandler",
            _aiohttpbase("HelloHandler", "--parser", "h11"),
            aiohttpbase=True,
        ),
        ServerSpec(
            "aiohttpbase-httptools",
            "python -m aiohttpbase --parser httptools, HelloHandler",
            _aiohttpbase("HelloHandler", "--parser", "httptools"),
            aiohttpbase=True,
            needs_parser_flag=True,
        ),
        ServerSpec(
            "aiohttpbase-httptools-threads",
            f"aiohttpbase-httptools on a ThreadingHTTPServer (--threads {THREADS}): handlers on threads",
            _aiohttpbase("HelloHandler", "--parser", "httptools", "--threads", THREADS),
            aiohttpbase=True,
            needs_parser_flag=True,
            only_workloads=_RUN_MODE_WORKLOADS,
        ),
        ServerSpec(
            "aiohttpbase-httptools-async",
            "aiohttpbase-httptools serving AsyncHelloHandler (async def do_GET/do_POST, rfile.aread)",
            _aiohttpbase("AsyncHelloHandler", "--parser", "httptools"),
            aiohttpbase=True,
            needs_parser_flag=True,
            only_workloads=_RUN_MODE_WORKLOADS,
        ),
        ServerSpec(
            "aiohttpbase-h11-parse",
            "aiohttpbase-h11 with --head-cache 0: every request head parsed by h11",
            _aiohttpbase("HelloHandler", "--parser", "h11", "--head-cache", "0"),
            aiohttpbase=True,
            only_cells=_PARSE_CELLS,
        ),
        ServerSpec(
            "aiohttpbase-httptools-parse",
            "aiohttpbase-httptools with --head-cache 0: every request head parsed by llhttp",
            _aiohttpbase("HelloHandler", "--parser", "httptools", "--head-cache", "0"),
            aiohttpbase=True,
            needs_parser_flag=True,
            only_cells=_PARSE_CELLS,
        ),
        ServerSpec(
            "stdlib-nodelay-log",
            "stdlib-nodelay with the access log on (to a file)",
            _py("stdlib_server.py", "--nodelay", "--log"),
            only_cells=_LOG_CELLS,
        ),
        ServerSpec(
            "aiohttpbase-h11-log",
            "aiohttpbase-h11 serving LoggingHelloHandler (access log to a file)",
            _aiohttpbase("LoggingHelloHandler", "--parser", "h11"),
            aiohttpbase=True,
            only_cells=_LOG_CELLS,
        ),
        ServerSpec(
            "aiohttpbase-httptools-log",
            "aiohttpbase-httptools serving LoggingHelloHandler (access log to a file)",
            _aiohttpbase("LoggingHelloHandler", "--parser", "httptools"),
            aiohttpbase=True,
            needs_parser_flag=True,
            only_cells=_LOG_CELLS,
        ),
    )
}


def aiohttpbase_status() -> tuple[bool, bool, str]:
    """Whether ``python -m aiohttpbase`` runs, whether it offers ``--parser``, and a note."""
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "aiohttpbase", "--help"],
            capture_output=True, text=True, timeout=30, cwd=AIOHTTPBASE_CWD[0], check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return False, False, "`python -m aiohttpbase --help` did not finish in 30 s"
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return False, False, f"`python -m aiohttpbase --help` exited {proc.returncode}: {tail[0]}"
    has_parser = "--parser" in proc.stdout
    if "--protocol" in proc.stdout and "--protocol" not in AIOHTTPBASE_COMMON_ARGS:
        AIOHTTPBASE_COMMON_ARGS.extend(["--protocol", "HTTP/1.1"])
    note = "" if has_parser else "`python -m aiohttpbase --help` has no --parser: httptools variants skipped"
    return True, has_parser, note


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RunningServer:
    """One started server process. Stopped by its own PID (and its own session's group)."""

    def __init__(self, spec: ServerSpec, log_dir: Path) -> None:
        self.spec = spec
        self.port = free_port()
        self.log_path = log_dir / f"{spec.name}.log"
        self.access_log_path = log_dir / f"access-{spec.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def command(self) -> list[str]:
        return ["taskset", "-c", SERVER_CORE, *self.spec.argv(self.port)]

    def start(self) -> None:
        """Start the process (taskset execs into it, so its PID is the server's own)."""
        self.access_log_path.unlink(missing_ok=True)
        env = dict(os.environ, BENCH_ACCESS_LOG=str(self.access_log_path), PYTHONDONTWRITEBYTECODE="1")
        with open(self.log_path, "ab") as log:
            log.write(f"$ {' '.join(self.command())}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                self.command(),
                cwd=AIOHTTPBASE_CWD[0] if self.spec.aiohttpbase else REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> bool:
        """Wait until the port accepts connections (False if the process died or timed out)."""
        return probe.wait_for_port(self.port, timeout_s, self.alive)

    def log_tail(self, lines: int = 8) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM our PID, then SIGKILL it if it lingers, then anything left in its session."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT_S)
        try:  # worker children the server may have forked: its own process group, id = its PID
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc = None
