"""The performance targets of the benchmark issues, checked against one run's medians.

Every target is a ratio between two servers measured in the same cell of the same run
(absolute figures move by up to 40% on these shared machines; ratios hold).

* Issue 12 (varied traffic, read first): the varied cells, every request different.
* Issue 4 (repeated head): the cells where wrk repeats one request, the head cache's best case.
  Targets on ``aiohttpbase-*`` servers are also shown for their ``-parse`` variant (head cache
  off) wherever that variant was measured.
* Issue 12's "the repeated-head cells may not fall by more than 10 %": each aiohttpbase server's
  ratio to the uvicorn of the same parser in every repeated-head cell, against the same ratio in
  a baseline run (:data:`BASELINE_FILE`, or ``--repeated-baseline RESULTS.json``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .paths import RESULTS_DIR
from .results import Summary
from .workloads import WORKLOADS

#: The repeated-head ratios the current build is compared with (written by
#: ``python3 -m bench.harness.targets --freeze RESULTS.json`` from a run's results.json).
BASELINE_FILE = RESULTS_DIR / "baseline-repeated.json"
#: The repeated-head ratios may fall by at most this share from the baseline's.
REPEATED_TOLERANCE = 0.10


@dataclass(frozen=True)
class Target:
    """``server`` / ``other`` in the cell ``(workload, concurrency)`` must reach ``bound``."""

    workload: str
    concurrency: int
    server: str
    other: str
    bound: float
    #: "rps": req/s ratio, at least ``bound``; "p99": p99 latency ratio, at most ``bound``.
    measure: str = "rps"
    #: Also check the server's ``-parse`` variant (head cache off) where it was measured.
    variants: bool = True

    def describe(self, server: str) -> str:
        what = "p99" if self.measure == "p99" else "req/s"
        sign = "≤" if self.measure == "p99" else "≥"
        return f"{self.workload} c={self.concurrency}: {what} {server} / {self.other} {sign} {self.bound:g}"


#: Issue 12: read from the varied cells; the defaults of the shipped build.
VARIED_TARGETS: tuple[Target, ...] = (
    Target("varied-get", 64, "aiohttpbase-httptools", "uvicorn-httptools", 1.2),
    Target("varied-get", 256, "aiohttpbase-httptools", "uvicorn-httptools", 1.2),
    Target("varied-get", 64, "aiohttpbase-h11", "uvicorn-h11", 1.4),
    Target("varied-post", 64, "aiohttpbase-httptools", "uvicorn-httptools", 1.2),
    Target("varied-get", 256, "aiohttpbase-httptools", "stdlib-nodelay", 3.0),
    Target("varied-get", 256, "aiohttpbase-httptools", "stdlib-nodelay", 0.05, measure="p99"),
    # Caches must pay for themselves: the defaults against the same build with the cache off.
    *(
        Target("varied-get", c, f"aiohttpbase-{p}", f"aiohttpbase-{p}-parse", 0.98, variants=False)
        for c in (64, 256)
        for p in ("httptools", "h11")
    ),
)

#: Issue 4: read from the repeated-head cells (the head cache's best case).
TARGETS: tuple[Target, ...] = (
    Target("hello", 64, "aiohttpbase-h11", "uvicorn-h11", 1.15),
    Target("hello", 64, "aiohttpbase-h11", "bare-h11", 0.9),
    Target("hello", 64, "aiohttpbase-httptools", "uvicorn-httptools", 1.2),
    Target("hello", 64, "aiohttpbase-httptools", "aiohttp", 1.2),
    Target("hello", 256, "aiohttpbase-httptools", "uvicorn-httptools", 1.2),
    Target("hello", 256, "aiohttpbase-httptools", "aiohttp", 1.2),
    Target("hello", 256, "aiohttpbase-httptools", "stdlib-nodelay", 2.5),
    Target("hello", 256, "aiohttpbase-h11", "stdlib-nodelay", 1.0),
    Target("hello", 256, "aiohttpbase-httptools", "stdlib-nodelay", 0.1, measure="p99"),
    Target("hello", 256, "aiohttpbase-h11", "stdlib-nodelay", 0.1, measure="p99"),
    Target("close", 64, "aiohttpbase-h11", "uvicorn-h11", 1.5),
    Target("close", 64, "aiohttpbase-httptools", "uvicorn-h11", 1.5),
    Target("hello", 64, "aiohttpbase-h11-log", "aiohttpbase-h11", 0.8, variants=False),
    Target("hello", 64, "aiohttpbase-httptools-log", "aiohttpbase-httptools", 0.8, variants=False),
)


def _value(summary: Summary, measure: str) -> float | None:
    return summary.p99_ms if measure == "p99" else summary.rps


def _verdict(ratio: float, bound: float, lower_is_better: bool, mine: Summary, theirs: Summary) -> str:
    met = ratio <= bound if lower_is_better else ratio >= bound
    verdict = "met" if met else "MISSED"
    unclean = [s.server for s in (mine, theirs) if not s.clean]
    if unclean:
        verdict += f" ({', '.join(unclean)} had errors: see its table)"
    return verdict


def _rows(targets: tuple[Target, ...], by_cell: dict[tuple[str, int, str], Summary]) -> list[str]:
    rows: list[str] = []
    for target in targets:
        variants = [target.server] + ([target.server + "-parse"] if target.variants else [])
        for server in variants:
            key = (target.workload, target.concurrency)
            mine, theirs = by_cell.get((*key, server)), by_cell.get((*key, target.other))
            if mine is None or theirs is None:
                continue  # not both in this run
            a, b = _value(mine, target.measure), _value(theirs, target.measure)
            if a is None or not b:
                rows.append(f"| {target.describe(server)} | – | no figure |")
                continue
            ratio = a / b
            verdict = _verdict(ratio, target.bound, target.measure == "p99", mine, theirs)
            shown = f"{ratio:.3f}" if target.measure == "p99" else f"{ratio:.2f}"
            rows.append(f"| {target.describe(server)} | {shown} | {verdict} |")
    return rows


def peer_of(server: str) -> str:
    """The uvicorn of the same parser: what a repeated-head ratio is taken against."""
    return "uvicorn-h11" if server.startswith("aiohttpbase-h11") else "uvicorn-httptools"


#: The aiohttpbase servers whose repeated-head ratios are compared with the baseline.
_REPEATED_SERVERS = (
    "aiohttpbase-httptools", "aiohttpbase-h11", "aiohttpbase-httptools-parse", "aiohttpbase-h11-parse",
)  # fmt: skip


def repeated_ratios(summaries: list[dict[str, Any]] | list[Summary]) -> dict[tuple[str, int, str], float]:
    """``(workload, concurrency, server) -> req/s ratio to peer_of(server)`` in every repeated-head
    cell of a run (summaries as objects, or as the dicts of a results.json)."""

    def get(s: Any, name: str) -> Any:
        return s[name] if isinstance(s, dict) else getattr(s, name)

    rps = {(get(s, "workload"), get(s, "concurrency"), get(s, "server")): get(s, "rps") for s in summaries}
    ratios: dict[tuple[str, int, str], float] = {}
    for (workload, concurrency, server), value in rps.items():
        known = WORKLOADS.get(workload)
        if server not in _REPEATED_SERVERS or known is None or known.varied or known.client != "wrk":
            continue
        peer = rps.get((workload, concurrency, peer_of(server)))
        if value and peer:
            ratios[(workload, concurrency, server)] = value / peer
    return ratios


def load_baseline(path: Path | None) -> tuple[dict[tuple[str, int, str], float], str] | None:
    """The baseline's ratios and where they come from: a frozen baseline file (see ``freeze``)
    or any run's results.json; None when there is none."""
    path = path or BASELINE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if "summaries" in data:  # a run's results.json
        meta = data.get("meta", {})
        source = f"`{path}` ({meta.get('started', '?')}, {meta.get('repository', '?')})"
        return repeated_ratios(data["summaries"]), source
    ratios = {(r["workload"], r["concurrency"], r["server"]): r["ratio"] for r in data["ratios"]}
    return ratios, f"`{path.name}`: {data['source']}"


def freeze(results_json: Path, out: Path, note: str = "") -> None:
    """Write the repeated-head ratios of a run's results.json as the baseline file."""
    data = json.loads(results_json.read_text(encoding="utf-8"))
    meta = data.get("meta", {})
    ratios = repeated_ratios(data["summaries"])
    source = f"the run of {meta.get('started', '?')} (`{meta.get('command', '?')}`), {note}".rstrip(", ")
    entries = [
        {"workload": w, "concurrency": c, "server": s, "peer": peer_of(s), "ratio": round(r, 4)}
        for (w, c, s), r in sorted(ratios.items())
    ]
    out.write_text(json.dumps({"source": source, "ratios": entries}, indent=2) + "\n", encoding="utf-8")


def _repeated_rows(summaries: list[Summary], baseline_path: Path | None) -> tuple[list[str], str]:
    loaded = load_baseline(baseline_path)
    if loaded is None:
        return [], ""
    baseline, source = loaded
    now = repeated_ratios(summaries)
    by_cell = {(s.workload, s.concurrency, s.server): s for s in summaries}
    rows = []
    for key, ratio in now.items():
        if key not in baseline:
            continue
        workload, concurrency, server = key
        floor = baseline[key] * (1 - REPEATED_TOLERANCE)
        mine, theirs = by_cell[key], by_cell[(workload, concurrency, peer_of(server))]
        verdict = _verdict(ratio, floor, False, mine, theirs)
        rows.append(
            f"| {workload} c={concurrency}: req/s {server} / {peer_of(server)} ≥ 0.9 × {baseline[key]:.2f} "
            f"= {floor:.2f} | {ratio:.2f} | {verdict} |"
        )
    return rows, source


def markdown(summaries: list[Summary], baseline_path: Path | None = None) -> list[str]:
    """The "Targets" sections: each target's measured ratio and whether it is met."""
    by_cell = {(s.workload, s.concurrency, s.server): s for s in summaries}
    head = ["| target | measured | |", "|---|---:|---|"]
    lines: list[str] = []
    varied = _rows(VARIED_TARGETS, by_cell)
    if varied:
        lines += [
            "## Targets on varied traffic (issue 12; ratios of medians, same run)",
            "",
            "Every request different (`varied-*` cells); aiohttpbase's defaults, and the same build "
            "with the head cache off (`-parse`).",
            "",
            *head,
            *varied,
            "",
        ]
    repeated, source = _repeated_rows(summaries, baseline_path)
    if repeated:
        lines += [
            "## Repeated-head cells against the baseline (issue 12: at most 10 % lower)",
            "",
            f"Each ratio to the uvicorn of the same parser, against the same ratio in {source}.",
            "",
            *head,
            *repeated,
            "",
        ]
    classic = _rows(TARGETS, by_cell)
    if classic:
        lines += [
            "## Targets on the repeated head (issue 4; the head cache's best case; ratios of medians, same run)",
            "",
            *head,
            *classic,
            "",
        ]
    return lines


if __name__ == "__main__":  # python3 -m harness.targets --freeze RESULTS.json [NOTE] (from bench/)
    import sys

    if len(sys.argv) >= 3 and sys.argv[1] == "--freeze":
        freeze(Path(sys.argv[2]), BASELINE_FILE, " ".join(sys.argv[3:]))
        print(f"wrote {BASELINE_FILE}")
    else:
        sys.exit("usage: python3 -m harness.targets --freeze RESULTS.json [NOTE]")
