"""Behind a proxy: trusted forwarding headers, and a real nginx in front of the server."""

from __future__ import annotations

import asyncio
import http.client
import http.server
import logging
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from aiohttpbase import ServerConfig
from aiohttpbase._proxy import ProxyTrust
from tests.conftest import server_class_for

CONF = Path(__file__).resolve().parent.parent / "docs" / "deploy" / "nginx.conf"


def test_untrusted_peer_cannot_set_its_address() -> None:
    trust = ProxyTrust("10.0.0.0/8")
    assert trust.client_address(("192.0.2.1", 5), [("X-Forwarded-For", "6.6.6.6")]) == ("192.0.2.1", 5)


def test_rightmost_untrusted_hop_is_the_client() -> None:
    trust = ProxyTrust("127.0.0.1, 10.0.0.0/8")
    headers = [("X-Forwarded-For", "6.6.6.6, 203.0.113.7, 10.1.2.3")]
    assert trust.client_address(("127.0.0.1", 5), headers) == ("203.0.113.7", 0)


def test_forwarded_header_and_star() -> None:
    trust = ProxyTrust("*")
    headers = [("Forwarded", 'for="[2001:db8::1]:4711";proto=https, for=192.0.2.60:1')]
    assert trust.client_address(("127.0.0.1", 5), headers) == ("2001:db8::1", 0)  # every hop trusted
    assert ProxyTrust("127.0.0.1").client_address(("127.0.0.1", 5), headers) == ("192.0.2.60", 0)


class Reporter(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/stream":
            self.send_response(200)
            self.end_headers()
            for i in range(5):
                self.wfile.write(b"piece %d\n" % i)
            return
        body = f"{self.client_address[0]} {self.connection.getpeername()[1]}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class AsyncReporter(Reporter):
    async def do_GET(self) -> None:  # type: ignore[override]
        await asyncio.sleep(0)
        Reporter.do_GET(self)


def reporter_for(run_mode: str) -> type:
    return AsyncReporter if run_mode == "async" else Reporter


class LoggedReporter(Reporter):
    log_message = http.server.BaseHTTPRequestHandler.log_message  # access lines by the server


class AsyncLoggedReporter(AsyncReporter):
    log_message = http.server.BaseHTTPRequestHandler.log_message


@pytest.mark.parametrize(
    ("trusted", "client"),
    [("127.0.0.1", "203.0.113.7"), ("10.0.0.0/8", "127.0.0.1")],
    ids=["trusted", "untrusted"],
)
def test_forwarded_client_address_reaches_the_handler_and_the_access_log(
    serve: Any, run_mode: str, tmp_path: Path, trusted: str, client: str
) -> None:
    log = tmp_path / "access.log"
    config = ServerConfig(
        proxy_headers=True, forwarded_allow_ips=trusted, access_log=str(log), access_log_format="%h %s"
    )
    try:
        handler = AsyncLoggedReporter if run_mode == "async" else LoggedReporter
        server = serve(handler, server_class_for(run_mode), config=config)
        conn = server.connection()
        for forwarded in ("203.0.113.7", "6.6.6.6, 203.0.113.7"):
            conn.request("GET", "/", headers={"X-Forwarded-For": forwarded})
            assert conn.getresponse().read().decode().split()[0] == client
        conn.request("GET", "/")  # no header on the same connection: the peer itself
        assert conn.getresponse().read().decode().split()[0] == "127.0.0.1"
        conn.close()
        deadline = time.monotonic() + 5
        while len(log.read_text().splitlines()) < 3:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.02)
        assert log.read_text().splitlines() == [f"{client} 200", f"{client} 200", "127.0.0.1 200"]
    finally:
        access = logging.getLogger("aiohttpbase.access")
        for handler in access.handlers:
            handler.close()
        access.handlers.clear()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def nginx(tmp_path: Path) -> Any:
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if binary is None:
        pytest.fail("nginx is required (scripts/test.sh and .ci/run install it)")
    processes: list[subprocess.Popen[bytes]] = []

    def start(upstream_port: int) -> int:
        port = free_port()
        conf = CONF.read_text().replace("127.0.0.1:8000", f"127.0.0.1:{upstream_port}")
        conf = conf.replace("listen 127.0.0.1:8080", f"listen 127.0.0.1:{port}")
        temp = "".join(
            f"{kind}_temp_path {tmp_path}/{kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        conf = conf.replace("http {", "http {\n" + temp, 1)
        conf = f"daemon off; pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log; user root;\n" + conf
        (tmp_path / "nginx.conf").write_text(conf)
        proc = subprocess.Popen(
            [binary, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")], stderr=subprocess.PIPE
        )
        processes.append(proc)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return port
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.05)

    yield start
    for proc in processes:
        proc.terminate()
        proc.communicate(timeout=10)


def test_through_nginx_keep_alive_upstream_forwarded_address_and_streaming(
    serve: Any, run_mode: str, nginx: Any
) -> None:
    server = serve(
        reporter_for(run_mode),
        server_class_for(run_mode),
        config=ServerConfig(proxy_headers=True, forwarded_allow_ips="127.0.0.1"),
    )
    port = nginx(server.port)
    seen = []
    for _ in range(3):
        # The client speaks from 127.0.0.2, nginx (trusted) from 127.0.0.1.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5, source_address=("127.0.0.2", 0))
        conn.request("GET", "/")
        seen.append(conn.getresponse().read().decode())
        conn.close()
    clients = {line.split()[0] for line in seen}
    upstream_ports = {line.split()[1] for line in seen}
    assert clients == {"127.0.0.2"}
    assert len(upstream_ports) == 1, f"nginx opened a new upstream connection each time: {seen}"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/stream")
    response = conn.getresponse()
    assert response.read() == b"".join(b"piece %d\n" % i for i in range(5))
    conn.close()
    assert re.fullmatch(r"\d+", next(iter(upstream_ports)))
