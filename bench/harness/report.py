"""Write the results: raw JSON, a markdown table and a PNG chart (matplotlib, Agg backend)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from . import targets
from .results import NOISY_OTHER_CORES, Run, Summary
from .workloads import WORKLOADS


def _fmt(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def _rate(value: float | None) -> str:
    """req/s: whole numbers, with two decimals below 100 (the 64 MiB uploads)."""
    return _fmt(value, ",.0f" if value is None or value >= 100 else ".2f")


def _failures(failures: list[str]) -> str:
    """``round N: why`` lines, one per distinct reason: ``rounds 1, 2, 3: why``."""
    rounds: dict[str, list[str]] = {}
    for failure in failures:
        head, _, why = failure.partition(": ")
        rounds.setdefault(why, []).append(head.removeprefix("round "))
    return "; ".join(f"round{'s' if len(r) > 1 else ''} {', '.join(r)}: {why}" for why, r in rounds.items())


def _status(summary: Summary) -> str:
    parts: list[str] = []
    if summary.failures:
        parts.append("FAILED: " + _failures(summary.failures))
    if summary.non_2xx_3xx:
        parts.append(f"{summary.non_2xx_3xx} non-2xx")
    if summary.socket_errors:
        hint = " (1 read error per request: closes without sending `Connection: close`)"
        parts.append(f"{summary.socket_errors} socket errors" + (hint if summary.closes_unannounced else ""))
    if summary.noisy_runs:
        parts.append(f"{summary.noisy_runs} noisy run(s)")
    return ", ".join(parts) if parts else "ok"


def markdown(summaries: list[Summary], meta: dict[str, Any]) -> str:
    """One table per ``(workload, concurrency)`` cell; figures with errors are marked, not hidden."""
    lines = [
        f"# Benchmark results ({meta['mode']} mode)",
        "",
        f"- command: `{meta['command']}`",
        f"- started: {meta['started']}; rounds: {meta['rounds']}; warm-up {meta['warmup_s']:g} s, "
        f"run {meta['duration_s']:g} s; baseline for ratios: `{meta['baseline']}` (same round)",
        f"- machine: {meta['machine']}",
        f"- versions: {meta['versions']}",
        f"- repository: {meta.get('repository', '?')}",
        "- server pinned with `taskset -c 0`, `wrk -t1` with `taskset -c 1`; access logs off except "
        "in the `*-log` servers (stdlib format, to a file)",
        f"- a run is *noisy* when other processes used > {NOISY_OTHER_CORES:g} of a core during it; "
        "a figure counts only with 0 non-2xx and 0 socket errors",
        "",
    ]
    for note in meta.get("notes", []):
        lines.append(f"> note: {note}")
    if meta.get("notes"):
        lines.append("")
    baseline = meta.get("repeated_baseline")
    lines += targets.markdown(summaries, Path(baseline) if baseline else None)
    cells: dict[tuple[str, int], list[Summary]] = {}
    for s in summaries:
        cells.setdefault((s.workload, s.concurrency), []).append(s)
    for (workload, concurrency), group in cells.items():
        # Upload cells add the body throughput, ab cells the kept-alive count; both, and the
        # varied cells (whose Lua builds every request), the CPU the load generator used (1.00:
        # its core was the limit, not the server).
        uploads = any(s.body_mb_s is not None for s in group)
        kept = any(s.keep_alive_requests is not None for s in group)
        client = uploads or kept or _varied(workload)
        extra_head = (" body MB/s |" if uploads else "") + (" kept alive |" if kept else "")
        extra_head += " client cores |" if client else ""
        extra_rule = "---:|" * extra_head.count("|")
        lines += [
            f"## {workload}, c={concurrency} ({_kind(workload)})",
            "",
            WORKLOADS[workload].description if workload in WORKLOADS else "",
            "",
            f"| server | req/s (median) | × {group[0].baseline or meta['baseline']} |{extra_head} "
            "p50 ms | p99 ms | peak RSS MiB | rounds | status |",
            f"|---|---:|---:|{extra_rule}---:|---:|---:|---:|---|",
        ]
        for s in sorted(group, key=lambda s: -(s.rps or 0)):
            extra = f" {_fmt(s.body_mb_s, ',.0f')} |" if uploads else ""
            extra += f" {_kept(s)} |" if kept else ""
            extra += f" {_fmt(s.client_cores, '.2f')} |" if client else ""
            lines.append(
                f"| {s.server} | {_rate(s.rps)} | {_fmt(s.ratio, '.2f')} |{extra} {_fmt(s.p50_ms, '.2f')} "
                f"| {_fmt(s.p99_ms, '.2f')} | {_fmt(s.peak_rss_mib, '.1f')} | {s.rounds} | {_status(s)} |"
            )
        lines.append("")
    return "\n".join(lines)


def _varied(workload: str) -> bool:
    return workload in WORKLOADS and WORKLOADS[workload].varied


def _kind(workload: str) -> str:
    """How the cell's requests look: every one different, or one repeated (the cache's best case)."""
    if _varied(workload):
        return "varied: every request different"
    return "repeated head: one request over and over, the head cache's best case"


def _kept(summary: Summary) -> str:
    """``ab -k``'s "Keep-Alive requests" over the complete ones, summed over the rounds."""
    if summary.keep_alive_requests is None:
        return "–"
    share = summary.keep_alive_requests / summary.requests if summary.requests else 0.0
    return f"{summary.keep_alive_requests:,} of {summary.requests:,} ({share:.0%})"


def chart(summaries: list[Summary], path: Path, title: str) -> None:
    """Horizontal bars of median req/s, one panel per cell; hatched bars had errors."""
    cells: dict[tuple[str, int], list[Summary]] = {}
    for s in summaries:
        cells.setdefault((s.workload, s.concurrency), []).append(s)
    if not cells:
        return
    columns = 2 if len(cells) > 1 else 1
    rows = (len(cells) + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(7 * columns, 0.45 * 12 * rows + 1), squeeze=False)
    for ax, ((workload, concurrency), group) in zip(axes.flat, cells.items(), strict=False):
        group = sorted(group, key=lambda s: s.rps or 0)
        names = [s.server for s in group]
        values = [s.rps or 0 for s in group]
        colors = ["tab:red" if s.server.startswith("aiohttpbase") else "tab:gray" for s in group]
        bars = ax.barh(names, values, color=colors)
        for bar, s in zip(bars, group, strict=False):
            if not s.clean:
                bar.set_hatch("//")
            label = f" {_rate(s.rps)}" if s.rps is not None else " failed"
            ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, label,
                    va="center", fontsize=8)  # fmt: skip
        kind = "varied" if _varied(workload) else "repeated head"
        ax.set_title(
            f"{workload}, c={concurrency} ({kind})",
            fontsize=10,
            fontweight="bold" if kind == "varied" else None,
        )
        ax.set_xlabel("requests/s (median)")
        ax.tick_params(axis="y", labelsize=8)
        ax.set_xlim(0, max([*values, 1]) * 1.2)
    for ax in list(axes.flat)[len(cells) :]:
        ax.axis("off")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))  # room for the title
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write(out_dir: Path, runs: list[Run], summaries: list[Summary], meta: dict[str, Any]) -> list[Path]:
    """Write ``results.json``, ``results.md`` and ``results.png`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path, png_path = out_dir / "results.json", out_dir / "results.md", out_dir / "results.png"
    raw = {
        "meta": meta,
        "summaries": [{**s.__dict__, "clean": s.clean} for s in summaries],
        "runs": [r.to_json() for r in runs],
    }
    json_path.write_text(json.dumps(raw, indent=2) + "\n", encoding="utf-8")
    md_path.write_text(markdown(summaries, meta), encoding="utf-8")
    chart(summaries, png_path, f"{meta['mode']} mode, {meta['started']} (hatched: errors)")
    return [md_path, png_path, json_path]
