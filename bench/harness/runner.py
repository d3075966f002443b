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
import time
from pathlib import Path
from typing import Any

from . import ab, machine, probe, report, static_tree, wrk
from .paths import REPO_ROOT
from .results import Run, summarize
from .servers import (
    SERVERS,
    STATIC_DIR,
    RunningServer,
    ServerSpec,
    aiohttpbase_status,
    use_aiohttpbase_tree,
)
from .workloads import WORKLOADS, Workload, default_cells

#: The ratio baseline when neither ``--baseline`` nor the workload names one.
DEFAULT_BASELINE = "stdlib-nodelay"

#: Rough per-run overhead (process checks, probe, bookkeeping) used for the time estimate.
_RUN_OVERHEAD_S = 0.4
_CELL_OVERHEAD_S = 3.0


def _split(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


class Runner:
    """Plans the matrix from the command-line filters, measures it and writes the report."""

    def __init__(
        self, args: argparse.Namespace, command: str, wrk: str, setup_note: str, ab: str = "ab"
    ) -> None:
        self.args = args
        self.command = command
        self.wrk = wrk
        self.ab = ab
        self.notes: list[str] = [setup_note] if setup_note else []
        self.runs: list[Run] = []
        # Absolute: servers run from other directories (--commit serves from an exported tree),
        # and the access-log servers open a path given to them under it.
        self.log_dir = Path(args.out).resolve() / "logs"
        self.explicit_servers: set[str] = set()
        #: ``--commit``: the commit aiohttpbase is served from (None: the working tree).
        self.commit: str | None = None
        #: The static-mix cell's generated directory (None until a static-mix cell is planned).
        self.static: static_tree.StaticTree | None = None

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
            cells = [(w, c) for w, c in default_cells(False, workloads) if w in workloads]
            if self.args.quick:  # a named workload keeps its quick concurrencies, or c=64
                cells = [(w, c) for w in workloads for c in (WORKLOADS[w].quick_concurrency or (64,))]
            return cells
        return default_cells(self.args.quick)

    def _servers_for(self, cell: tuple[str, int], specs: list[ServerSpec]) -> list[ServerSpec]:
        """The selected servers measured in ``cell``: a server named with ``--servers`` always."""
        workload = WORKLOADS[cell[0]]

        def measured(s: ServerSpec) -> bool:
            if s.name in self.explicit_servers:
                return True
            return (
                (s.only_cells is None or cell in s.only_cells)
                and (s.only_workloads is None or workload.name in s.only_workloads)
                and (workload.servers is None or s.name in workload.servers)
            )

        return [s for s in specs if measured(s)]

    def baseline_for(self, workload: str) -> str:
        """``--baseline``, else the workload's own, else ``stdlib-nodelay``."""
        return self.args.baseline or WORKLOADS[workload].baseline or DEFAULT_BASELINE

    def print_list(self) -> None:
        print("servers:")
        for spec in SERVERS.values():
            limit = f" (only in {sorted(spec.only_cells)})" if spec.only_cells else ""
            limit += f" (only in {', '.join(sorted(spec.only_workloads))})" if spec.only_workloads else ""
            print(f"  {spec.name:29} {spec.description}{limit}")
        print("workloads:")
        for w in WORKLOADS.values():
            extra = f"; client {w.client}" if w.client != "wrk" else ""
            extra += "; opt-in: only with --workloads" if w.opt_in else ""
            extra += f"; servers {', '.join(w.servers)}" if w.servers else ""
            extra += f"; baseline {w.baseline}" if w.baseline else ""
            print(
                f"  {w.name:12} {w.description}; full c={list(w.full_concurrency)}, "
                f"quick c={list(w.quick_concurrency)}{extra}"
            )

    # ---------------------------------------------------------------- measuring
    def run(self) -> int:
        with tempfile.TemporaryDirectory(prefix="bench-aiohttpbase-") as tree:
            if self.args.commit:
                self._export_commit(self.args.commit, Path(tree))
            return self._run()

    def _export_commit(self, revision: str, tree: Path) -> None:
        """``git archive REV aiohttpbase`` into ``tree`` and serve aiohttpbase from there."""
        rev = subprocess.run(
            ["git", "rev-parse", "--verify", "--short", f"{revision}^{{commit}}"],
            capture_output=True, text=True, timeout=10, cwd=REPO_ROOT, check=False,
        )  # fmt: skip
        if rev.returncode != 0:
            sys.exit(f"--commit {revision}: not a commit: {rev.stderr.strip()}")
        archive = subprocess.run(
            ["git", "archive", "--format=tar", rev.stdout.strip(), "aiohttpbase"],
            capture_output=True, timeout=60, cwd=REPO_ROOT, check=True,
        )  # fmt: skip
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, timeout=60, check=True)
        use_aiohttpbase_tree(tree)
        self.commit = rev.stdout.strip()
        print(f"[bench] aiohttpbase served from commit {self.commit} (exported to {tree})", flush=True)

    def _run(self) -> int:
        specs = self._selected_servers()
        cells = self._cells()
        if not specs or not cells:
            print("[bench] nothing to run: " + "; ".join(self.notes or ["empty selection"]), file=sys.stderr)
            return 2
        nofile = machine.raise_nofile_limit()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        plan = [(cell, self._servers_for(cell, specs)) for cell in cells]
        for (workload_name, concurrency), servers in plan:
            baseline = self.baseline_for(workload_name)
            if baseline not in {s.name for s in servers}:
                self.notes.append(
                    f"{workload_name} c={concurrency}: baseline {baseline} not measured: no ratios"
                )
        total_runs = sum(len(servers) for _, servers in plan) * self.args.rounds
        per_run = self.args.warmup + wrk.SETTLE_AFTER_WARMUP_S + self.args.duration + _RUN_OVERHEAD_S
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

        with (
            tempfile.TemporaryDirectory(prefix="bench-wrk-") as scripts_dir,
            tempfile.TemporaryDirectory(prefix="bench-static-") as static_dir,
        ):
            if any(w == "static-mix" for (w, _), servers in plan if servers):
                self.static = static_tree.generate(Path(static_dir))
                STATIC_DIR[0] = self.static.root
                self.notes.append(f"static-mix files: {self.static.describe()}")
                print(f"[bench] static-mix: generated {static_dir}: {self.static.describe()}", flush=True)
            counter = [0, total_runs]
            for cell, servers in plan:
                self._measure_cell(cell, servers, Path(scripts_dir), counter)
            STATIC_DIR[0] = None

        summaries = summarize(self.runs, self.baseline_for)
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
        prelude = self.static.lua_prelude() if workload.name == "static-mix" and self.static else None
        script = wrk.write_script(workload, scripts_dir, prelude)  # unused by ab
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
        if workload.name == "static-mix" and self.static is not None:
            small = next(i for i in self.static.picks if self.static.small[i])
            path, size = self.static.paths[small], self.static.sizes[small]
            problem = probe.check_static(server.port, path, size, static_tree.LAST_MODIFIED)
        else:
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
                    self._load(script, workload, server.port, concurrency, self.args.warmup)
                    time.sleep(wrk.SETTLE_AFTER_WARMUP_S)
                machine.reset_peak_rss(server.pid)
                window = machine.CpuWindow()
                window.start(server.pid)
                client_before, started = machine.children_cpu_seconds(), time.monotonic()
                run.wrk = self._load(script, workload, server.port, concurrency, self.args.duration)
                run.wrk.client_cores = (machine.children_cpu_seconds() - client_before) / max(
                    1e-9, time.monotonic() - started
                )
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

    def _load(
        self, script: Path, workload: Workload, port: int, concurrency: int, seconds: int
    ) -> wrk.WrkResult:
        """One load run with the workload's client (wrk, or ab for ``ab -k``)."""
        if workload.client == "ab":
            return ab.run(self.ab, workload, port, concurrency, seconds)[0]
        return wrk.run(self.wrk, script, workload, port, concurrency, seconds)[0]

    @staticmethod
    def _print_run(run: Run, counter: list[int]) -> None:
        head = (
            f"[{counter[0]:>3}/{counter[1]}] {run.workload} c={run.concurrency} r{run.round} {run.server:29}"
        )
        if run.wrk is None:
            print(f"{head} FAILED: {run.failure}", flush=True)
            return
        w = run.wrk
        rss = f"{run.peak_rss_kib / 1024:.1f}" if run.peak_rss_kib else "?"
        flags = "" if run.clean else f"  ERRORS non2xx={w.non_2xx_3xx} socket={w.socket_errors}"
        flags += f"  NOISY({run.other_cores:.2f})" if run.noisy else ""
        flags += f"  {run.failure}" if run.failure else ""
        upload = WORKLOADS[run.workload].upload_size
        extra = f"  {w.rps * upload / 1e6:,.0f} MB/s" if upload else ""
        extra += (
            f"  kept-alive {w.keep_alive_requests:,}/{w.requests:,}"
            if w.keep_alive_requests is not None
            else ""
        )
        extra += f"  client {w.client_cores:.2f} cores" if w.client_cores is not None else ""
        print(
            f"{head} {w.rps:>9,.{0 if w.rps >= 100 else 2}f} req/s  p50 {w.p50_ms:7.2f} ms  p99 {w.p99_ms:8.2f} ms  "
            f"rss {rss:>6} MiB  load {run.loadavg}{extra}{flags}",
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
        if any(WORKLOADS[r.workload].client == "ab" for r in self.runs):
            try:
                said = subprocess.run(
                    [self.ab, "-V"], capture_output=True, text=True, timeout=10, check=False
                ).stdout.splitlines()
                wrk_version += ", " + (said[0].replace("This is ", "") if said else "ab ?")
            except (OSError, subprocess.TimeoutExpired):
                wrk_version += ", ab ?"
        return {
            "mode": "quick" if self.args.quick else "full",
            "command": self.command,
            "started": started,
            "rounds": self.args.rounds,
            "warmup_s": self.args.warmup,
            "duration_s": self.args.duration,
            "baseline": self.args.baseline or "per workload (stdlib-nodelay unless the workload names one)",
            "repository": (
                f"aiohttpbase served from commit {self.commit} (git archive; not the working tree)"
                if self.commit
                else _repository_state()
            ),
            "machine": f"{os.cpu_count()} cores, {cpu}, Linux {platform.release()}",
            "versions": f"Python {platform.python_version()}, {wrk_version}, {packages}",
            "notes": self.notes,
            "repeated_baseline": str(self.args.repeated_baseline) if self.args.repeated_baseline else None,
        }


def _repository_state() -> str:
    """The commit measured, and whether the package's files differ from it (a shared checkout)."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], capture_output=True, text=True, timeout=10, cwd=REPO_ROOT, check=False
            ).stdout
        except (OSError, subprocess.TimeoutExpired):
            return ""

    commit = git("rev-parse", "--short", "HEAD").strip() or "?"
    changed = [line[3:] for line in git("status", "--porcelain", "--", "aiohttpbase").splitlines()]
    if not changed:
        return f"commit {commit}"
    return f"commit {commit} with uncommitted changes in {', '.join(changed)}"
