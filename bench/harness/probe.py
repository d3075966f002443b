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
    sent = b"u" * workload.upload_size if workload.upload_size else (workload.probe_body or workload.body)
    timeout_s = max(timeout_s, workload.request_timeout_s)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        headers = dict(workload.headers + workload.probe_headers)
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


def check_static(port: int, path: str, size: int, last_modified: str, timeout_s: float = 5.0) -> str | None:
    """static-mix: ``GET path`` must answer 200 with ``size`` bytes and that ``Last-Modified``;
    the same with ``If-Modified-Since: last_modified`` must answer 304 with no body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        conn.request("GET", path)
        plain = conn.getresponse()
        body = plain.read()
        conn.request("GET", path, headers={"If-Modified-Since": last_modified})
        conditional = conn.getresponse()
        again = conditional.read()
    except (OSError, http.client.HTTPException) as exc:
        return f"GET {path}: {type(exc).__name__}: {exc}"
    finally:
        conn.close()
    if plain.status != 200 or len(body) != size:
        return f"GET {path}: status {plain.status}, {len(body)} bytes, expected 200 and {size}"
    if plain.headers.get("Last-Modified") != last_modified:
        return f"GET {path}: Last-Modified {plain.headers.get('Last-Modified')!r}, expected {last_modified!r}"
    if conditional.status != 304 or again:
        return f"GET {path} If-Modified-Since: status {conditional.status}, {len(again)} bytes, expected 304"
    return None
