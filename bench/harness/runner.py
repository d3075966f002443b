"""The measuring loop: per cell, start the servers, then rounds of interleaved wrk runs (A B C, A B C)."""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from . import machine, probe, report, wrk
from .results import Run, summarize
from .servers import SERVERS, RunningServer, ServerSpec, aiohttpbase_status
from .workloads import WORKLOADS, default_cells

#: Rough per-run overhead (process checks, probe, bookkeeping) used for the time estimate.
_RUN_OVERHEAD_S = 0.4
_CELL_OVERHEAD_S = 3.0


def _split(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


class Runner:
    """Plans the matrix from the command-line filters, measures it and writes the report."""

    def __init__(self, args: argparse.Namespace, command: str, wrk: str, setup_note: str) -> None:
        self.args = args
        self.command = command
        self.wrk = wrk
        self.notes: list[str] = [setup_note] if setup_note else []
        self.runs: list[Run] = []
        self.log_dir = Path(args.out) / "logs"
        self.explicit_servers: set[str] = set()

    # ----------------------------------------------------------------- planning
    def _selected_servers(self) -> list[ServerSpec]:
        names = _split(self.args.servers)
        unknown = [n for n in names or [] if n not in SERVERS]
        if unknown:
            sys.exit(f"unknown server(s): {', '.join(unknown)}; known: {', '.join(SERVERS)}")
        specs = [SERVERS[n] for n in names] if names else list(SERVERS.values())
        if any(s.aiohttpbase for s in specs):
            runnable, has_parser, note = aiohttpbase_status()
            if note:
                self.notes.append(note)
            if not runnable:
                self.notes.append("aiohttpbase servers skipped: not runnable yet; re-run when it is")
            specs = [
                s
                for s in specs
                if not s.aiohttpbase or (runnable and (has_parser or not s.needs_parser_flag))
            ]
        self.explicit_servers = set(names or [])
        return specs

    def _cells(self) -> list[tuple[str, int]]:
        workloads = _split(self.args.workloads)
        unknown = [w for w in workloads or [] if w not in WORKLOADS]
        if unknown:
            sys.exit(f"unknown workload(s): {', '.join(unknown)}; known: {', '.join(WORKLOADS)}")
        concurrency = [int(c) for c in _split(self.args.concurrency) or []]
        if concurrency:
            names = workloads or ([w for w, _ in default_cells(self.args.quick)])
            names = list(dict.fromkeys(names))
            return [(w, c) for w in names for c in concurrency]
        if workloads:
            cells = [(w, c) for w, c in default_cells(quick=False) if w in workloads]
            if self.args.quick:  # a named workload keeps its quick concurrencies, or c=64
                cells = [(w, c) for w in workloads for c in (WORKLOADS[w].quick_concurrency or (64,))]
            return cells
        return default_cells(self.args.quick)

    def _servers_for(self, cell: tuple[str, int], specs: list[ServerSpec]) -> list[ServerSpec]:
        return [
            s
            for s in specs
            if s.only_cells is None or cell in s.only_cells or s.name in self.explicit_servers
        ]

    def print_list(self) -> None:
        print("servers:")
        for spec in SERVERS.values():
            limit = f" (only in {sorted(spec.only_cells)})" if spec.only_cells else ""
            print(f"  {spec.name:26} {spec.description}{limit}")
        print("workloads:")
        for w in WORKLOADS.values():
            print(
                f"  {w.name:12} {w.description}; full c={list(w.full_concurrency)}, quick c={list(w.quick_concurrency)}"
            )

    # ---------------------------------------------------------------- measuring
    def run(self) -> int:
        specs = self._selected_servers()
        cells = self._cells()
        if not specs or not cells:
            print("[bench] nothing to run: " + "; ".join(self.notes or ["empty selection"]), file=sys.stderr)
            return 2
        if self.args.baseline not in {s.name for s in specs}:
            self.notes.append(f"baseline {self.args.baseline} not measured: no ratios")
        nofile = machine.raise_nofile_limit()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        plan = [(cell, self._servers_for(cell, specs)) for cell in cells]
        total_runs = sum(len(servers) for _, servers in plan) * self.args.rounds
        per_run = self.args.warmup + self.args.duration + _RUN_OVERHEAD_S
        estimate = total_runs * per_run + len(plan) * _CELL_OVERHEAD_S
        started = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
        print(f"[bench] {self.command}")
        print(
            f"[bench] {len(plan)} cells, {total_runs} runs, about {estimate / 60:.1f} min; "
            f"rounds {self.args.rounds}, warm-up {self.args.warmup:g} s, run {self.args.duration:g} s; "
            f"ulimit -n {nofile}"
        )
        for note in self.notes:
            print(f"[bench] note: {note}")
        sys.stdout.flush()

        with tempfile.TemporaryDirectory(prefix="bench-wrk-") as scripts_dir:
            counter = [0, total_runs]
            for cell, servers in plan:
                self._measure_cell(cell, servers, Path(scripts_dir), counter)

        summaries = summarize(self.runs, self.args.baseline)
        meta = self._meta(started)
        paths = report.write(Path(self.args.out), self.runs, summaries, meta)
        print()
        print(report.markdown(summaries, meta))
        print("[bench] wrote " + ", ".join(str(p) for p in paths), flush=True)
        return 0

    def _measure_cell(
        self, cell: tuple[str, int], specs: list[ServerSpec], scripts_dir: Path, counter: list[int]
    ) -> None:
        """Start every server of the cell, run the interleaved rounds, stop them all."""
        workload = WORKLOADS[cell[0]]
        concurrency = cell[1]
        script = wrk.write_script(workload, scripts_dir)
        print(f"\n[bench] == {workload.name}, c={concurrency}: {workload.description}")
        print(
            f"[bench]    loadavg {machine.loadavg()}; CPU in use before starting: "
            f"{machine.idle_check():.2f} cores",
            flush=True,
        )
        running: list[RunningServer] = []
        try:
            for spec in specs:
                server = RunningServer(spec, self.log_dir)
                server.start()
                running.append(server)
            ready: dict[str, str | None] = {}
            for server in running:
                ready[server.spec.name] = self._ready(server, workload)
            for round_no in range(1, self.args.rounds + 1):
                for server in running:
                    counter[0] += 1
                    failure = ready[server.spec.name]
                    if failure is None and not server.alive():
                        print(
                            f"[bench]    {server.spec.name} died; restarting. log tail:\n{server.log_tail()}"
                        )
                        server.stop()
                        server.start()
                        failure = ready[server.spec.name] = self._ready(server, workload)
                    run = self._measure(server, script, workload, concurrency, round_no, failure)
                    self.runs.append(run)
                    self._print_run(run, counter)
        finally:
            for server in running:
                server.stop()

    def _ready(self, server: RunningServer, workload: Any) -> str | None:
        """None when the server accepts connections and answers the workload correctly."""
        if not server.wait_ready():
            tail = server.log_tail()
            print(
                f"[bench]    {server.spec.name} did not start (port {server.port}). log tail:\n{tail}",
                flush=True,
            )
            return f"did not start: {tail.splitlines()[-1] if tail else 'no output'}"
        problem = probe.check(server.port, workload)
        if problem:
            print(f"[bench]    {server.spec.name} answered wrongly: {problem}", flush=True)
        return problem

    def _measure(
        self,
        server: RunningServer,
        script: Path,
        workload: Any,
        concurrency: int,
        round_no: int,
        failure: str | None,
    ) -> Run:
        """Warm up, then one counted wrk run; retried once if other processes used the cores."""
        run = Run(server.spec.name, workload.name, concurrency, round_no, machine.loadavg(), failure=failure)
        if failure:
            return run
        attempts = 1 + max(0, self.args.retry_noisy)
        for attempt in range(attempts):
            run = Run(server.spec.name, workload.name, concurrency, round_no, machine.loadavg())
            try:
                if self.args.warmup > 0:
                    wrk.run(self.wrk, script, workload, server.port, concurrency, self.args.warmup)
                machine.reset_peak_rss(server.pid)
                window = machine.CpuWindow()
                window.start(server.pid)
                run.wrk, _ = wrk.run(self.wrk, script, workload, server.port, concurrency, self.args.duration)
                run.other_cores = window.other_cores(server.pid)
                run.peak_rss_kib = machine.peak_rss_kib(server.pid)
            except wrk.WrkError as exc:
                run.failure = str(exc).splitlines()[0]
            if not server.alive():
                run.failure = (run.failure or "") + " server died during the run"
            if not run.noisy or attempt == attempts - 1:
                break
            print(
                f"[bench]    noisy run ({run.other_cores:.2f} cores used by others): measuring again",
                flush=True,
            )
        return run

    @staticmethod
    def _print_run(run: Run, counter: list[int]) -> None:
        head = (
            f"[{counter[0]:>3}/{counter[1]}] {run.workload} c={run.concurrency} r{run.round} {run.server:26}"
        )
        if run.wrk is None:
            print(f"{head} FAILED: {run.failure}", flush=True)
            return
        w = run.wrk
        rss = f"{run.peak_rss_kib / 1024:.1f}" if run.peak_rss_kib else "?"
        flags = "" if run.clean else f"  ERRORS non2xx={w.non_2xx_3xx} socket={w.socket_errors}"
        flags += f"  NOISY({run.other_cores:.2f})" if run.noisy else ""
        flags += f"  {run.failure}" if run.failure else ""
        print(
            f"{head} {w.rps:>9,.0f} req/s  p50 {w.p50_ms:7.2f} ms  p99 {w.p99_ms:8.2f} ms  "
            f"rss {rss:>6} MiB  load {run.loadavg}{flags}",
            flush=True,
        )

    # ----------------------------------------------------------------- metadata
    def _meta(self, started: str) -> dict[str, Any]:
        def version(dist: str) -> str:
            try:
                return importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                return "not installed"

        cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo", encoding="utf-8")
                    if line.startswith("model name")), platform.machine())  # fmt: skip
        try:
            wrk_version = (
                subprocess.run(
                    [self.wrk, "--version"], capture_output=True, text=True, timeout=10, check=False
                )
                .stdout.split("\n")[0]
                .split(" Copyright")[0]
            )
        except (OSError, subprocess.TimeoutExpired):
            wrk_version = "?"
        packages = ", ".join(
            f"{d} {version(d)}" for d in ("aiohttpbase", "uvicorn", "h11", "httptools", "uvloop", "aiohttp")
        )
        return {
            "mode": "quick" if self.args.quick else "full",
            "command": self.command,
            "started": started,
            "rounds": self.args.rounds,
            "warmup_s": self.args.warmup,
            "duration_s": self.args.duration,
            "baseline": self.args.baseline,
            "machine": f"{os.cpu_count()} cores, {cpu}, Linux {platform.release()}",
            "versions": f"Python {platform.python_version()}, {wrk_version}, {packages}",
            "notes": self.notes,
        }
