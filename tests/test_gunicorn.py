"""``gunicorn -k aiohttpbase.workers.GunicornWorker``: the real gunicorn, real requests.

Each test starts gunicorn in a session of its own on 127.0.0.1 (an OS-chosen port, read
from gunicorn's "Listening at" line), serving a handler module written to ``tmp_path``,
and at the end kills only that process group if anything of it is still alive.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from gunicorn.config import KNOWN_SETTINGS  # the test extra installs gunicorn

from tests.conftest import stop_process_groups

ROOT = Path(__file__).resolve().parent.parent
WORKER = "aiohttpbase.workers.GunicornWorker"
# A gunicorn with a control socket (27 has one) opens it in ~/.gunicorn by default: one path for every test
# running side by side, and a thread in the arbiter while it forks.  Off here.
HAS_CONTROL_SOCKET = any(setting.name == "control_socket_disable" for setting in KNOWN_SETTINGS)

APP = '''\
import asyncio, os, time
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

VERSION = "{version}"


class Handler(BaseHTTPRequestHandler):
    """/slow?S awaits S seconds, /block?S holds the loop (or its thread) S seconds."""

    protocol_version = "HTTP/1.1"

    def answer(self):
        body = f"{{VERSION}} pid={{os.getpid()}}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    {kind}def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/slow":
            await asyncio.sleep(float(url.query))
        elif url.path == "/block":
            time.sleep(float(url.query))
        self.answer()


def wsgi_app(environ, start_response):
    start_response("200 OK", [])
    return [b"a WSGI app, not a handler class"]
'''


def write_app(directory: Path, version: str = "v1", threaded: bool = False) -> None:
    """``gapp.py``: async handlers by default; blocking ones (no /slow) for ``--threads``."""
    text = APP.format(version=version, kind="" if threaded else "async ")
    if threaded:
        text = text.replace("            await asyncio.sleep(float(url.query))\n", "            pass\n")
    (directory / "gapp.py").write_text(text)


class Gunicorn:
    """A running gunicorn arbiter: its process, port and log."""

    def __init__(self, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.proc = proc
        self.log = log
        self.port = 0

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 15, count: int = 1) -> list[re.Match[str]]:
        deadline = time.monotonic() + timeout
        while True:
            found = list(re.finditer(pattern, self.output()))
            if len(found) >= count:
                return found
            assert self.proc.poll() is None or time.monotonic() < deadline, self.output()
            assert time.monotonic() < deadline, f"no {pattern!r} in:\n{self.output()}"
            time.sleep(0.05)

    def get(self, path: str = "/", headers: dict[str, str] | None = None) -> tuple[int, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        try:
            conn.request("GET", path, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.read().decode()
        finally:
            conn.close()

    def pid(self, path: str = "/") -> int:
        status, body = self.get(path)
        assert status == 200, body
        return int(body.rpartition("pid=")[2])

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)


@pytest.fixture
def start_gunicorn(tmp_path: Path) -> Iterator[Callable[..., Gunicorn]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(*args: str, app: str = "gapp:Handler", wait: bool = True) -> Gunicorn:
        log = tmp_path / f"gunicorn-{len(started)}.log"
        extra = ["--no-control-socket"] if HAS_CONTROL_SOCKET else []
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with log.open("wb") as output:
            proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-k", WORKER, "-b", "127.0.0.1:0", "--chdir", str(tmp_path),
                 "--log-level", "info", *extra, *args, app],
                stdout=output, stderr=subprocess.STDOUT, cwd=tmp_path, env=env,
                start_new_session=True,  # a process group of its own: cleanup kills exactly it
            )  # fmt: skip
        started.append(proc)
        running = Gunicorn(proc, log)
        if wait:
            listening = running.wait_for(r"Listening at: http://127\.0\.0\.1:(\d+)")[0]
            running.port = int(listening.group(1))
            running.wait_for(r"Booting worker with pid")
        return running

    yield start
    stop_process_groups(started)


def in_thread(call: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    result: list[Any] = []

    def run() -> None:
        try:
            result.append(call())
        except Exception as exc:  # reported by the test's assertion
            result.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def test_serves_a_handler_class_with_gunicorn_settings(
    start_gunicorn: Callable[..., Gunicorn], tmp_path: Path
) -> None:
    write_app(tmp_path)
    access = tmp_path / "access.log"
    server = start_gunicorn(
        "--keep-alive", "1", "--access-logfile", str(access),
        "--access-logformat", '%(h)s "%(r)s" %(s)s %(b)s "%(a)s" %({x-test}i)s %(p)s %(o)s',
    )  # fmt: skip
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/a?x=1", headers={"User-Agent": "tester/1", "X-Test": "yes"})
    first = conn.getresponse()
    assert first.status == 200 and first.read().startswith(b"v1 pid=")
    conn.request("GET", "/b")  # the same connection: kept alive
    assert conn.getresponse().read().startswith(b"v1 pid=")
    sock = conn.sock
    assert sock is not None
    # --keep-alive 1: the idle connection is closed by the server a second later.
    sock.settimeout(5)
    started = time.monotonic()
    assert sock.recv(1) == b""
    assert 0.5 < time.monotonic() - started < 3.5
    conn.close()
    assert server.stop() == 0
    lines = access.read_text().splitlines()
    pid = int(lines[0].rpartition("<")[2].partition(">")[0])
    assert lines[0] == f'127.0.0.1 "GET /a?x=1 HTTP/1.1" 200 {len(f"v1 pid={pid}")} "tester/1" yes <{pid}> -'
    assert lines[1].startswith('127.0.0.1 "GET /b HTTP/1.1" 200 ')


def test_a_wsgi_app_is_refused_clearly(start_gunicorn: Callable[..., Gunicorn], tmp_path: Path) -> None:
    write_app(tmp_path)
    server = start_gunicorn(app="gapp:wsgi_app", wait=False)
    assert server.proc.wait(30) != 0
    assert "is not a BaseHTTPRequestHandler subclass" in server.output()


def test_sigterm_drains_a_request_in_flight(start_gunicorn: Callable[..., Gunicorn], tmp_path: Path) -> None:
    write_app(tmp_path)
    server = start_gunicorn("--graceful-timeout", "10")
    thread, result = in_thread(lambda: server.get("/slow?1.5"))
    time.sleep(0.5)
    server.proc.send_signal(signal.SIGTERM)
    thread.join(15)
    assert result and result[0][0] == 200 and result[0][1].startswith("v1"), result
    assert server.proc.wait(15) == 0
    assert "stopping gracefully: SIGTERM received" in server.output()


def test_graceful_timeout_bounds_the_drain(start_gunicorn: Callable[..., Gunicorn], tmp_path: Path) -> None:
    write_app(tmp_path)
    server = start_gunicorn("--graceful-timeout", "1")
    thread, result = in_thread(lambda: server.get("/slow?20"))
    time.sleep(0.5)
    started = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(15) == 0
    assert time.monotonic() - started < 5  # not the 20 s the request wanted
    thread.join(15)
    assert result and isinstance(result[0], Exception), result


def test_sighup_reloads_the_handler_code(start_gunicorn: Callable[..., Gunicorn], tmp_path: Path) -> None:
    write_app(tmp_path, "v1")
    server = start_gunicorn("-w", "2")
    status, body = server.get()
    assert status == 200 and body.startswith("v1")
    write_app(tmp_path, "v2")
    server.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 20
    while not server.get()[1].startswith("v2"):
        assert time.monotonic() < deadline, server.output()
        time.sleep(0.1)
    # The old workers drained and stopped: only v2 answers from here on.
    server.wait_for(r"Worker exiting", count=2)
    assert all(server.get()[1].startswith("v2") for _ in range(10))
    assert server.stop() == 0


@pytest.mark.parametrize("threaded", [False, True], ids=["async-handlers", "threads"])
def test_a_stop_signal_while_the_worker_starts_is_kept(
    start_gunicorn: Callable[..., Gunicorn], tmp_path: Path, threaded: bool
) -> None:
    """A reload's SIGTERM can reach a worker still importing the application, before its
    loop runs (uvloop drops a signal then) and before it has a server to stop; with its
    handlers on the loop or, with ``--threads``, on a thread pool."""
    write_app(tmp_path, threaded=threaded)
    marker = tmp_path / "signalled"
    early = (
        "import os, signal\n"
        f"if not os.path.exists({str(marker)!r}):  # only the first worker: the next one serves\n"
        f"    open({str(marker)!r}, 'w').close()\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
    )
    (tmp_path / "gapp.py").write_text(early + (tmp_path / "gapp.py").read_text())
    server = start_gunicorn("-w", "1", *(["--threads", "2"] if threaded else []))
    first = int(server.wait_for(r"Booting worker with pid: (\d+)")[0].group(1))
    server.wait_for(rf"Worker exiting \(pid: {first}\)")
    assert f"Worker {first} stopping gracefully: SIGTERM received" in server.output()
    assert server.pid() != first  # the arbiter's replacement serves
    assert server.stop() == 0


def test_max_requests_restarts_the_worker(start_gunicorn: Callable[..., Gunicorn], tmp_path: Path) -> None:
    write_app(tmp_path)
    server = start_gunicorn("-w", "1", "--max-requests", "3", "--max-requests-jitter", "0")
    first = [server.pid() for _ in range(3)]
    assert len(set(first)) == 1
    server.wait_for(r"max requests \(3\) reached")
    deadline = time.monotonic() + 15
    while True:  # the arbiter replaces the worker that left
        with contextlib.suppress(OSError):
            if server.pid() != first[0]:
                break
        assert time.monotonic() < deadline, server.output()
        time.sleep(0.1)
    assert server.stop() == 0


def test_timeout_heartbeat_and_kill(start_gunicorn: Callable[..., Gunicorn], tmp_path: Path) -> None:
    write_app(tmp_path)
    server = start_gunicorn("-w", "1", "--timeout", "2")
    pid = server.pid()
    time.sleep(3)  # idle longer than --timeout: the heartbeat keeps the worker alive
    assert server.pid() == pid
    assert "WORKER TIMEOUT" not in server.output()
    # A handler that holds the loop past --timeout gets the worker killed and replaced.
    thread, _result = in_thread(lambda: server.get("/block?6"))
    server.wait_for(r"WORKER TIMEOUT \(pid:%d\)" % pid)
    deadline = time.monotonic() + 15
    while True:
        with contextlib.suppress(OSError):
            if server.pid() != pid:
                break
        assert time.monotonic() < deadline, server.output()
        time.sleep(0.1)
    thread.join(15)
    server.stop()


def test_threads_run_blocking_handlers_side_by_side(
    start_gunicorn: Callable[..., Gunicorn], tmp_path: Path
) -> None:
    write_app(tmp_path, threaded=True)
    server = start_gunicorn("-w", "1", "--threads", "4")
    started = time.monotonic()
    calls = [in_thread(lambda: server.get("/block?1")) for _ in range(3)]
    for thread, result in calls:
        thread.join(15)
        assert result and result[0][0] == 200, result
    assert time.monotonic() - started < 2.5  # three 1 s handlers at once, not in turn
    assert server.stop() == 0


def test_importing_workers_does_not_import_gunicorn() -> None:
    code = "import sys, aiohttpbase.workers; print('gunicorn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert out.stdout.strip() == "False", out.stderr


def test_unix_socket_listener(start_gunicorn: Callable[..., Gunicorn], tmp_path: Path) -> None:
    write_app(tmp_path)
    path = tmp_path / "g.sock"
    server = start_gunicorn("-b", f"unix:{path}")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(str(path))
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 ") and b"v1 pid=" in data
    assert server.stop() == 0
