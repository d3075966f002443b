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
from tests.conftest import server_class_for


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


def https_class_for(run_mode: str) -> Any:
    return aiohttpbase.ThreadingHTTPSServer if run_mode == "thread" else aiohttpbase.HTTPSServer


def test_https_server_classes(certificate: tuple[Path, Path], parser: str, run_mode: str) -> None:
    cert, key = certificate
    server = https_class_for(run_mode)(
        ("127.0.0.1", 0),
        handlers.for_mode(handlers.Hello, run_mode),
        certfile=str(cert),
        keyfile=str(key),
        config=aiohttpbase.ServerConfig(parser=parser),
    )
    thread = serving(server)
    try:
        assert https_get(server.server_port, cert) == [handlers.BODY, handlers.BODY]
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()


def test_uploads_and_unframed_answers_over_tls(
    certificate: tuple[Path, Path], parser: str, run_mode: str
) -> None:
    """Bodies in (streamed on a thread or to a task, buffered inline) and chunked answers
    out, on one kept-alive TLS connection."""
    cert, key = certificate
    config = aiohttpbase.ServerConfig(parser=parser)
    server = https_class_for(run_mode)(
        ("127.0.0.1", 0), handlers.for_mode(handlers.Echo, run_mode), certfile=str(cert), keyfile=str(key),
        config=config,
    )  # fmt: skip
    thread = serving(server)
    try:
        conn = http.client.HTTPSConnection(
            "127.0.0.1", server.server_port, timeout=10, context=client_context(cert)
        )
        data = os.urandom(1024 * 1024 + 3)
        for body in (data, iter([data[:1000], data[1000:]])):  # sized, then chunked
            conn.request("POST", "/up", body=body, encode_chunked=not isinstance(body, bytes))
            response = conn.getresponse()
            assert (response.status, response.read()) == (200, data)
        conn.close()
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()
    other = https_class_for(run_mode)(
        ("127.0.0.1", 0), handlers.for_mode(handlers.HelloNoLength, run_mode), certfile=str(cert), keyfile=str(key),
        config=config,
    )  # fmt: skip
    thread = serving(other)
    try:
        assert https_get(other.server_port, cert) == [b"part one, part two"] * 2
    finally:
        other.shutdown()
        thread.join(5)
        other.server_close()


def test_stdlib_wrap_socket_idiom(certificate: tuple[Path, Path], run_mode: str) -> None:
    cert, key = certificate
    httpd = server_class_for(run_mode)(("127.0.0.1", 0), handlers.for_mode(handlers.Hello, run_mode))
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


@pytest.mark.parametrize(  # a static handler's methods are not async: inline or on a thread
    "server_class", [aiohttpbase.HTTPSServer, aiohttpbase.ThreadingHTTPSServer], ids=["inline", "thread"]
)
def test_files_over_tls_are_encrypted_not_sendfiled(
    certificate: tuple[Path, Path], tmp_path: Path, server_class: Any
) -> None:
    import functools

    cert, key = certificate
    data = os.urandom(2 * 1024 * 1024)
    (tmp_path / "f.bin").write_bytes(data)

    class Quiet(aiohttpbase.SimpleHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

    server = server_class(
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
