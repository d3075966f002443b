"""Run records and their summary: medians over rounds and ratios to a baseline of the same round."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from .workloads import WORKLOADS
from .wrk import WrkResult

#: A run during which other processes used more than this many cores' worth of CPU is flagged.
NOISY_OTHER_CORES = 0.15


@dataclass
class Run:
    """One counted wrk run against one server."""

    server: str
    workload: str
    concurrency: int
    round: int
    loadavg: str
    wrk: WrkResult | None = None
    peak_rss_kib: int | None = None
    other_cores: float = 0.0
    failure: str | None = None

    @property
    def clean(self) -> bool:
        return self.failure is None and self.wrk is not None and self.wrk.clean

    @property
    def noisy(self) -> bool:
        return self.other_cores > NOISY_OTHER_CORES

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["wrk"] = self.wrk.to_json() if self.wrk else None
        data["clean"] = self.clean
        data["noisy"] = self.noisy
        return data


@dataclass
class Summary:
    """One server in one ``(workload, concurrency)`` cell, over all rounds."""

    server: str
    workload: str
    concurrency: int
    rounds: int
    rps: float | None = None
    ratio: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    requests: int = 0
    non_2xx_3xx: int = 0
    socket_errors: int = 0
    read_errors: int = 0
    peak_rss_mib: float | None = None
    noisy_runs: int = 0
    failures: list[str] = field(default_factory=list)
    #: The server the ratio is relative to (measured in the same round).
    baseline: str = ""
    #: Upload workloads: request-body megabytes (10^6 bytes) per second at the median req/s.
    body_mb_s: float | None = None
    #: ``ab -k``: requests sent over a kept-alive connection, summed over the rounds.
    keep_alive_requests: int | None = None
    #: Median CPU the load generator used during the counted runs, in cores.
    client_cores: float | None = None

    @property
    def closes_unannounced(self) -> bool:
        """wrk saw EOF after (nearly) every response: the server closed the connection without
        sending ``Connection: close``, so wrk expected keep-alive and counted a read error."""
        return self.requests > 0 and self.read_errors >= 0.95 * self.requests

    @property
    def clean(self) -> bool:
        return (
            not self.failures and self.non_2xx_3xx == 0 and self.socket_errors == 0 and self.rps is not None
        )


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def summarize(runs: list[Run], baseline: str | Callable[[str], str]) -> list[Summary]:
    """Summaries in run order: median req/s and latency, and median of per-round ratios.

    ``baseline`` names the baseline server, or maps a workload name to its baseline.
    """
    baseline_for = baseline if callable(baseline) else (lambda _workload: baseline)
    baseline_rps: dict[tuple[str, int, int], float] = {
        (r.workload, r.concurrency, r.round): r.wrk.rps
        for r in runs
        if r.server == baseline_for(r.workload) and r.wrk is not None and r.wrk.rps > 0
    }
    grouped: dict[tuple[str, int, str], list[Run]] = {}
    for run in runs:
        grouped.setdefault((run.workload, run.concurrency, run.server), []).append(run)

    summaries: list[Summary] = []
    for (workload, concurrency, server), group in grouped.items():
        measured = [r for r in group if r.wrk is not None]
        ratios = [
            r.wrk.rps / baseline_rps[(workload, concurrency, r.round)]
            for r in measured
            if r.wrk is not None and (workload, concurrency, r.round) in baseline_rps
        ]
        rss = [r.peak_rss_kib for r in group if r.peak_rss_kib is not None]
        rps = _median([r.wrk.rps for r in measured if r.wrk])
        upload = WORKLOADS[workload].upload_size if workload in WORKLOADS else 0
        kept = [
            r.wrk.keep_alive_requests for r in measured if r.wrk and r.wrk.keep_alive_requests is not None
        ]
        client = [r.wrk.client_cores for r in measured if r.wrk and r.wrk.client_cores is not None]
        summaries.append(
            Summary(
                server=server,
                workload=workload,
                concurrency=concurrency,
                rounds=len(measured),
                rps=rps,
                ratio=_median(ratios),
                p50_ms=_median([r.wrk.p50_ms for r in measured if r.wrk]),
                p99_ms=_median([r.wrk.p99_ms for r in measured if r.wrk]),
                requests=sum(r.wrk.requests for r in measured if r.wrk),
                non_2xx_3xx=sum(r.wrk.non_2xx_3xx for r in measured if r.wrk),
                read_errors=sum(r.wrk.read_errors for r in measured if r.wrk),
                socket_errors=sum(r.wrk.socket_errors for r in measured if r.wrk),
                peak_rss_mib=max(rss) / 1024 if rss else None,
                noisy_runs=sum(1 for r in group if r.noisy),
                failures=[f"round {r.round}: {r.failure}" for r in group if r.failure],
                baseline=baseline_for(workload),
                body_mb_s=rps * upload / 1e6 if upload and rps is not None else None,
                keep_alive_requests=sum(kept) if kept else None,
                client_cores=_median(client),
            )
        )
    return summaries
