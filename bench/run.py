#!/usr/bin/env python3
"""Benchmark aiohttpbase against its peers with wrk, side by side, as shared/BENCHMARKING.md says.

    python3 bench/run.py [--quick] [--servers a,b] [--workloads a,b] [--concurrency 64,256]

Run with any python3: the first thing it does is create ``bench/.venv`` with the peers, install
the repository's package into it (``pip install -e``), install ``wrk`` and ``ab`` (apache2-utils)
if missing, and re-run itself inside that venv. See ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.paths import RESULTS_DIR, VENV_DIR, VENV_PYTHON

_NOTE_ENV = "BENCH_SETUP_NOTE"
_WRK_ENV = "BENCH_WRK"
_AB_ENV = "BENCH_AB"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/run.py",
        description="Run the HTTP server benchmark (wrk, pinned cores, interleaved rounds).",
    )
    parser.add_argument(
        "--quick", action="store_true", help="one round, 1 s warm-up + 3 s runs, reduced matrix (< 3 min)"
    )
    parser.add_argument("--servers", help="comma-separated server names (default: all); see --list")
    parser.add_argument(
        "--workloads", help="comma-separated workload names (default: all in the mode's matrix)"
    )
    parser.add_argument(
        "--concurrency",
        help="comma-separated connection counts, applied to every selected workload "
        "(default: each workload's own, e.g. hello: 1,64,256,1000 in full mode)",
    )
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 3, quick 1)")
    parser.add_argument("--duration", type=int, help="whole seconds per counted run (default 5, quick 3)")
    parser.add_argument(
        "--warmup", type=int, help="whole seconds of warm-up before each run (default 2, quick 1)"
    )
    parser.add_argument(
        "--baseline",
        help="server the ratios are relative to (default stdlib-nodelay; ab-keepalive: aiohttp)",
    )
    parser.add_argument(
        "--out", type=Path, default=RESULTS_DIR, help="where to write results (bench/results)"
    )
    parser.add_argument("--reinstall", action="store_true", help="re-run pip install -e of the repository")
    parser.add_argument(
        "--commit",
        help="serve aiohttpbase as committed at this revision (git archive to a temporary "
        "directory) instead of the working tree, which others may be editing",
    )
    parser.add_argument(
        "--repeated-baseline",
        type=Path,
        help="compare the repeated-head cells with this run's results.json (default: the frozen "
        "bench/results/baseline-repeated.json)",
    )
    parser.add_argument("--list", action="store_true", help="list servers and workloads, then exit")
    parser.add_argument(
        "--retry-noisy", type=int, help="re-run a run flagged noisy up to N times (default 1, quick 0)"
    )
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (1 if args.quick else 3)
    if args.retry_noisy is None:
        args.retry_noisy = 0 if args.quick else 1
    # wrk takes whole seconds only.
    args.duration = max(1, args.duration or (3 if args.quick else 5))
    args.warmup = max(0, args.warmup if args.warmup is not None else (1 if args.quick else 2))
    return args


def _in_bench_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV_DIR.resolve()


def bootstrap(args: argparse.Namespace, argv: list[str]) -> None:
    """Prepare the venv and wrk with the system python, then re-exec this script inside the venv."""
    from harness import setup_env

    try:
        setup_env.ensure_venv()
        note = setup_env.ensure_repo_package(force=args.reinstall)
        wrk = setup_env.ensure_wrk()
        setup_env.ensure_taskset()
    except setup_env.SetupError as exc:
        sys.exit(f"[setup] ERROR: {exc}")
    try:
        ab = setup_env.ensure_ab()
    except setup_env.SetupError as exc:  # only the ab-keepalive cell needs it: it fails, saying why
        ab = "ab"
        note = "; ".join(filter(None, [note, f"no ab: {exc}".splitlines()[0]]))
    env = dict(os.environ, **{_WRK_ENV: wrk, _AB_ENV: ab, _NOTE_ENV: note or ""})
    os.execve(str(VENV_PYTHON), [str(VENV_PYTHON), str(Path(__file__).resolve()), *argv], env)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if not _in_bench_venv():
        bootstrap(args, argv)  # does not return
    from harness.runner import Runner  # needs the venv (matplotlib)

    command = "python3 bench/run.py" + ("".join(" " + shlex.quote(a) for a in argv))
    runner = Runner(
        args,
        command=command,
        wrk=os.environ.get(_WRK_ENV, "wrk"),
        setup_note=os.environ.get(_NOTE_ENV, ""),
        ab=os.environ.get(_AB_ENV, "ab"),
    )
    if args.list:
        runner.print_list()
        return 0
    started = time.monotonic()
    code = runner.run()
    print(f"[bench] total time {time.monotonic() - started:.0f} s", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
