"""Listening sockets made elsewhere: --uds (UNIX socket), --fd (inherited descriptor), systemd
socket activation (LISTEN_FDS), HTTPServer.from_socket; and AIOHTTPBASE_* environment variables.

Every server here is a real ``python -m aiohttpbase`` process (or a server thread for the
Python API) on loopback or a UNIX socket in a temporary directory, driven by curl or
``http.client``; every wait is bounded.
"""

from __future__ import annotations

import http.client
import os
import re
import selectors
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aiohttpbase import HTTPServer, ServerConfig, ThreadingHTTPSServer, cli
from aiohttpbase.server import inherited_socket, systemd_socket, unix_socket

ROOT = Path(__file__).resolve().parent.parent

APP = """\
import os, time
from http.server import BaseHTTPRequestHandler
class H(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def log_message(self, *args): pass
    def do_GET(self):
        if self.path == '/block': time.sleep(1.0)
        body = ('%d %s %s' % (os.getpid(), os.environ.get('LISTEN_FDS', '-'), self.server.server_name)).encode()
        self.send_response(200); self.send_header('Content-Length', str(len(body))); self.end_headers()
        self.wfile.write(body)
"""


# -- helpers ------------------------------------------------------------------------------


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory with a short path: a UNIX socket's path must stay under ~100 bytes."""
    directory = Path(tempfile.mkdtemp(prefix="ahb-", dir="/tmp"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def app(tmp_path: Path) -> str:
    path = tmp_path / "listen_app.py"
    path.write_text(APP)
    return f"{path}:H"


def start(
    *args: str,
    env: dict[str, str] | None = None,
    pass_fds: tuple[int, ...] = (),
    launcher: list[str] | None = None,
) -> tuple[subprocess.Popen[str], str]:
    """Run ``python -m aiohttpbase ARGS``; return it and its banner line."""
    command = [*(launcher or [sys.executable]), "-m", "aiohttpbase", *args]
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env=env if env is not None else _clean_env(), pass_fds=pass_fds,
    )  # fmt: skip
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        ready = selector.select(timeout=30)
    banner = proc.stdout.readline() if ready else ""
    if not banner.startswith("Serving"):
        proc.kill()
        _out, err = proc.communicate(timeout=10)
        pytest.fail(f"no banner: {banner!r} {err}")
    return proc, banner


def stop(proc: subprocess.Popen[str]) -> str:
    """SIGTERM; the process must exit 0.  Returns its stderr."""
    proc.send_signal(signal.SIGTERM)
    try:
        _out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        _out, err = proc.communicate(timeout=10)
        pytest.fail(f"did not stop on SIGTERM: {err}")
    assert proc.returncode == 0, err
    return err


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIOHTTPBASE_", "LISTEN_"))}
    env.update(extra)
    return env


def curl(*args: str) -> str:
    if shutil.which("curl") is None:
        pytest.fail("curl is required for these tests (scripts/test.sh installs it)")
    result = subprocess.run(
        ["curl", "-sS", "--max-time", "10", *args], capture_output=True, text=True, timeout=20
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def get(port: int, path: str = "/") -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        return conn.getresponse().read().decode()
    finally:
        conn.close()


def port_of(banner: str) -> int:
    match = re.search(r"port (\d+)", banner)
    assert match, banner
    return int(match.group(1))


def two_workers_answer(fetch: Any) -> set[str]:
    """Pids that answered: while one worker sleeps in /block, the other must answer."""
    pids: set[str] = set()
    deadline = time.monotonic() + 20
    while len(pids) < 2 and time.monotonic() < deadline:
        blocker = threading.Thread(target=lambda: pids.add(fetch("/block").split()[0]))
        blocker.start()
        time.sleep(0.3)
        pids |= {fetch("/").split()[0] for _ in range(3)}
        blocker.join(15)
    return pids


def listening_tcp_socket() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    return sock


# -- --uds --------------------------------------------------------------------------------


def test_uds_serves_curl_and_removes_its_file(short_dir: Path) -> None:
    (short_dir / "hello.txt").write_bytes(b"hello over a unix socket")
    path = short_dir / "s.sock"
    proc, banner = start("--uds", str(path), "-d", str(short_dir), "-p", "HTTP/1.1")
    try:
        assert f"unix socket {path}" in banner and "curl --unix-socket" in banner
        assert stat.S_ISSOCK(path.stat().st_mode)
        # Two requests on one kept-alive connection.
        out = curl("--unix-socket", str(path), "http://localhost/hello.txt", "http://localhost/hello.txt")
        assert out == "hello over a unix socket" * 2
    finally:
        err = stop(proc)
    assert not path.exists(), "the socket file outlived the server"
    assert '"GET /hello.txt HTTP/1.1" 200' in err


def test_uds_replaces_a_stale_socket_file_and_sets_its_mode(short_dir: Path, app: str) -> None:
    path = short_dir / "s.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))  # what a server killed with -9 leaves: a socket file nobody accepts on
    stale.close()
    proc, _banner = start("--handler", app, "--uds", str(path), "--uds-mode", "600")
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        pid, listen_fds, server_name = curl("--unix-socket", str(path), "http://localhost/").split()
        assert int(pid) == proc.pid and listen_fds == "-" and server_name == "localhost"
    finally:
        stop(proc)


def test_uds_refuses_a_live_socket_and_other_files(short_dir: Path, app: str) -> None:
    path = short_dir / "s.sock"
    proc, _banner = start("--handler", app, "--uds", str(path))
    try:
        second = subprocess.run(
            [sys.executable, "-m", "aiohttpbase", "--uds", str(path)],
            capture_output=True, text=True, timeout=30, env=_clean_env(), cwd=ROOT,
        )  # fmt: skip
        assert second.returncode == 1
        assert "cannot listen on unix socket" in second.stderr and "already" in second.stderr
        assert "Traceback" not in second.stderr
        assert curl("--unix-socket", str(path), "http://localhost/").split()[0] == str(proc.pid)
    finally:
        stop(proc)
    regular = short_dir / "plain.txt"
    regular.write_text("keep me")
    result = subprocess.run(
        [sys.executable, "-m", "aiohttpbase", "--uds", str(regular)],
        capture_output=True, text=True, timeout=30, env=_clean_env(), cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 1 and "not a socket" in result.stderr
    assert regular.read_text() == "keep me"


def test_uds_with_workers(short_dir: Path, app: str) -> None:
    path = short_dir / "s.sock"
    proc, _banner = start("--handler", app, "--uds", str(path), "--workers", "2")
    try:
        pids = two_workers_answer(
            lambda target: curl("--unix-socket", str(path), f"http://localhost{target}")
        )
        assert len(pids) == 2 and str(proc.pid) not in pids, pids
    finally:
        stop(proc)
    assert not path.exists()


def test_uds_with_tls(short_dir: Path, certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    (short_dir / "f.txt").write_bytes(b"secret")
    path = short_dir / "s.sock"
    proc, banner = start(
        "--uds", str(path), "-d", str(short_dir), "--tls-cert", str(cert), "--tls-key", str(key)
    )
    try:
        assert banner.startswith("Serving HTTPS on unix socket")
        assert curl("-k", "--unix-socket", str(path), "https://localhost/f.txt") == "secret"
    finally:
        stop(proc)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--uds", "SOCK", "9000"], "-b/port and --uds name different sockets"),
        (["--uds", "SOCK", "--fd", "7"], "--uds and --fd name different sockets"),
        (["--uds-mode", "600"], "--uds-mode needs --uds"),
        (["--uds", "SOCK", "--reuse-port"], "--reuse-port binds a TCP socket"),
        (["--uds-mode", "9x", "--uds", "SOCK"], "invalid octal mode value"),
    ],
)
def test_listening_options_that_contradict_are_usage_errors(
    args: list[str], message: str, short_dir: Path
) -> None:
    path = short_dir / "x.sock"
    result = subprocess.run(
        [sys.executable, "-m", "aiohttpbase", *(str(path) if arg == "SOCK" else arg for arg in args)],
        capture_output=True, text=True, timeout=30, env=_clean_env(), cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not path.exists()  # refused before anything was bound


REPORTER = """\
from http.server import BaseHTTPRequestHandler
class Reporter(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def do_GET(self):
        body = repr(self.client_address).encode()
        self.send_response(200); self.send_header('Content-Length', str(len(body))); self.end_headers()
        self.wfile.write(body)
"""


def test_uds_behind_nginx(short_dir: Path, tmp_path: Path) -> None:
    """docs/deploy/nginx.conf with the two changes docs/deployment.md gives for a UNIX
    socket: the upstream is the socket, and X-Forwarded-For is set, not appended to."""
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if binary is None:
        pytest.fail("nginx is required (scripts/test.sh and .ci/run install it)")
    (tmp_path / "reporter.py").write_text(REPORTER)
    path = short_dir / "app.sock"
    proc, _banner = start(
        "--handler", f"{tmp_path / 'reporter.py'}:Reporter", "--uds", str(path),
        "--proxy-headers", "--forwarded-allow-ips", "*",
    )  # fmt: skip
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    conf = (ROOT / "docs" / "deploy" / "nginx.conf").read_text()
    for old, new in (
        ("server 127.0.0.1:8000;", f"server unix:{path};"),
        ("X-Forwarded-For $proxy_add_x_forwarded_for;", "X-Forwarded-For $remote_addr;"),
        ("listen 127.0.0.1:8080", f"listen 127.0.0.1:{port}"),
    ):
        assert old in conf
        conf = conf.replace(old, new)
    temp = "".join(
        f"{kind}_temp_path {tmp_path}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = conf.replace("http {", "http {\n" + temp, 1)
    conf = f"daemon off; pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log; user root;\n" + conf
    (tmp_path / "nginx.conf").write_text(conf)
    nginx = subprocess.Popen(
        [binary, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")], stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and nginx.poll() is None, "nginx did not start"
                time.sleep(0.05)
        # The client speaks from 127.0.0.2 and claims to be 6.6.6.6: nginx replaces the claim.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=("127.0.0.2", 0))
        conn.request("GET", "/", headers={"X-Forwarded-For": "6.6.6.6"})
        assert conn.getresponse().read() == b"('127.0.0.2', 0)"
        conn.close()
    finally:
        nginx.terminate()
        nginx.communicate(timeout=10)
        err = stop(proc)
    assert "127.0.0.2 - - [" in err  # the access line shows the forwarded client too


# -- --fd ---------------------------------------------------------------------------------


def test_fd_serves_an_inherited_listening_socket(app: str) -> None:
    sock = listening_tcp_socket()
    port, fd = sock.getsockname()[1], sock.fileno()
    with sock:
        proc, banner = start("--handler", app, "--fd", str(fd), pass_fds=(fd,))
    # The parent has closed its copy: the child's inherited descriptor alone listens.
    try:
        assert port_of(banner) == port and f"inherited fd {fd}" in banner
        pid, _fds, _name = curl(f"http://127.0.0.1:{port}/").split()
        assert int(pid) == proc.pid
        assert get(port).split()[0] == str(proc.pid)
    finally:
        stop(proc)


def test_fd_listens_on_a_bound_socket_that_is_not_listening_yet(app: str) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    with sock:
        proc, _banner = start("--handler", app, "--fd", str(sock.fileno()), pass_fds=(sock.fileno(),))
    try:
        assert get(port).split()[0] == str(proc.pid)
    finally:
        stop(proc)


def test_fd_serves_an_inherited_unix_socket(short_dir: Path, app: str) -> None:
    path = short_dir / "parent.sock"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    sock.listen(16)
    with sock:
        proc, banner = start("--handler", app, "--fd", str(sock.fileno()), pass_fds=(sock.fileno(),))
    try:
        assert f"unix socket {path}" in banner
        assert curl("--unix-socket", str(path), "http://localhost/").split()[0] == str(proc.pid)
    finally:
        stop(proc)
    assert path.exists(), "--fd must not remove a socket file it did not make"


def test_fd_with_workers(app: str) -> None:
    sock = listening_tcp_socket()
    port = sock.getsockname()[1]
    with sock:
        proc, _banner = start(
            "--handler", app, "--fd", str(sock.fileno()), "--workers", "2", pass_fds=(sock.fileno(),)
        )
    try:
        pids = two_workers_answer(lambda target: get(port, target))
        assert len(pids) == 2 and str(proc.pid) not in pids, pids
    finally:
        stop(proc)


def test_fd_that_is_not_a_socket_is_a_clear_error() -> None:
    read_end, write_end = os.pipe()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "aiohttpbase", "--fd", str(read_end)],
            capture_output=True, text=True, timeout=30, env=_clean_env(), cwd=ROOT, pass_fds=(read_end,),
        )  # fmt: skip
    finally:
        os.close(read_end)
        os.close(write_end)
    assert result.returncode == 1
    assert (
        f"cannot listen on inherited fd {read_end}" in result.stderr and "not an open socket" in result.stderr
    )
    assert "Traceback" not in result.stderr
    closed = subprocess.run(
        [sys.executable, "-m", "aiohttpbase", "--fd", "97"],
        capture_output=True, text=True, timeout=30, env=_clean_env(), cwd=ROOT,
    )  # fmt: skip
    assert closed.returncode == 1 and "not an open socket" in closed.stderr


# -- systemd socket activation -----------------------------------------------------------


def systemd_launcher(fd: int, listen_pid: str | None = None) -> list[str]:
    """A Python that does what systemd does between fork and exec for an activated
    service: the socket moves to descriptor 3, LISTEN_FDS=1 and LISTEN_PID=<own pid> are
    set, then the service's command is executed in the same process."""
    code = (
        "import os, sys\n"
        f"if {fd} != 3:\n"
        f"    os.dup2({fd}, 3)\n"
        f"    os.close({fd})\n"
        "os.environ['LISTEN_FDS'] = '1'\n"
        f"os.environ['LISTEN_PID'] = {listen_pid!r} or str(os.getpid())\n"
        "os.execv(sys.executable, [sys.executable] + sys.argv[1:])\n"
    )
    return [sys.executable, "-c", code]


def test_systemd_socket_activation(app: str) -> None:
    sock = listening_tcp_socket()
    port = sock.getsockname()[1]
    with sock:
        proc, banner = start(
            "--handler", app, launcher=systemd_launcher(sock.fileno()), pass_fds=(sock.fileno(),)
        )
    try:
        assert port_of(banner) == port and "socket from systemd" in banner
        pid, listen_fds, _name = curl(f"http://127.0.0.1:{port}/").split()
        assert int(pid) == proc.pid
        assert listen_fds == "-", "LISTEN_FDS must not leak into the handlers' environment"
    finally:
        stop(proc)


def test_systemd_socket_activation_with_workers(app: str) -> None:
    sock = listening_tcp_socket()
    port = sock.getsockname()[1]
    with sock:
        proc, _banner = start(
            "--handler",
            app,
            "--workers",
            "2",
            launcher=systemd_launcher(sock.fileno()),
            pass_fds=(sock.fileno(),),
        )
    try:
        pids = two_workers_answer(lambda target: get(port, target))
        assert len(pids) == 2 and str(proc.pid) not in pids, pids
    finally:
        stop(proc)


def test_fd_3_named_under_systemd(app: str) -> None:
    """``--fd 3`` for the socket systemd passed: served once, and LISTEN_* still cleared."""
    sock = listening_tcp_socket()
    port = sock.getsockname()[1]
    with sock:
        proc, banner = start(
            "--handler", app, "--fd", "3", launcher=systemd_launcher(sock.fileno()), pass_fds=(sock.fileno(),)
        )
    try:
        assert port_of(banner) == port and "inherited fd 3" in banner
        for _ in range(3):  # a second owner of descriptor 3 would close it when collected
            pid, listen_fds, _name = get(port).split()
            assert int(pid) == proc.pid and listen_fds == "-"
    finally:
        stop(proc)


def test_systemd_socket_and_an_address_are_a_usage_error(app: str) -> None:
    sock = listening_tcp_socket()
    with sock:
        result = subprocess.run(
            [*systemd_launcher(sock.fileno()), "-m", "aiohttpbase", "--handler", app, "-b", "127.0.0.1", "0"],
            capture_output=True, text=True, timeout=30, env=_clean_env(), cwd=ROOT, pass_fds=(sock.fileno(),),
        )  # fmt: skip
    assert result.returncode == 2
    assert "systemd passed a socket" in result.stderr and "drop -b/port" in result.stderr


def test_listen_fds_for_another_process_are_ignored(app: str) -> None:
    sock = listening_tcp_socket()
    with sock:
        # LISTEN_PID names someone else (a shell that did not exec, say): not ours to serve.
        proc, banner = start(
            "--handler", app, "-b", "127.0.0.1", "0",
            launcher=systemd_launcher(sock.fileno(), listen_pid="1"), pass_fds=(sock.fileno(),),
        )  # fmt: skip
        try:
            assert port_of(banner) != sock.getsockname()[1] and "systemd" not in banner
            assert get(port_of(banner)).split()[0] == str(proc.pid)
        finally:
            stop(proc)


# -- the Python API -----------------------------------------------------------------------


def test_from_socket_serves_a_unix_socket_in_process(short_dir: Path) -> None:
    from tests.handlers import Hello

    path = short_dir / "api.sock"
    server = HTTPServer.from_socket(
        unix_socket(path, mode=0o600), Hello, config=ServerConfig(access_log=None)
    )
    assert server.server_address == str(path)
    assert (server.server_name, server.server_port) == ("localhost", 80)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        with socket.socket(socket.AF_UNIX) as client:
            client.settimeout(10)
            client.connect(str(path))
            client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := client.recv(65536):
                data += chunk
        assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"hi!</h1></body></html>")
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()
    assert path.exists()  # unix_socket() leaves removing the file to its caller


def test_from_socket_keeps_the_constructors_keywords(short_dir: Path, certificate: tuple[Path, Path]) -> None:
    from tests.handlers import Hello

    cert, key = certificate
    sock = listening_tcp_socket()
    server = ThreadingHTTPSServer.from_socket(sock, Hello, certfile=str(cert), keyfile=str(key))
    try:
        assert server.socket is sock and server.ssl_context is not None
        assert server.server_port == sock.getsockname()[1]
        assert server.certfile == str(cert) and server.alpn_protocols == ["http/1.1"]  # as 3.14's
    finally:
        server.server_close()
    assert sock.fileno() == -1  # the server owned it
    with pytest.raises(ValueError, match="stream socket"), socket.socket(type=socket.SOCK_DGRAM) as udp:
        HTTPServer.from_socket(udp, Hello)


def test_inherited_socket_checks_what_it_is_given() -> None:
    read_end, write_end = os.pipe()
    try:
        with pytest.raises(OSError, match="not an open socket"):
            inherited_socket(read_end)
        os.fstat(read_end)  # still open: not ours to close
    finally:
        os.close(read_end)
        os.close(write_end)
    with socket.socket() as unbound, pytest.raises(OSError, match="not bound"):
        inherited_socket(unbound.fileno())
    with socket.socket(type=socket.SOCK_DGRAM) as udp, pytest.raises(OSError, match="not a stream socket"):
        udp.bind(("127.0.0.1", 0))
        inherited_socket(udp.fileno())


def test_systemd_socket_reads_and_clears_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LISTEN_PID", "1")  # another process's
    monkeypatch.setenv("LISTEN_FDS", "1")
    monkeypatch.setenv("LISTEN_FDNAMES", "web")
    assert systemd_socket() is None
    assert not {"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} & set(os.environ)
    monkeypatch.setenv("LISTEN_PID", str(os.getpid()))
    monkeypatch.setenv("LISTEN_FDS", "2")
    with pytest.raises(ValueError, match="2 sockets"):
        systemd_socket(unset_environment=False)
    assert os.environ["LISTEN_FDS"] == "2"
    monkeypatch.setenv("LISTEN_FDS", "0")
    assert systemd_socket() is None
    assert systemd_socket() is None  # nothing set at all


# -- AIOHTTPBASE_* environment variables ------------------------------------------------


def parse(argv: list[str], **environ: str) -> Any:
    return cli.parse_args(argv, {"AIOHTTPBASE_" + name: value for name, value in environ.items()})


def test_every_option_has_an_environment_variable() -> None:
    names = {cli.env_name(action) for action in cli.build_parser()._actions} - {None}
    for expected in ("PORT", "BIND", "DIRECTORY", "HANDLER", "WORKERS", "UDS", "FD", "TLS_CERT",
                     "TIMEOUT_KEEP_ALIVE", "MAX_HEADER_BYTES", "PROXY_HEADERS", "NO_ACCESS_LOG", "LOG_LEVEL"):  # fmt: skip
        assert "AIOHTTPBASE_" + expected in names
    fields = {f.name.upper() for f in ServerConfig.__dataclass_fields__.values()}
    assert {"AIOHTTPBASE_" + name for name in fields} <= names


def test_environment_fills_what_the_command_line_leaves_out() -> None:
    args = parse([], PORT="9001", BIND="127.0.0.1", TIMEOUT_KEEP_ALIVE="75", THREADS="8", PROXY_HEADERS="yes",
                 WORKERS="3", LOG_LEVEL="warning", UDS_MODE="")  # fmt: skip
    assert (args.port, args.bind, args.workers, args.log_level) == (9001, "127.0.0.1", 3, "warning")
    config = cli.config_from_args(args)
    assert (config.timeout_keep_alive, config.threads, config.proxy_headers) == (75.0, 8, True)
    assert args.uds_mode is None  # empty is unset


def test_command_line_wins_over_the_environment() -> None:
    args = parse(["--timeout-keep-alive", "2", "--no-proxy-headers", "9002"],
                 TIMEOUT_KEEP_ALIVE="75", PROXY_HEADERS="1", PORT="9001")  # fmt: skip
    config = cli.config_from_args(args)
    assert args.port == 9002 and config.timeout_keep_alive == 2.0 and config.proxy_headers is False
    assert cli.config_from_args(parse([], NO_ACCESS_LOG="1")).access_log is None
    assert cli.config_from_args(parse(["--access-log", "a.log"], NO_ACCESS_LOG="1")).access_log == "a.log"
    assert parse([], REUSE_PORT="on").reuse_port is True and parse([], REUSE_PORT="off").reuse_port is False


def test_a_listening_socket_on_the_command_line_sets_aside_other_kinds_from_the_environment() -> None:
    args = parse(["--uds", "/tmp/a.sock"], PORT="9001", BIND="127.0.0.1", UDS_MODE="660")
    assert (args.uds, args.uds_mode, args.port, args.bind) == ("/tmp/a.sock", 0o660, None, None)
    args = parse(["9003"], BIND="127.0.0.1", UDS="/tmp/a.sock")  # same kind: combined
    assert (args.port, args.bind, args.uds) == (9003, "127.0.0.1", None)
    args = parse([], FD="5", PORT="9001")  # both from the environment: make_server refuses
    assert (args.fd, args.port) == (5, 9001)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"PORT": "http"}, "AIOHTTPBASE_PORT='http': not a valid int"),
        ({"TIMEOUT_KEEP_ALIVE": "soon"}, "AIOHTTPBASE_TIMEOUT_KEEP_ALIVE='soon': not a valid float"),
        ({"PROXY_HEADERS": "maybe"}, "AIOHTTPBASE_PROXY_HEADERS='maybe': use 1/true/yes/on"),
        ({"LOG_LEVEL": "loud"}, "AIOHTTPBASE_LOG_LEVEL='loud': choose from debug"),
    ],
)
def test_bad_environment_values_name_the_variable(
    environ: dict[str, str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse([], **environ)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_unknown_variables_are_warned_about(capsys: pytest.CaptureFixture[str]) -> None:
    parse([], TIMOUT_KEEP_ALIVE="5", WORKER_ID="1")
    err = capsys.readouterr().err
    assert "AIOHTTPBASE_TIMOUT_KEEP_ALIVE is not an aiohttpbase option" in err and "WORKER_ID" not in err


def test_environment_variables_configure_a_real_server(app: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = _clean_env(AIOHTTPBASE_BIND="127.0.0.1", AIOHTTPBASE_PORT=str(port), AIOHTTPBASE_HANDLER=app,
                     AIOHTTPBASE_TIMEOUT_KEEP_ALIVE="0.3")  # fmt: skip
    proc, banner = start(env=env)
    try:
        assert f"127.0.0.1 port {port}" in banner
        assert curl(f"http://127.0.0.1:{port}/").split()[0] == str(proc.pid)
        assert _idle_connection_closed_within(port, 3.0)
    finally:
        stop(proc)
    # The flag wins: a keep-alive timeout of 30 s keeps the idle connection open.
    proc, banner = start("--timeout-keep-alive", "30", env=env)
    try:
        assert not _idle_connection_closed_within(port, 1.0)
    finally:
        stop(proc)


def _idle_connection_closed_within(port: int, seconds: float) -> bool:
    """Make one keep-alive request, then wait up to ``seconds`` for the server to close."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = sock.recv(65536)
            assert chunk, response
            response += chunk
        head, _, body = response.partition(b"\r\n\r\n")
        length = int(re.search(rb"Content-Length: (\d+)", head).group(1))  # type: ignore[union-attr]
        while len(body) < length:
            chunk = sock.recv(65536)
            assert chunk, response
            body += chunk
        sock.settimeout(seconds)
        try:
            return sock.recv(1) == b""
        except TimeoutError:
            return False
