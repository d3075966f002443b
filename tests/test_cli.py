"""The command line: a superset of python -m http.server, with clear errors and clean stops."""

from __future__ import annotations

import http.client
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import aiohttpbase

ROOT = Path(__file__).resolve().parent.parent


def start(*args: str, cwd: Path = ROOT) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "aiohttpbase", "-b", "127.0.0.1", *args, "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd,
    )  # fmt: skip
    assert proc.stdout is not None
    banner = proc.stdout.readline()
    match = re.search(r"port (\d+)", banner)
    if match is None:
        proc.kill()
        _out, err = proc.communicate(timeout=10)
        pytest.fail(f"no banner: {banner!r} {err}")
    return proc, int(match.group(1))


def get(port: int, path: str = "/", method: str = "GET") -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request(method, path)
    response = conn.getresponse()
    response.body = response.read()  # type: ignore[attr-defined]
    conn.close()
    return response


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aiohttpbase", *args], capture_output=True, text=True, timeout=30
    )


def test_version_and_help() -> None:
    assert run("--version").stdout.strip() == f"aiohttpbase {aiohttpbase.__version__}"
    help_text = run("--help").stdout
    for flag in ("--bind", "--directory", "--protocol", "--handler", "--threads", "--workers", "--timeout-keep-alive",
                 "--max-header-bytes", "--parser", "--no-access-log", "--tls-cert", "examples:"):  # fmt: skip
        assert flag in help_text


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("nosuchmodule_xyz:Handler", "module not found: nosuchmodule_xyz"),
        ("examples/seed.py:Nope", "has no attribute 'Nope'"),
        ("examples/seed.py:run", "is not a BaseHTTPRequestHandler subclass"),
        ("missing/file.py:S", "no such file"),
        ("noclass", "must look like module:Class"),
    ],
)
def test_bad_handler_values_are_clear_errors(value: str, message: str) -> None:
    result = run("--handler", value, "0")
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_unknown_parser_is_a_clear_error() -> None:
    result = run("--parser", "nope", "0")
    assert (
        result.returncode != 0
        and "unknown parser 'nope'" in result.stderr
        and "Traceback" not in result.stderr
    )


def test_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = run("-b", "127.0.0.1", str(taken.getsockname()[1]))
    assert result.returncode == 1
    assert "cannot listen on port" in result.stderr and "Traceback" not in result.stderr


def test_serves_a_directory_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    (tmp_path / "hello.txt").write_bytes(b"hello from disk")
    proc, port = start("-d", str(tmp_path))
    try:
        response = get(port, "/hello.txt")
        assert response.body == b"hello from disk"  # type: ignore[attr-defined]
        assert response.version == 10  # HTTP/1.0, as python -m http.server
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err


def test_handler_from_a_file_keeps_its_protocol_unless_told(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(
        "from http.server import BaseHTTPRequestHandler\n"
        "class H(BaseHTTPRequestHandler):\n"
        "    protocol_version = 'HTTP/1.1'\n"
        "    def do_GET(self):\n"
        "        self.send_response(200); self.send_header('Content-Length', '2'); self.end_headers()\n"
        "        self.wfile.write(b'ok')\n"
    )
    proc, port = start("--handler", f"{app}:H", "--threads", "4")
    try:
        response = get(port)
        assert response.body == b"ok" and response.version == 11  # type: ignore[attr-defined]
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        proc.communicate(timeout=20)
    assert proc.returncode == 0


def test_workers_two_processes_serve(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(
        "import os, time\n"
        "from http.server import BaseHTTPRequestHandler\n"
        "class H(BaseHTTPRequestHandler):\n"
        "    protocol_version = 'HTTP/1.1'\n"
        "    def log_message(self, *a): pass\n"
        "    def do_GET(self):\n"
        "        if self.path == '/block': time.sleep(1.0)\n"
        "        body = str(os.getpid()).encode()\n"
        "        self.send_response(200); self.send_header('Content-Length', str(len(body))); self.end_headers()\n"
        "        self.wfile.write(body)\n"
    )
    proc, port = start("--handler", f"{app}:H", "--workers", "2")
    try:
        import threading

        # While one worker sleeps in a request, the other answers (the sleeping one's pid
        # comes back with its own answer); repeated a few times because on a loaded machine
        # the second worker may still be starting.
        pids: set[bytes] = set()
        deadline = time.monotonic() + 15
        while len(pids) < 2 and time.monotonic() < deadline:
            blocker = threading.Thread(target=lambda: pids.add(get(port, "/block").body))  # type: ignore[attr-defined]
            blocker.start()
            time.sleep(0.3)
            pids |= {get(port).body for _ in range(5)}  # type: ignore[attr-defined]
            blocker.join(10)
        assert len(pids) == 2, pids
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
