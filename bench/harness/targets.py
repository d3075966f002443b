"""The performance targets of the benchmark issue, checked against one run's medians.

Every target is a ratio between two servers measured in the same cell of the same run
(absolute figures move by up to 40% on these shared machines; ratios hold).  Targets on
``aiohttpbase-*`` servers are also shown for their ``-parse`` variant (head cache off,
every request head parsed) wherever that variant was measured.
"""

from __future__ import annotations

from dataclasses import dataclass

from .results import Summary


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

    def describe(self, server: str) -> str:
        what = "p99" if self.measure == "p99" else "req/s"
        sign = "≤" if self.measure == "p99" else "≥"
        return f"{self.workload} c={self.concurrency}: {what} {server} / {self.other} {sign} {self.bound:g}"


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
    Target("hello", 64, "aiohttpbase-h11-log", "aiohttpbase-h11", 0.8),
    Target("hello", 64, "aiohttpbase-httptools-log", "aiohttpbase-httptools", 0.8),
)


def _value(summary: Summary, measure: str) -> float | None:
    return summary.p99_ms if measure == "p99" else summary.rps


def markdown(summaries: list[Summary]) -> list[str]:
    """A "Targets" section: each target's measured ratio and whether it is met."""
    by_cell = {(s.workload, s.concurrency, s.server): s for s in summaries}
    rows: list[str] = []
    for target in TARGETS:
        variants = [target.server]
        if not target.server.endswith("-log"):
            variants.append(target.server + "-parse")
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
            met = ratio <= target.bound if target.measure == "p99" else ratio >= target.bound
            verdict = "met" if met else "MISSED"
            unclean = [s.server for s in (mine, theirs) if not s.clean]
            if unclean:
                verdict += f" ({', '.join(unclean)} had errors: see its table)"
            shown = f"{ratio:.3f}" if target.measure == "p99" else f"{ratio:.2f}"
            rows.append(f"| {target.describe(server)} | {shown} | {verdict} |")
    if not rows:
        return []
    return [
        "## Targets (ratios of medians, same run)",
        "",
        "| target | measured | |",
        "|---|---:|---|",
        *rows,
        "",
    ]
