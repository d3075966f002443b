"""Shared fixtures: servers on 127.0.0.1 with an OS-chosen port, clients with timeouts."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aiohttpbase import HTTPServer, ServerConfig, ThreadingHTTPServer
from aiohttpbase._parsers import PARSERS


class RunningServer:
    """A server serving forever in a background thread."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.host, self.port = server.server_address[:2]
        self.thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(10)
        assert not self.thread.is_alive(), "serve_forever did not return after shutdown()"
        self.server.server_close()

    def connection(self, timeout: float = 10) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def raw(self, data: bytes, timeout: float = 5) -> bytes:
        """Send ``data`` on a fresh connection and read until the server closes it."""
        with socket.create_connection((self.host, self.port), timeout=timeout) as sock:
            sock.sendall(data)
            return recv_all(sock)


def stop_process_groups(started: list[subprocess.Popen[Any]]) -> None:
    """Stop every process a test started, and what is left of the process group each led
    (workers a failed test left behind)."""
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


def read_until_closed(sock: socket.socket, limit: float, must_close: bool = True) -> bytes:
    """What the server sends until it closes the connection, waiting at most ``limit`` s.

    A reset counts as a close (an abortive close after a refusal is allowed).  A server
    still open after ``limit`` fails the test, unless ``must_close`` is False: then what
    arrived until then is returned.
    """
    chunks: list[bytes] = []
    deadline = time.monotonic() + limit
    while True:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        except TimeoutError:
            if must_close:
                raise AssertionError(
                    f"the server did not close the connection within {limit} s; "
                    f"got {b''.join(chunks)[:300]!r}"
                ) from None
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def recv_all(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


@pytest.fixture(params=sorted(PARSERS))
def parser(request: Any) -> str:
    """Each test that serves runs once per parser backend."""
    return str(request.param)


#: The three ways handler code runs (README, "Three ways to run handler code").
RUN_MODES = ("inline", "thread", "async")


@pytest.fixture(params=RUN_MODES)
def run_mode(request: Any) -> str:
    """Each behaviour test that takes it runs once per run mode: ``inline`` (``HTTPServer``),
    ``thread`` (``ThreadingHTTPServer``) and ``async`` (``async def do_X`` on ``HTTPServer``);
    a test passes the ``async`` mode a handler whose methods are coroutines."""
    return str(request.param)


def server_class_for(run_mode: str) -> Any:
    return ThreadingHTTPServer if run_mode == "thread" else HTTPServer


@pytest.fixture
def serve(parser: str) -> Iterator[Callable[..., RunningServer]]:
    """``serve(Handler, server_class=HTTPServer, **kwargs)`` starts a server for one test."""
    running: list[RunningServer] = []

    def start(
        handler: Any, server_class: Any = HTTPServer, address: Any = ("127.0.0.1", 0), **kwargs: Any
    ) -> RunningServer:
        config = kwargs.pop("config", ServerConfig())
        server = RunningServer(server_class(address, handler, config=config.replace(parser=parser), **kwargs))
        running.append(server)
        return server

    yield start
    for server in running:
        server.stop()


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: Any) -> tuple[Path, Path]:
    """A self-signed certificate and key for 127.0.0.1/localhost (openssl, which
    scripts/test.sh installs)."""
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key
