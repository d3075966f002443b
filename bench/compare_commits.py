"""aiohttpbase at two commits, side by side: is a change slower anywhere?

Both commits' ``aiohttpbase/`` are exported with ``git archive`` into temporary directories
and serve the same handler (the working tree's ``bench/apps/handlers.py:HelloHandler``), one
server at a time on core 0, ``wrk -t1`` on core 1, in interleaved rounds (the order flips
every round).  Printed: req/s per round and the median of the per-round ratios NEW/BASE,
which is what a "no cell more than 5 % slower" rule reads.  Usage::

    bench/.venv/bin/python bench/compare_commits.py BASE NEW \\
        [--parsers httptools,h11] [--cells hello,varied-get,varied-post] \\
        [--rounds 3] [--duration 5] [--connections 64]

Needs ``wrk`` and the bench virtualenv (``python3 bench/run.py --list`` creates it).
Servers are stopped by their own PIDs.  Loopback only.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
HANDLER = BENCH / "apps" / "handlers.py"
sys.path.insert(0, str(BENCH))

from harness.servers import SERVER_CORE, free_port  # noqa: E402
from harness.workloads import WORKLOADS  # noqa: E402 (bench/ on the path first)
from harness.wrk import SETTLE_AFTER_WARMUP_S, command, parse, write_script  # noqa: E402

#: The cells compared by default; any workload of ``harness.workloads`` that wrk sends works.
DEFAULT_CELLS = ("hello", "varied-get", "varied-post")


def export(revision: str, into: Path) -> str:
    """``aiohttpbase/`` as committed at ``revision``, extracted into ``into``; its short hash."""
    commit = subprocess.run(
        ["git", "rev-parse", "--verify", "--short", f"{revision}^{{commit}}"],
        capture_output=True, text=True, cwd=REPO, check=True,
    ).stdout.strip()  # fmt: skip
    archive = subprocess.run(
        ["git", "archive", commit, "aiohttpbase"], capture_output=True, cwd=REPO, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return commit


def start_server(tree: Path, parser: str, port: int) -> subprocess.Popen[bytes]:
    command = [
        "taskset", "-c", SERVER_CORE, sys.executable, "-m", "aiohttpbase", "--bind", "127.0.0.1",
        "--handler", f"{HANDLER}:HelloHandler", "--protocol", "HTTP/1.1", "--parser", parser, str(port),
    ]  # fmt: skip
    server = subprocess.Popen(
        command,
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return server
        except OSError:
            time.sleep(0.1)
    stop(server)
    raise SystemExit(f"the server of {tree} ({parser}) did not start")


def stop(server: subprocess.Popen[bytes]) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def wrk(port: int, cell: str, script: Path, seconds: int, connections: int) -> float:
    """req/s of one run of workload ``cell`` with its Lua ``script`` and path, as ``run.py``
    sends them; a run with errors or non-2xx answers is reported, not hidden."""
    workload = WORKLOADS[cell]
    output = subprocess.run(
        command("wrk", script, workload, port, connections, seconds),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result = parse(output)
    if not result.clean:
        print(
            f"  ! {cell}: {result.socket_errors} socket errors, {result.non_2xx_3xx} non-2xx/3xx", flush=True
        )
    return result.rps


def main() -> None:
    options = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    options.add_argument("base")
    options.add_argument("new")
    options.add_argument("--parsers", default="httptools,h11")
    options.add_argument("--cells", default=",".join(DEFAULT_CELLS), help="workloads of bench/run.py --list")
    options.add_argument("--rounds", type=int, default=3)
    options.add_argument(
        "--duration", type=int, default=5, help="seconds per counted run (after 1 s of warm-up)"
    )
    options.add_argument("--connections", type=int, default=64)
    args = options.parse_args()
    cells = args.cells.split(",")
    unknown = [cell for cell in cells if cell not in WORKLOADS]
    if unknown:
        options.error(f"unknown cells {', '.join(unknown)}; see bench/run.py --list")
    parsers = args.parsers.split(",")
    with (
        tempfile.TemporaryDirectory() as base_dir,
        tempfile.TemporaryDirectory() as new_dir,
        tempfile.TemporaryDirectory() as scripts,
    ):
        trees = {"base": Path(base_dir), "new": Path(new_dir)}
        script_of = {cell: write_script(WORKLOADS[cell], Path(scripts)) for cell in cells}
        commits = {"base": export(args.base, trees["base"]), "new": export(args.new, trees["new"])}
        print(
            f"base {commits['base']}, new {commits['new']}; c={args.connections}, {args.duration} s runs",
            flush=True,
        )
        rps: dict[tuple[str, str, str], list[float]] = {}
        for round_ in range(args.rounds):
            sides = ["base", "new"] if round_ % 2 == 0 else ["new", "base"]
            for cell in cells:
                for parser in parsers:
                    for side in sides:
                        port = free_port()
                        server = start_server(trees[side], parser, port)
                        try:
                            wrk(port, cell, script_of[cell], 1, args.connections)  # warm-up
                            time.sleep(SETTLE_AFTER_WARMUP_S)
                            figure = wrk(port, cell, script_of[cell], args.duration, args.connections)
                        finally:
                            stop(server)
                        rps.setdefault((cell, parser, side), []).append(figure)
                        print(
                            f"round {round_ + 1} {cell:12} {parser:9} {side:4} {figure:9,.0f} req/s",
                            flush=True,
                        )
        print(f"\n| cell | parser | base {commits['base']} | new {commits['new']} | new/base (per round) |")
        print("|---|---|---:|---:|---|")
        for cell in cells:
            for parser in parsers:
                base, new = rps[(cell, parser, "base")], rps[(cell, parser, "new")]
                ratios = [n / b for n, b in zip(new, base, strict=True)]
                print(
                    f"| {cell} | {parser} | {statistics.median(base):,.0f} | {statistics.median(new):,.0f} | "
                    f"**{statistics.median(ratios):.3f}** ({', '.join(f'{r:.2f}' for r in ratios)}) |"
                )


if __name__ == "__main__":
    main()
