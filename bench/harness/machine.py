"""Facts about the machine and processes, read from ``/proc``: load, CPU time, peak RSS, fd limit."""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass

CLOCK_TICKS: int = os.sysconf("SC_CLK_TCK")


def loadavg() -> str:
    """The first three fields of ``/proc/loadavg`` (1, 5 and 15 minute load)."""
    with open("/proc/loadavg", encoding="ascii") as f:
        return " ".join(f.read().split()[:3])


def busy_cpu_seconds() -> float:
    """CPU seconds spent non-idle on all cores since boot (``/proc/stat``, first line)."""
    with open("/proc/stat", encoding="ascii") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice: idle and iowait are idle,
    # guest time is already counted inside user.
    busy = sum(fields[:8]) - fields[3] - fields[4]
    return busy / CLOCK_TICKS


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (all its threads); 0.0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            stat = f.read()
    except OSError:
        return 0.0
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def children_cpu_seconds() -> float:
    """User + system CPU seconds of this process's waited-for children (e.g. finished wrk runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def idle_check(window_s: float = 0.5) -> float:
    """Fraction of one core used by everything on the machine during ``window_s`` seconds."""
    before = busy_cpu_seconds()
    time.sleep(window_s)
    return (busy_cpu_seconds() - before) / window_s


def peak_rss_kib(pid: int) -> int | None:
    """``VmHWM`` (peak resident set size) of a live process in KiB, or None if unreadable."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak_rss(pid: int) -> bool:
    """Reset a process's ``VmHWM`` to its current RSS (``echo 5 > /proc/PID/clear_refs``)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


def raise_nofile_limit(wanted: int = 65536) -> int:
    """Raise this process's soft ``RLIMIT_NOFILE`` (inherited by servers and wrk); return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


@dataclass
class CpuWindow:
    """Measures CPU used during a run by processes other than the ones being measured."""

    start_busy: float = 0.0
    start_own: float = 0.0
    start_wall: float = 0.0

    def start(self, server_pid: int) -> None:
        self.start_busy = busy_cpu_seconds()
        self.start_own = process_cpu_seconds(server_pid) + children_cpu_seconds()
        self.start_wall = time.monotonic()

    def other_cores(self, server_pid: int) -> float:
        """Cores' worth of CPU used by others (not the server, not wrk) since :meth:`start`.

        Call after wrk has been waited for, so its CPU time is in ``RUSAGE_CHILDREN``.
        """
        wall = time.monotonic() - self.start_wall
        busy = busy_cpu_seconds() - self.start_busy
        own = process_cpu_seconds(server_pid) + children_cpu_seconds() - self.start_own
        return max(0.0, busy - own) / wall if wall > 0 else 0.0
