"""The command line: a superset of python -m http.server, with clear errors and clean stops."""

from __future__ import annotations

import http.client
import http.server
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import aiohttpbase
from aiohttpbase import cli

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


def test_help_says_what_each_value_is() -> None:
    help_text = " ".join(run("--help").stdout.split())  # argparse wraps lines where it likes
    for label in ("--backlog N", "--access-log PATH", "--access-log-format FORMAT", "--forwarded-allow-ips IPS",
                  "--parser {auto,h11,httptools}", "--timeout-keep-alive SECONDS", "--header NAME:VALUE",
                  "--limit-max-requests N", "--reload-dir PATH", "--directory PATH"):  # fmt: skip
        assert label in help_text, label
    # An option with a short form: argparse names the value after each form before 3.13,
    # once after the last from 3.13 on ("-d, --directory PATH").
    for short, long, metavar in (("-d", "--directory", "PATH"), ("-H", "--header", "NAME:VALUE")):
        forms = (f"{short} {metavar}, {long} {metavar}", f"{short}, {long} {metavar}")
        assert any(form in help_text for form in forms), forms
    assert "None" not in help_text and "--max-body-bytes N largest request body in any mode; larger gets 413 " \
        "(default: no limit)" in help_text  # fmt: skip
    groups = ["where to listen:", "what to serve:", "processes:", "server settings:"]
    assert [help_text.index(group) for group in groups] == sorted(help_text.index(group) for group in groups)
    processes = help_text[help_text.index("processes:") : help_text.index("server settings:")]
    for flag in ("--workers", "--reload", "--limit-max-requests", "--limit-max-requests-jitter"):
        assert flag in processes


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


def one_line_error(result: subprocess.CompletedProcess[str], status: int = 2) -> str:
    """The single line a refused command line prints, checked to be only that."""
    assert result.returncode == status, result
    assert "Traceback" not in result.stderr and not result.stdout, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("python -m aiohttpbase: error: "), result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--threads", "0"], "argument --threads: must be 1 or more, not 0"),
        (["--workers", "0"], "argument --workers: must be 1 or more, not 0"),
        (["--workers", "-1"], "argument --workers: must be 1 or more, not -1"),
        (["--workers", "two"], "argument --workers: invalid int value: 'two'"),
        (["-b", "999.1.1.1"], "-b 999.1.1.1: not an address to listen on"),
        (
            ["-p", "HTTP/2"],
            "argument -p/--protocol: invalid choice: 'HTTP/2' (choose from HTTP/1.0, HTTP/1.1)",
        ),
        (["--timeout-keep-alive", "-1"], "argument --timeout-keep-alive: must be 0 or more, not -1"),
        (["--timeout-graceful-shutdown", "-0.5"], "must be 0 or more, not -0.5"),
        (["--max-body-bytes", "-1"], "argument --max-body-bytes: must be 0 or more, not -1"),
        (["--limit-concurrency", "0"], "argument --limit-concurrency: must be 1 or more, not 0"),
        (["--backlog", "-5"], "argument --backlog: must be 0 or more, not -5"),
        (["-d", "/nonexistent/dir"], "argument -d/--directory: no such directory: /nonexistent/dir"),
        (
            ["--parser", "nope"],
            "argument --parser: invalid choice: 'nope' (choose from auto, h11, httptools)",
        ),
        (["--cgi", "--handler", "examples/seed.py:S"], "--cgi and --handler name different handlers"),
    ],
)
def test_bad_values_are_one_line_usage_errors(args: list[str], message: str) -> None:
    line = one_line_error(run(*args, "0"))
    # Compared without quotes: Python 3.12.8 and later stopped quoting argparse's choices.
    assert message.replace("'", "") in line.replace("'", "")


def test_bad_values_from_the_environment_name_the_variable() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "aiohttpbase", "0"], capture_output=True, text=True, timeout=30,
        env={**os.environ, "AIOHTTPBASE_THREADS": "0"},
    )  # fmt: skip
    assert "AIOHTTPBASE_THREADS='0': must be 1 or more, not 0" in one_line_error(result)


def test_tls_problems_name_the_file(certificate: tuple[Path, Path], tmp_path: Path) -> None:
    cert, key = certificate
    missing = tmp_path / "missing.pem"
    other_key = tmp_path / "other-key.pem"
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(other_key)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    cases = [
        (["--tls-cert", str(missing)], f"cannot read --tls-cert {missing}: No such file or directory"),
        (["--tls-cert", str(cert), "--tls-key", str(missing)], f"cannot read --tls-key {missing}"),
        (["--tls-cert", str(cert)], f"--tls-cert {cert} holds no private key: give it with --tls-key"),
        (["--tls-cert", str(key)], f"--tls-cert {key}: no PEM certificate in it"),
        (["--tls-cert", str(cert), "--tls-key", str(cert)], f"--tls-key {cert}: no PEM private key in it"),
        (["--tls-cert", str(cert), "--tls-key", str(other_key)],
         f"--tls-key {other_key} is not the private key of --tls-cert {cert}"),
    ]  # fmt: skip
    for args, message in cases:
        assert message in one_line_error(run("-b", "127.0.0.1", *args, "0")), args


def test_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("-b", "127.0.0.1", str(port))
    line = one_line_error(result, status=1)
    assert f"cannot listen on 127.0.0.1 port {port}: Address already in use" in line


def test_a_port_past_65535_wraps_around_as_in_the_stdlib() -> None:
    """``python -m http.server 99999`` listens on 99999 - 65536; so does aiohttpbase (documented)."""
    stdlib_family, stdlib_address = http.server._get_best_family("127.0.0.1", 99999)  # type: ignore[attr-defined]
    family, address = cli._best_family("127.0.0.1", 99999)
    assert (family, address) == (stdlib_family, stdlib_address) and address[1] == 99999 - 65536


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


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_says_what_the_stdlib_says_and_exits_0(tmp_path: Path, workers: str) -> None:
    proc, port = start("-d", str(tmp_path), "--workers", workers)
    try:
        assert get(port).status == 200
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert out.endswith("\nKeyboard interrupt received, exiting.\n"), out
    assert "Traceback" not in err


CGI_SCRIPT = """\
import os, sys
body = sys.stdin.read(int(os.environ.get("CONTENT_LENGTH") or 0))
print("Content-Type: text/plain")
print("X-Script: yes")
print()
print(f"{os.environ['REQUEST_METHOD']} query={os.environ.get('QUERY_STRING')} body={body} pid={os.getpid()}")
"""


def test_cgi_runs_scripts_where_python_has_cgi(tmp_path: Path) -> None:
    if not hasattr(http.server, "CGIHTTPRequestHandler"):  # Python 3.15 removed it
        message = one_line_error(run("--cgi", "-d", str(tmp_path), "0"))
        assert "has no http.server.CGIHTTPRequestHandler (removed in 3.15)" in message
        return
    (tmp_path / "cgi-bin").mkdir()
    script = tmp_path / "cgi-bin" / "hello.py"
    script.write_text(CGI_SCRIPT)
    script.chmod(0o755)
    (tmp_path / "index.txt").write_text("static still served")
    proc, port = start("--cgi", "-d", str(tmp_path), "--threads", "4")
    try:
        answer = get(port, "/cgi-bin/hello.py?a=1")
        assert answer.status == 200 and answer.getheader("X-Script") == "yes"
        text = answer.body.decode()  # type: ignore[attr-defined]
        assert text.startswith("GET query=a=1 body= pid=") and int(text.split("pid=")[1]) != proc.pid
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", "/cgi-bin/hello.py", body=b"x=2", headers={"Content-Type": "text/plain"})
        posted = conn.getresponse()
        assert posted.status == 200 and posted.read().startswith(b"POST query= body=x=2 ")
        conn.close()
        assert get(port, "/index.txt").body == b"static still served"  # type: ignore[attr-defined]
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "CGI script exited OK" in err


PID_APP = """\
import os
from http.server import BaseHTTPRequestHandler

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = str(os.getpid()).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
"""


def answering_pids(port: int, count: int, deadline: float) -> list[int]:
    """The pid behind each of ``count`` requests, each on a new connection; a request
    refused while a worker is being replaced is tried again until ``deadline``."""
    pids: list[int] = []
    while len(pids) < count:
        try:
            pids.append(int(get(port).body))  # type: ignore[attr-defined]
        except OSError:
            assert time.monotonic() < deadline, pids
            time.sleep(0.05)
    return pids


def test_limit_max_requests_stops_a_single_process(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(PID_APP)
    proc, port = start("--handler", f"{tmp_path / 'app.py'}:H", "--limit-max-requests", "3")
    try:
        assert answering_pids(port, 3, time.monotonic() + 10) == [proc.pid] * 3
        _out, err = proc.communicate(timeout=15)  # it stops by itself
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 0 and "served 3 requests: stopping" in err, err
    with pytest.raises(ConnectionRefusedError):
        get(port)


def test_limit_max_requests_with_jitter_stops_within_the_jitter(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(PID_APP)
    proc, port = start("--handler", f"{tmp_path / 'app.py'}:H", "--limit-max-requests", "2",
                       "--limit-max-requests-jitter", "2")  # fmt: skip
    served = 0
    try:
        while proc.poll() is None and served < 10:
            try:
                get(port)
            except OSError:
                break
            served += 1
            time.sleep(0.1)  # time for the process to act on its limit
        _out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    limit = int(re.search(r"served (\d+) requests: stopping", err).group(1))  # type: ignore[union-attr]
    assert 2 <= limit <= 4 and served == limit and proc.returncode == 0, (served, err)


def test_limit_max_requests_replaces_workers(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(PID_APP)
    proc, port = start("--handler", f"{tmp_path / 'app.py'}:H", "--workers", "2", "--limit-max-requests", "2")
    try:
        pids = answering_pids(port, 12, time.monotonic() + 30)
        # Two workers with no limit would answer everything; with it, each stops after
        # about two (one more may reach it in the moment it takes to stop accepting).
        assert len(set(pids)) >= 4, pids
        assert max(pids.count(pid) for pid in pids) <= 3, pids
        assert proc.pid not in pids and proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "reached its request limit" in err and "died unexpectedly" not in err, err


def test_limit_max_requests_jitter_needs_the_limit() -> None:
    message = one_line_error(run("--limit-max-requests-jitter", "5", "0"))
    assert "--limit-max-requests-jitter needs --limit-max-requests" in message


HEADER_APP = """\
from http.server import BaseHTTPRequestHandler

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path == "/missing":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Cache-Control", "no-store")  # the handler's own wins over --header
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
"""


def test_header_adds_default_response_headers(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(HEADER_APP)
    proc, port = start("--handler", f"{tmp_path / 'app.py'}:H", "--header", "X-Frame-Options: DENY",
                       "-H", "Cache-Control:max-age=60", "--header", "X-Empty:")  # fmt: skip
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for _ in range(2):  # two responses on one connection: each gets the defaults once
            conn.request("GET", "/")
            response = conn.getresponse()
            assert response.read() == b"ok"
            assert response.msg.get_all("X-Frame-Options") == ["DENY"]
            assert response.msg.get_all("Cache-Control") == ["no-store"]
            assert response.msg.get_all("X-Empty") == [""]
        conn.close()
        error = get(port, "/missing")
        assert error.status == 404 and error.getheader("X-Frame-Options") == "DENY"
        assert error.getheader("Cache-Control") == "max-age=60"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
    assert proc.returncode == 0


def test_header_on_static_files_and_from_the_environment(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("static")
    env = {**os.environ, "AIOHTTPBASE_HEADER": "X-One: 1\nX-Two: 2\n"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "aiohttpbase", "-b", "127.0.0.1", "-d", str(tmp_path), "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        port = int(re.search(r"port (\d+)", proc.stdout.readline()).group(1))  # type: ignore[union-attr]
        for path, status in (("/a.txt", 200), ("/nope", 404)):
            response = get(port, path)
            assert response.status == status
            assert (response.getheader("X-One"), response.getheader("X-Two")) == ("1", "2")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
    assert proc.returncode == 0


@pytest.mark.parametrize(
    ("value", "message"),
    [("NoColon", "'NoColon': give NAME:VALUE"), ("Bad Name: x", "'Bad Name: x': give NAME:VALUE"),
     (":x", "':x': give NAME:VALUE")],
)  # fmt: skip
def test_bad_header_values_are_usage_errors(value: str, message: str) -> None:
    assert f"argument -H/--header: {message}" in one_line_error(run("--header", value, "0"))
