"""Run ApacheBench (``ab -k``, pinned to core 1) for one workload and parse what it reports.

``ab`` speaks HTTP/1.0; ``-k`` adds ``Connection: Keep-Alive`` and keeps a connection only for a
response that says ``Keep-Alive`` back (and carries a length). A server that keeps the connection
without saying so leaves ab waiting for the close: ab then stops with a socket timeout (``-s``) and
prints no figures, which is recorded as a failed run.
"""

from __future__ import annotations

import re
import subprocess

from .workloads import Workload
from .wrk import WRK_CORE, WrkError, WrkResult

#: ab's socket timeout in seconds: with no event on any connection for this long it gives up.
AB_SOCKET_TIMEOUT_S = 5
#: ``-t`` alone stops at 50,000 requests; a later ``-n`` lifts that, the time limit still ends it.
_AB_MAX_REQUESTS = 100_000_000


def command(ab: str, workload: Workload, port: int, concurrency: int, duration_s: int) -> list[str]:
    """``taskset -c 1 ab -k -q -r -t D -n BIG -c N -s S [-H ...] URL``."""
    cmd = ["taskset", "-c", WRK_CORE, ab, "-k", "-q", "-r", "-t", str(duration_s)]
    cmd += ["-n", str(_AB_MAX_REQUESTS), "-c", str(concurrency), "-s", str(AB_SOCKET_TIMEOUT_S)]
    for name, value in workload.headers:
        cmd += ["-H", f"{name}: {value}"]
    cmd.append(f"http://127.0.0.1:{port}{workload.path}")
    return cmd


def _field(output: str, name: str, default: str | None = None) -> str:
    match = re.search(rf"^{re.escape(name)}:\s+(\S+)", output, re.MULTILINE)
    if match:
        return match.group(1)
    if default is None:
        raise WrkError(f"no {name!r} in ab output:\n{output[-2000:]}")
    return default


def _percentile(output: str, percent: int) -> float:
    """A row of ab's "Percentage of the requests served within a certain time (ms)" table."""
    match = re.search(rf"^\s*{percent}%\s+(\d+)", output, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def parse(output: str) -> WrkResult:
    """ab's report as a :class:`WrkResult` (latency percentiles are whole milliseconds)."""
    requests = int(_field(output, "Complete requests"))
    duration_s = float(_field(output, "Time taken for tests"))
    failed = re.search(
        r"\(Connect: (\d+), Receive: (\d+), Length: (\d+), Exceptions: (\d+)\)", output
    )  # printed only when some failed
    connect, receive, length, exceptions = (int(g) for g in failed.groups()) if failed else (0, 0, 0, 0)
    longest = re.search(r"^\s*100%\s+(\d+)", output, re.MULTILINE)
    return WrkResult(
        requests=requests,
        duration_s=duration_s,
        rps=requests / duration_s if duration_s > 0 else 0.0,
        p50_ms=_percentile(output, 50),
        p90_ms=_percentile(output, 90),
        p99_ms=_percentile(output, 99),
        mean_ms=float(_field(output, "Time per request", "0")),
        max_ms=float(longest.group(1)) if longest else 0.0,
        connect_errors=connect,
        # A response whose length differs from the first one's is a wrong answer: counted with
        # receive errors and exceptions as read errors (ab names each in results.json's output).
        read_errors=receive + length + exceptions,
        write_errors=int(_field(output, "Write errors", "0")),
        timeouts=0,
        non_2xx_3xx=int(_field(output, "Non-2xx responses", "0")),
        keep_alive_requests=int(_field(output, "Keep-Alive requests", "0")),
    )


def run(ab: str, workload: Workload, port: int, concurrency: int, duration_s: int) -> tuple[WrkResult, str]:
    """Run ab once (bounded by a timeout) and return the parsed result and the raw output."""
    cmd = command(ab, workload, port, concurrency, duration_s)
    limit = duration_s + AB_SOCKET_TIMEOUT_S + 30
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=limit, check=False)
    except subprocess.TimeoutExpired as exc:
        raise WrkError(f"ab did not finish within {limit:g}s") from exc
    if proc.returncode != 0 or "Complete requests" not in proc.stdout:
        said = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1:] or ["no output"]
        hint = ""
        if "timeout" in said[0].lower():
            hint = (
                f" (no answer and no close for {AB_SOCKET_TIMEOUT_S} s: a server that keeps an HTTP/1.0"
                " connection without answering `Connection: keep-alive` leaves ab waiting for the close)"
            )
        raise WrkError(f"ab exited {proc.returncode}: {said[0]}{hint}")
    return parse(proc.stdout), proc.stdout
