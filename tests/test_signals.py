"""Signals to ``python -m aiohttpbase``, with real processes, real signals and real clients.

Issue 14: ``--workers`` used to leave orphans.  A supervisor killed by SIGHUP (the default
action) or SIGKILL left its workers serving the port.  Now workers stop when their supervisor
dies, SIGHUP reloads the workers without refusing a request, and SIGUSR1 reopens
``--access-log FILE`` after rotation; a single process stops gracefully on SIGHUP.

Every server runs in a session of its own; at the end of each test only that process group
is killed, if anything of it is still alive.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import stop_process_groups

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="worker processes need fork()"),
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds worker processes through /proc"),
]

APP = """\
import os, time
from pathlib import Path
from http.server import BaseHTTPRequestHandler

from appversion import VERSION  # a module of the application's, beside it


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path.startswith("/slow"):
            Path(__file__).with_name("slow-started").touch()
            time.sleep(float(self.path.partition("?")[2]))
        body = f"{VERSION} {os.getpid()}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
"""


def write_app(directory: Path, version: str) -> None:
    """The handler file, and the module beside it that it takes ``VERSION`` from."""
    (directory / "app.py").write_text(APP)
    write_version(directory, version)


def write_version(directory: Path, version: str) -> None:
    (directory / "appversion.py").write_text(f"VERSION = {version!r}\n")


class Server:
    """A running ``python -m aiohttpbase``: its (supervisor) process, port and stderr."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.proc = proc
        self.port = port
        self.log = log

    def get(self, path: str = "/", timeout: float = 10) -> tuple[int, str]:
        """One request on a fresh connection: ``(status, body)``."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read().decode()
        finally:
            conn.close()

    def workers(self) -> set[int]:
        """The live (not zombie) child processes of the supervisor."""
        return {pid for pid in children_of(self.proc.pid) if not is_gone(pid)}

    def wait_for_workers(self, count: int, timeout: float = 15) -> set[int]:
        deadline = time.monotonic() + timeout
        while True:
            workers = self.workers()
            if len(workers) == count and self.get()[0] == 200:
                return workers
            assert time.monotonic() < deadline, f"workers {workers}, wanted {count}\n{self.output()}"
            time.sleep(0.05)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_output(self, pattern: str, count: int = 1, timeout: float = 10) -> list[str]:
        """The matches of ``pattern`` in stderr, once there are ``count`` of them."""
        deadline = time.monotonic() + timeout
        while True:
            found = re.findall(pattern, self.output())
            if len(found) >= count:
                return found
            assert time.monotonic() < deadline, f"{count} x {pattern!r} not in:\n{self.output()}"
            time.sleep(0.05)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(*args: str, port: int = 0) -> Server:
        log = tmp_path / f"server-{len(started)}.log"
        with log.open("wb") as stderr:
            proc = subprocess.Popen(
                [sys.executable, "-m", "aiohttpbase", "-b", "127.0.0.1", *args, str(port)],
                stdout=subprocess.PIPE, stderr=stderr, cwd=tmp_path,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                start_new_session=True,  # a process group of its own, so cleanup can be exact
            )  # fmt: skip
        started.append(proc)
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 15)
        banner = proc.stdout.readline().decode() if ready else ""
        match = re.search(r"port (\d+)", banner)
        assert match is not None, f"no banner: {banner!r}\n{log.read_text()}"
        return Server(proc, int(match.group(1)), log)

    yield start
    stop_process_groups(started)
    for proc in started:
        assert proc.stdout is not None
        proc.stdout.close()


def children_of(pid: int) -> set[int]:
    """The processes whose parent is ``pid``, from /proc."""
    children = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
                if int(fields[1]) == pid:
                    children.add(int(entry.name))
    return children


def is_gone(pid: int) -> bool:
    """Whether ``pid`` no longer runs (a zombie awaiting its reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


def wait_until_gone(pids: set[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not all(is_gone(pid) for pid in pids):
        assert time.monotonic() < deadline, f"still running: {[p for p in pids if not is_gone(p)]}"
        time.sleep(0.05)


def slow_request(server: Server, seconds: float) -> tuple[threading.Thread, list[object]]:
    """Start ``GET /slow?seconds`` in a thread; the list receives its result or exception."""
    result: list[object] = []

    def run() -> None:
        try:
            result.append(server.get(f"/slow?{seconds}"))
        except Exception as exc:  # reported by the test's assertion
            result.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def wait_for_file(path: Path, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


class Hammer:
    """Threads that send requests, each on a fresh connection, until stopped; every
    outcome is kept (a status and body, or the exception)."""

    def __init__(self, server: Server, threads: int = 3) -> None:
        self.server = server
        self.results: list[tuple[int, str] | Exception] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(threads)]
        for thread in self._threads:
            thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.results.append(self.server.get(timeout=10))
            except Exception as exc:  # reported by the test's assertion
                self.results.append(exc)

    def stop(self) -> list[tuple[int, str] | Exception]:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)
        return self.results


def answering_workers(server: Server, count: int, timeout: float = 15) -> dict[int, str]:
    """``{pid: body}`` from ``count`` distinct workers, each seen answering.

    One worker is held with ``/slow`` (a sleep on its loop) so that quick requests made
    meanwhile must reach the others: which worker accepts is otherwise up to the kernel.
    """
    seen: dict[int, str] = {}
    deadline = time.monotonic() + timeout
    while len(seen) < count:
        assert time.monotonic() < deadline, f"saw only {seen}"
        held: list[tuple[int, str]] = []
        holder = threading.Thread(target=lambda: held.append(server.get("/slow?0.5")))
        holder.start()
        time.sleep(0.15)
        for status, body in [server.get() for _ in range(3)]:
            if status == 200:
                seen[int(body.split()[1])] = body
        holder.join(10)
        for status, body in held:
            assert status == 200
            seen[int(body.split()[1])] = body
    return seen


# -- supervisor death -------------------------------------------------------------------------


def test_workers_stop_when_supervisor_is_killed_and_port_can_be_served_again(
    serve: Callable[..., Server], tmp_path: Path
) -> None:
    """``kill -9`` of the supervisor: the workers finish what they were doing and exit
    within seconds, and a new server can take the port (issue 14's second command)."""
    write_app(tmp_path, "v1")
    server = serve("--handler", "app.py:H", "--workers", "2")
    workers = server.wait_for_workers(2)
    thread, in_flight = slow_request(server, 0.5)
    wait_for_file(tmp_path / "slow-started")
    server.proc.kill()
    server.proc.wait(10)
    thread.join(10)
    assert isinstance(in_flight[0], tuple), in_flight  # else the request was cut off
    status, body = in_flight[0]
    assert status == 200 and int(body.split()[1]) in workers
    wait_until_gone(workers, timeout=3)

    again = serve("--handler", "app.py:H", "--workers", "2", port=server.port)
    again.wait_for_workers(2)
    assert again.get()[0] == 200
    again.proc.send_signal(signal.SIGTERM)
    assert again.proc.wait(15) == 0, again.output()


# -- SIGHUP: reload -----------------------------------------------------------------------------


def test_sighup_reloads_workers_without_a_failed_request(
    serve: Callable[..., Server], tmp_path: Path
) -> None:
    """New workers (running the handler's code as it is now) start before the old ones
    drain and exit; requests sent all along are all answered."""
    write_app(tmp_path, "v1")
    server = serve("--handler", "app.py:H", "--workers", "2", "--no-access-log")
    old = server.wait_for_workers(2)
    hammer = Hammer(server)
    try:
        time.sleep(0.3)
        # Only the module the handler file imports changes: it is imported afresh too.  (Another
        # length: a .pyc of the same size and second would be taken as up to date.)
        write_version(tmp_path, "v2-reloaded")
        server.proc.send_signal(signal.SIGHUP)
        wait_until_gone(old, timeout=10)
        new = server.wait_for_workers(2)
        time.sleep(0.3)  # and a little more traffic on the new workers alone
    finally:
        results = hammer.stop()
    failures = [r for r in results if not (isinstance(r, tuple) and r[0] == 200)]
    assert not failures, f"{len(failures)} of {len(results)} requests failed: {failures[:5]}"
    versions = {r[1].split()[0] for r in results if isinstance(r, tuple)}
    assert versions == {"v1", "v2-reloaded"}, versions
    assert not new & old and server.proc.poll() is None
    assert server.output().count("SIGTERM received: shutting down gracefully") == 2

    # A worker of the new generation that dies is replaced by one running the new code too
    # (not the handler the supervisor imported at start).
    victim = min(new)
    os.kill(victim, signal.SIGKILL)
    wait_until_gone({victim}, timeout=5)
    replaced = server.wait_for_workers(2)
    seen = answering_workers(server, 2)
    assert set(seen) == replaced and victim not in seen
    assert all(body.startswith("v2-reloaded ") for body in seen.values()), seen

    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(15) == 0, server.output()
    wait_until_gone(replaced, timeout=5)


def test_sighup_with_a_broken_handler_keeps_the_old_workers(
    serve: Callable[..., Server], tmp_path: Path
) -> None:
    write_app(tmp_path, "v1")
    server = serve("--handler", "app.py:H", "--workers", "2")
    old = server.wait_for_workers(2)
    (tmp_path / "app.py").write_text("class H(:\n")  # a syntax error
    server.proc.send_signal(signal.SIGHUP)
    server.wait_for_output(r"reload failed: new worker \d \(pid \d+\) exited \(exit status 1\)")
    assert "SyntaxError" in server.output()
    assert server.wait_for_workers(2) == old
    assert server.get()[1].startswith("v1 ")

    write_app(tmp_path, "v3-fixed")
    server.proc.send_signal(signal.SIGHUP)
    wait_until_gone(old, timeout=10)
    server.wait_for_workers(2)
    assert server.get()[1].startswith("v3-fixed ")
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(15) == 0, server.output()


def test_sighup_stops_a_single_process_gracefully(serve: Callable[..., Server], tmp_path: Path) -> None:
    write_app(tmp_path, "v1")
    server = serve("--handler", "app.py:H")
    thread, in_flight = slow_request(server, 0.5)
    wait_for_file(tmp_path / "slow-started")
    server.proc.send_signal(signal.SIGHUP)
    thread.join(10)
    assert isinstance(in_flight[0], tuple) and in_flight[0][0] == 200, in_flight
    assert server.proc.wait(10) == 0, server.output()
    assert "SIGHUP received: shutting down gracefully" in server.output()


# -- SIGUSR1: reopen the access log ------------------------------------------------------------


@pytest.mark.parametrize("workers", [2, 1], ids=["workers", "single-process"])
def test_sigusr1_reopens_the_access_log(serve: Callable[..., Server], tmp_path: Path, workers: int) -> None:
    """Log rotation: after the file is renamed and SIGUSR1 sent, lines go to a new file at
    the original path, from every worker, and none to the renamed one."""
    write_app(tmp_path, "v1")
    access = tmp_path / "access.log"
    server = serve("--handler", "app.py:H", "--workers", str(workers), "--access-log", str(access))
    if workers > 1:
        server.wait_for_workers(workers)
    processes = 1 + workers if workers > 1 else 1  # the supervisor reopens its copy too

    def lines_of(path: Path, marker: str, count: int) -> list[str]:
        deadline = time.monotonic() + 10
        while True:  # an access line is written once its response is complete
            lines = [line for line in path.read_text().splitlines() if marker in line]
            if len(lines) >= count or time.monotonic() > deadline:
                return lines

    for i in range(5):
        assert server.get(f"/before-{i}")[0] == 200
    assert len(lines_of(access, "/before-", 5)) == 5
    rotated = access.rename(tmp_path / "access.log.1")
    server.proc.send_signal(signal.SIGUSR1)
    reopened = server.wait_for_output(r"access log reopened: \S+ \(pid (\d+)\)", count=processes)
    assert len(set(reopened)) == processes
    for i in range(20):
        assert server.get(f"/after-{i}")[0] == 200
    assert len(lines_of(access, "/after-", 20)) == 20
    assert len(lines_of(rotated, "/before-", 5)) == 5
    assert "/after-" not in rotated.read_text()
    assert server.proc.poll() is None
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(15) == 0, server.output()


def test_reopen_log_files_in_process(tmp_path: Path) -> None:
    """``logs.request_reopen()`` (what a signal handler calls) takes effect by the next line
    at the latest; ``logs.reopen_log_files()`` reopens at once."""
    from aiohttpbase import logs

    logger = logs.ACCESS_LOGGER
    saved = list(logger.handlers), logger.propagate, logger.level
    path = tmp_path / "access.log"
    try:
        logs.log_to_file(str(path))
        logger.info("one")
        path.rename(tmp_path / "access.log.1")
        logs.request_reopen()
        logger.info("two")  # reopens first
        assert path.read_text() == "two\n"
        path.rename(tmp_path / "access.log.2")
        assert logs.reopen_log_files() == [str(path)]
        assert path.exists()
        logger.info("three")
        assert path.read_text() == "three\n"
        assert (tmp_path / "access.log.1").read_text() == "one\n"
        assert (tmp_path / "access.log.2").read_text() == "two\n"
    finally:
        for handler in logger.handlers:
            handler.close()
        logger.handlers[:], logger.propagate = saved[0], saved[1]
        logger.setLevel(saved[2])
