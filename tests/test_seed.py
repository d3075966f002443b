"""Acceptance: the seed document's handler and both run examples, imports changed only."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import aiohttpbase

SEED = Path(__file__).resolve().parent.parent / "examples" / "seed.py"
HI = b"<html><body><h1>hi!</h1></body></html>"
POST = b"<html><body><h1>POST!</h1></body></html>"


@pytest.fixture
def seed() -> Any:
    spec = importlib.util.spec_from_file_location("seed_example", SEED)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def loopback_server_class(started: list[Any]) -> type:
    """The seed binds ('', 8000); tests bind 127.0.0.1 and let the OS pick the port."""

    class LoopbackServer(aiohttpbase.HTTPServer):
        def __init__(self, server_address: Any, handler: Any) -> None:
            super().__init__(("127.0.0.1", 0), handler)
            started.append(self)

    return LoopbackServer


def quiet(handler: type) -> type:
    return type("QuietS", (handler,), {"log_message": lambda self, *a: None})


def curl(*args: str) -> str:
    if shutil.which("curl") is None:
        pytest.fail("curl is required for this acceptance test (.ci/run installs it)")
    result = subprocess.run(
        ["curl", "-sS", "--max-time", "5", *args], capture_output=True, timeout=10, check=True
    )
    return result.stdout.decode()


def wait_started(started: list[Any]) -> Any:
    deadline = time.monotonic() + 5
    while not started and time.monotonic() < deadline:
        time.sleep(0.01)
    return started[0]


def test_seed_run_with_serve_forever(seed: Any) -> None:
    started: list[Any] = []
    thread = threading.Thread(
        target=seed.run,
        kwargs={"server_class": loopback_server_class(started), "handler_class": quiet(seed.S)},
    )
    thread.start()
    server = wait_started(started)
    base = f"http://127.0.0.1:{server.server_port}/"
    try:
        assert curl(base) == HI.decode()
        head = curl("-I", base)
        assert head.startswith("HTTP/1.0 200 OK\r\n") and "Content-type: text/html" in head
        assert curl("-X", "POST", "-d", "a=1", base) == POST.decode()
        # Two GETs in one curl invocation (curl reuses the connection where the server allows).
        assert curl(base, base) == (HI + HI).decode()
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()


def test_seed_run_while_true_with_handle_request(seed: Any) -> None:
    started: list[Any] = []
    seed._remaining[0] = 4
    thread = threading.Thread(
        target=seed.run_while_true,
        kwargs={"server_class": loopback_server_class(started), "handler_class": quiet(seed.S)},
    )
    thread.start()
    server = wait_started(started)
    base = f"http://127.0.0.1:{server.server_port}/"
    assert curl(base) == HI.decode()
    assert curl("-I", base).startswith("HTTP/1.0 200 OK")
    assert curl("-X", "POST", "-d", "a=1", base) == POST.decode()
    assert curl(base) == HI.decode()
    thread.join(5)
    assert not thread.is_alive()  # keep_running() said stop after four requests
    server.server_close()


def test_seed_script_runs_as_is() -> None:
    """``python examples/seed.py --handle-request 1`` on the seed's own port 8000."""
    proc = subprocess.Popen([sys.executable, str(SEED), "--handle-request", "1"], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                body = curl("http://127.0.0.1:8000/")
                break
            except subprocess.CalledProcessError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        assert body == HI.decode()
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
