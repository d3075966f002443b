"""Worker processes (``serve_workers``) and graceful signal handling, with real processes.

Each test starts ``tests/worker_app.py`` in its own session, talks to it over 127.0.0.1,
and at the end kills only that process group if anything of it is still alive.
"""

from __future__ import annotations

import http.client
import os
import select
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aiohttpbase.workers import RestartBackoff
from tests.conftest import stop_process_groups

APP = Path(__file__).with_name("worker_app.py")

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="worker processes need fork()")
needs_reuse_port = pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="no SO_REUSEPORT here")


class App:
    """A running ``worker_app.py``: its supervisor process, port and log."""

    def __init__(
        self, proc: subprocess.Popen[bytes], port: int, log: Path, tls: ssl.SSLContext | None
    ) -> None:
        self.proc = proc
        self.port = port
        self.log = log
        self.tls = tls

    def get(self, path: str = "/", timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
        """One request on a fresh connection: ``(status, headers, body)``."""
        conn: http.client.HTTPConnection
        if self.tls is not None:
            conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout, context=self.tls)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def worker(self, path: str = "/") -> tuple[int, int]:
        """``(worker_id, pid)`` of the worker that answers ``path``."""
        status, headers, _ = self.get(path)
        assert status == 200
        return int(headers["X-Worker-Id"]), int(headers["X-Worker-Pid"])

    def observe_workers(self, count: int, timeout: float = 15) -> dict[int, int]:
        """``{worker_id: pid}`` for ``count`` distinct workers, each seen answering.

        Which worker accepts a fresh connection from the shared queue is up to the kernel,
        and with an idle server the same one may win every time.  So one worker is kept
        busy with ``/block`` (a sleep that holds its whole loop): while it is blocked, only
        the others can accept, and the quick requests made meanwhile must reach them.
        """
        seen: dict[int, int] = {}
        deadline = time.monotonic() + timeout
        while len(seen) < count:
            assert time.monotonic() < deadline, f"saw only workers {seen} in {timeout} s"
            blocked: list[tuple[int, int]] = []
            holder = threading.Thread(target=lambda: blocked.append(self.worker("/block?0.6")))
            holder.start()
            time.sleep(0.2)
            for _ in range(3):
                worker_id, pid = self.worker()
                seen[worker_id] = pid
            holder.join(10)
            assert blocked, "the /block request did not complete"
            seen[blocked[0][0]] = blocked[0][1]
        return seen

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def start_app(tmp_path: Path) -> Iterator[Callable[..., App]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(*args: str, tls: ssl.SSLContext | None = None) -> App:
        log = tmp_path / f"app-{len(started)}.log"
        with log.open("wb") as stderr:
            proc = subprocess.Popen(
                [sys.executable, str(APP), *args],
                stdout=subprocess.PIPE,
                stderr=stderr,
                start_new_session=True,  # a process group of its own, so cleanup can be exact
            )
        started.append(proc)
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 15)
        line = proc.stdout.readline().decode() if ready else ""
        assert line.startswith("PORT "), f"no port from the app: {line!r}\n{log.read_text()}"
        return App(proc, int(line.split()[1]), log, tls)

    yield start
    stop_process_groups(started)
    for proc in started:
        assert proc.stdout is not None
        proc.stdout.close()


def parent_of(pid: int) -> int:
    """The parent PID from /proc (Linux); -1 where there is no /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return -1
    return int(stat.rpartition(")")[2].split()[1])


def is_gone(pid: int) -> bool:
    """Whether ``pid`` no longer runs (a zombie awaiting its reaper counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] in ("Z", "X")
    except OSError:
        return True


def wait_until_gone(pids: list[int], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not all(is_gone(pid) for pid in pids):
        assert time.monotonic() < deadline, f"still running: {[p for p in pids if not is_gone(p)]}"
        time.sleep(0.05)


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def slow_request(app: App, seconds: float) -> tuple[threading.Thread, list[Any]]:
    """Start ``GET /slow?seconds`` in a thread; the list receives its result or exception."""
    result: list[Any] = []

    def run() -> None:
        try:
            result.append(app.get(f"/slow?{seconds}"))
        except Exception as exc:  # reported by the test's assertion
            result.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


# -- tests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [[], ["--threading"]], ids=["inline", "threading"])
def test_two_workers_both_serve(start_app: Callable[..., App], mode: list[str]) -> None:
    app = start_app("--workers", "2", *mode)
    workers = app.observe_workers(2)
    assert sorted(workers) == [0, 1]
    assert len(set(workers.values())) == 2
    for pid in workers.values():
        assert pid != app.proc.pid
        assert parent_of(pid) in (app.proc.pid, -1)
    # The supervisor itself never answers: every response names one of the two workers,
    # and the environment variable agrees with server.worker_id.
    for _ in range(20):
        status, headers, _ = app.get()
        assert status == 200
        assert (int(headers["X-Worker-Id"]), int(headers["X-Worker-Pid"])) in workers.items()
        assert headers["X-Worker-Env"] == headers["X-Worker-Id"]


def test_worker_killed_with_sigkill_is_replaced(start_app: Callable[..., App]) -> None:
    app = start_app("--workers", "2")
    before = app.observe_workers(2)
    victim = before[0]
    assert parent_of(victim) in (app.proc.pid, -1), "only a worker of our own app may be killed"
    os.kill(victim, signal.SIGKILL)
    wait_until_gone([victim])

    # Service never stops: the survivor answers while the replacement starts ...
    for _ in range(5):
        assert app.worker()[1] != victim
    # ... and the replacement takes slot 0, as a new process of the same supervisor.
    after = app.observe_workers(2)
    assert after[1] == before[1]
    assert after[0] not in (victim, before[1])
    assert parent_of(after[0]) in (app.proc.pid, -1)
    assert app.proc.poll() is None
    assert "worker 0 (pid %d) died unexpectedly (killed by SIGKILL)" % victim in app.output()


@pytest.mark.parametrize("mode", [[], ["--threading"]], ids=["inline", "threading"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_workers_gracefully(start_app: Callable[..., App], mode: list[str], signum: int) -> None:
    app = start_app("--workers", "2", *mode)
    workers = app.observe_workers(2)
    thread, result = slow_request(app, 0.8)
    time.sleep(0.3)  # the request is in a worker's hands now
    app.proc.send_signal(signum)

    thread.join(10)
    assert not thread.is_alive()
    status, headers, body = result[0]  # an exception here means the request was cut
    assert status == 200
    assert body.startswith(b"pid=") and body.endswith(b"path=/slow?0.8\n")
    assert int(headers["X-Worker-Pid"]) in workers.values()

    assert app.proc.wait(15) == 0, app.output()
    wait_until_gone(list(workers.values()))
    assert refused(app.port)


def test_sigterm_single_process_drains_and_exits_zero(start_app: Callable[..., App]) -> None:
    app = start_app("--workers", "0")
    status, headers, _ = app.get()
    assert status == 200 and headers["X-Worker-Id"] == headers["X-Worker-Env"] == "-"
    assert int(headers["X-Worker-Pid"]) == app.proc.pid
    thread, result = slow_request(app, 0.8)
    time.sleep(0.3)
    started = time.monotonic()
    app.proc.send_signal(signal.SIGTERM)

    thread.join(10)
    status, _, body = result[0]
    assert status == 200 and body.endswith(b"path=/slow?0.8\n")
    assert app.proc.wait(10) == 0, app.output()
    # Done once the request was: not after a poll interval or the whole grace period.
    assert time.monotonic() - started < 3
    assert refused(app.port)


def test_idle_workers_stop_at_once(start_app: Callable[..., App]) -> None:
    """With nothing in flight, shutdown does not wait out the grace period."""
    app = start_app("--workers", "2", "--grace", "30")
    workers = app.observe_workers(2)
    # An idle keep-alive connection must not hold a worker back either.
    idle = http.client.HTTPConnection("127.0.0.1", app.port, timeout=5)
    idle.request("GET", "/")
    idle.getresponse().read()
    started = time.monotonic()
    app.proc.send_signal(signal.SIGTERM)
    assert app.proc.wait(10) == 0, app.output()
    assert time.monotonic() - started < 3
    wait_until_gone(list(workers.values()))
    idle.close()


def test_worker_stuck_past_grace_is_killed(start_app: Callable[..., App]) -> None:
    """A worker whose loop never comes back is SIGKILLed after grace + margin; status 1."""
    app = start_app("--workers", "2", "--grace", "0.3", "--kill-margin", "0.5")
    workers = app.observe_workers(2)
    stuck = threading.Thread(target=lambda: _ignore_errors(app.get, "/block?30", 20), daemon=True)
    stuck.start()
    time.sleep(0.3)
    started = time.monotonic()
    app.proc.send_signal(signal.SIGTERM)
    assert app.proc.wait(10) == 1, app.output()
    assert time.monotonic() - started < 5
    wait_until_gone(list(workers.values()))
    assert "did not stop in time: killing it" in app.output()


@pytest.mark.parametrize(
    "watch",
    [
        "both",
        pytest.param(
            "pdeathsig",
            marks=pytest.mark.skipif(
                not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's"
            ),
        ),
        "pipe",
    ],
)
def test_workers_stop_when_the_supervisor_is_killed(start_app: Callable[..., App], watch: str) -> None:
    """A supervisor killed with SIGKILL leaves no worker serving its port (issue 14).

    ``watch`` keeps both ways a worker notices, or only Linux's parent-death signal, or
    only the portable pipe from the supervisor.
    """
    app = start_app("--workers", "2", *(["--death-watch", watch] if watch != "both" else []))
    workers = app.observe_workers(2)
    app.proc.kill()
    app.proc.wait(10)
    wait_until_gone(list(workers.values()), timeout=3)
    # Nothing listens on the port any more: it can be bound again (as the server binds it).
    with socket.socket() as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", app.port))
        again.listen()
    output = app.output()
    assert output.count("SIGTERM received: shutting down gracefully") == 2, output
    noticed = "supervisor (pid %d) is gone" % app.proc.pid
    if watch == "pipe":
        assert output.count(noticed) == 2, output
    elif watch == "pdeathsig":
        assert noticed not in output, output


@needs_reuse_port
def test_reuse_port_workers(start_app: Callable[..., App]) -> None:
    app = start_app("--workers", "2", "--reuse-port")
    # The kernel spreads connections by their addresses, so fresh connections reach both.
    seen: dict[int, int] = {}
    deadline = time.monotonic() + 15
    while len(seen) < 2:
        assert time.monotonic() < deadline, f"saw only {seen}"
        worker_id, pid = app.worker()
        seen[worker_id] = pid
    thread, result = slow_request(app, 0.5)
    time.sleep(0.2)
    app.proc.send_signal(signal.SIGTERM)
    thread.join(10)
    assert result[0][0] == 200
    assert app.proc.wait(15) == 0, app.output()
    assert refused(app.port)


@pytest.mark.parametrize(
    "mode", [[], pytest.param(["--reuse-port"], marks=needs_reuse_port)], ids=["shared", "reuse-port"]
)
def test_tls_socket_served_by_every_worker(
    start_app: Callable[..., App], certificate: tuple[Path, Path], mode: list[str]
) -> None:
    """The stdlib's ``httpd.socket = ctx.wrap_socket(...)`` survives the fork (and the rebind)."""
    cert, key = certificate
    client = ssl.create_default_context(cafile=str(cert))
    app = start_app("--workers", "2", "--tls", str(cert), str(key), *mode, tls=client)
    workers = app.observe_workers(2)
    assert sorted(workers) == [0, 1]
    thread, result = slow_request(app, 0.5)
    time.sleep(0.2)
    app.proc.send_signal(signal.SIGTERM)
    thread.join(10)
    assert result[0][0] == 200
    assert app.proc.wait(15) == 0, app.output()


def _ignore_errors(function: Callable[..., Any], *args: Any) -> None:
    try:
        function(*args)
    except Exception:
        pass


def test_restart_backoff_grows_and_resets() -> None:
    backoff = RestartBackoff(initial=0.1, maximum=1.0, stable_after=5.0)
    delays = []
    deaths = 0
    for _ in range(6):
        delay, deaths = backoff.delay(uptime=0.2, quick_deaths=deaths)
        delays.append(delay)
    assert delays == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    # A worker that ran a while and then died is replaced at once, and the count restarts.
    assert backoff.delay(uptime=60, quick_deaths=deaths) == (0.0, 0)


FORKING_APP = """
import socketserver, sys, os
sys.path.insert(0, {root!r})
import aiohttpbase

class H(aiohttpbase.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args): pass
    def do_GET(self):
        body = str(os.getpid()).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)

class Forking(socketserver.ForkingMixIn, aiohttpbase.HTTPServer):
    pass

server = Forking(("127.0.0.1", 0), H)
print("PORT", server.server_port, flush=True)
server.serve_forever()
server.server_close()
"""


def test_forking_mixin_server_prefork_workers_and_stops_on_sigterm() -> None:
    """``ForkingMixIn`` + ``aiohttpbase.HTTPServer`` pre-forks workers instead of a fork per request."""
    import subprocess as sp

    root = str(Path(__file__).resolve().parent.parent)
    proc = sp.Popen(
        [sys.executable, "-c", FORKING_APP.format(root=root)], stdout=sp.PIPE, stderr=sp.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline().split()[1])
        pids = set()
        for _ in range(10):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/")
            pids.add(int(conn.getresponse().read()))
            conn.close()
        assert proc.pid not in pids  # answered by workers, never by the supervisor
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
