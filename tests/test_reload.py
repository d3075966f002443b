"""``python -m aiohttpbase --reload``: a real file change, a real watcher (watchfiles), the
new code answering on the same port; each test kills only the processes it started."""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

APP = """\
import os
from http.server import BaseHTTPRequestHandler

from helper import VERSION


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = f"{VERSION} {os.getpid()}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
"""


def answer(port: int) -> tuple[str, int]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/")
        version, pid = conn.getresponse().read().decode().split()
        return version, int(pid)
    finally:
        conn.close()


@pytest.fixture
def reloading(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int, Path]]:
    """``--reload --handler app.py:H`` on an OS-chosen port; ``helper.py`` holds VERSION;
    stderr goes to ``stderr.log``."""
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "helper.py").write_text('VERSION = "v1"\n')
    with (tmp_path / "stderr.log").open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "aiohttpbase", "--reload", "--handler", f"{tmp_path / 'app.py'}:H",
             "-b", "127.0.0.1", "0"],
            stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=ROOT,
        )  # fmt: skip
    assert proc.stdout is not None
    banner = proc.stdout.readline()
    match = re.search(r"port (\d+)", banner)
    assert match, (banner, (tmp_path / "stderr.log").read_text())
    yield proc, int(match.group(1)), tmp_path
    if proc.poll() is None:
        proc.kill()
        proc.communicate(timeout=10)
    # The child serving for it is in its own process group, and gets SIGTERM when its
    # parent dies (Linux); wait for that rather than leave it behind.


def wait_for_version(port: int, version: str, timeout: float = 20) -> int:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError, ValueError):
            seen, pid = answer(port)
            if seen == version:
                return pid
        assert time.monotonic() < deadline, f"{version} never answered"
        time.sleep(0.1)


def test_a_changed_file_is_served_by_a_new_process(
    reloading: tuple[subprocess.Popen[str], int, Path],
) -> None:
    proc, port, directory = reloading
    version, first = answer(port)
    assert version == "v1" and first != proc.pid
    # A module the handler imports changes: the child restarts and the new code answers,
    # on the same port (the parent holds the socket).
    (directory / "helper.py").write_text('VERSION = "v2"\n')
    second = wait_for_version(port, "v2")
    assert second not in (first, proc.pid)
    with pytest.raises(ProcessLookupError):  # the old child is gone
        os.kill(first, 0)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    err = (directory / "stderr.log").read_text()
    assert proc.returncode == 0, err
    assert "reload: watching Python files in" in err and "helper.py: restarting" in err
    with pytest.raises(ProcessLookupError):
        os.kill(second, 0)


def test_a_broken_file_waits_for_the_fix(reloading: tuple[subprocess.Popen[str], int, Path]) -> None:
    proc, port, directory = reloading
    assert answer(port)[0] == "v1"
    (directory / "helper.py").write_text("VERSION = (\n")  # a syntax error: the child exits
    log = directory / "stderr.log"
    deadline = time.monotonic() + 20
    while "starts again when a file changes" not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    assert "SyntaxError" in log.read_text()
    (directory / "helper.py").write_text('VERSION = "v3"\n')
    wait_for_version(port, "v3")
    proc.send_signal(signal.SIGINT)  # Ctrl-C: the stdlib's line, once, and exit 0
    out, _err = proc.communicate(timeout=30)
    assert proc.returncode == 0, log.read_text()
    assert out.count("Keyboard interrupt received, exiting.") == 1, out


def test_reload_refuses_workers_and_needs_watchfiles() -> None:
    def run(*args: str, code: str = "") -> subprocess.CompletedProcess[str]:
        command = [
            sys.executable,
            "-c",
            f"{code}import sys; from aiohttpbase.cli import main; sys.exit(main())",
        ]
        return subprocess.run([*command, *args], capture_output=True, text=True, timeout=30, cwd=ROOT)

    result = run("--reload", "--workers", "2", "0")
    assert result.returncode == 2
    assert result.stderr.strip().endswith("--reload serves from one child process: drop --workers")
    result = run("--reload-dir", ".", "0")
    assert result.returncode == 2 and "--reload-dir needs --reload" in result.stderr
    # As if the reload extra were not installed: a one-line error naming it.
    result = run("--reload", "0", code="import sys; sys.modules['watchfiles'] = None; ")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        "python -m aiohttpbase: error: --reload needs watchfiles: pip install 'aiohttpbase[reload]'"
    )
