"""Check a server with one real request per workload before measuring it."""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Callable

from .workloads import Workload


def wait_for_port(port: int, timeout_s: float, alive: Callable[[], bool]) -> bool:
    """Poll until ``127.0.0.1:port`` accepts a TCP connection; False on timeout or if not alive()."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not alive():
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def check(port: int, workload: Workload, timeout_s: float = 5.0) -> str | None:
    """Send one request like wrk's; return None if the answer is right, else what was wrong."""
    sent = b"u" * workload.upload_size if workload.upload_size else workload.body
    timeout_s = max(timeout_s, workload.request_timeout_s)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        headers = dict(workload.headers)
        conn.request(workload.method, workload.path, body=sent or None, headers=headers)
        response = conn.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException) as exc:
        return f"{workload.method} {workload.path}: {type(exc).__name__}: {exc}"
    finally:
        conn.close()
    if response.status != 200:
        said = body[:200].decode("latin-1") if response.status == 500 else ""
        return f"{workload.method} {workload.path}: status {response.status} {said}".rstrip()
    if workload.expect_body_size is not None and len(body) != workload.expect_body_size:
        return (
            f"{workload.method} {workload.path}: body {len(body)} bytes, expected {workload.expect_body_size}"
        )
    expected = workload.expect_body
    if expected is not None and body != expected:
        what = "echoed body differs" if workload.body else f"answered {body[:40]!r}, expected {expected!r}"
        return f"{workload.method} {workload.path}: {what}"
    return None
