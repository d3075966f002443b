"""HTTPS: the 3.14-style classes, the stdlib wrap_socket idiom, and the command-line flags."""

from __future__ import annotations

import http.client
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import aiohttpbase
from tests import handlers


def client_context(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


def https_get(port: int, cert: Path, path: str = "/", times: int = 2) -> list[bytes]:
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=client_context(cert))
    bodies = []
    for _ in range(times):  # keep-alive over TLS
        conn.request("GET", path)
        bodies.append(conn.getresponse().read())
    conn.close()
    return bodies


def serving(server: Any) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("server_class", [aiohttpbase.HTTPSServer, aiohttpbase.ThreadingHTTPSServer])
def test_https_server_classes(certificate: tuple[Path, Path], server_class: Any) -> None:
    cert, key = certificate
    server = server_class(("127.0.0.1", 0), handlers.Hello, certfile=str(cert), keyfile=str(key))
    thread = serving(server)
    try:
        assert https_get(server.server_port, cert) == [handlers.BODY, handlers.BODY]
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()


def test_stdlib_wrap_socket_idiom(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    httpd = aiohttpbase.HTTPServer(("127.0.0.1", 0), handlers.Hello)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = serving(httpd)
    try:
        assert https_get(httpd.server_port, cert) == [handlers.BODY, handlers.BODY]
    finally:
        httpd.shutdown()
        thread.join(5)
        httpd.server_close()


def test_files_over_tls_are_encrypted_not_sendfiled(certificate: tuple[Path, Path], tmp_path: Path) -> None:
    import functools

    cert, key = certificate
    data = os.urandom(2 * 1024 * 1024)
    (tmp_path / "f.bin").write_bytes(data)

    class Quiet(aiohttpbase.SimpleHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

    server = aiohttpbase.HTTPSServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=tmp_path), certfile=str(cert), keyfile=str(key)
    )
    thread = serving(server)
    try:
        assert https_get(server.server_port, cert, "/f.bin", times=1) == [data]
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()


def test_command_line_tls_flags(certificate: tuple[Path, Path], tmp_path: Path) -> None:
    cert, key = certificate
    (tmp_path / "hello.txt").write_bytes(b"over tls")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "aiohttpbase", "-b", "127.0.0.1", "-d", str(tmp_path),
         "--tls-cert", str(cert), "--tls-key", str(key), str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                body = https_get(port, cert, "/hello.txt", times=1)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        assert body == [b"over tls"]
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=15)
    assert b"Serving HTTPS on 127.0.0.1" in out, (out, err)
