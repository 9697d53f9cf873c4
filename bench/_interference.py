"""How much CPU other processes took on each core while a workload ran.

The machine has two cores and is shared (a test suite in another shell is enough to halve a
server's throughput), so every workload records, per CPU, the busy time that neither the
server, nor the load generator, nor this script accounts for. Figures taken with a few
percent of interference are comparable; with tens of percent they are not.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_busy() -> dict[int, int]:
    """Busy jiffies per CPU (everything but idle and iowait)."""
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu") and line[3].isdigit():
            name, *values = line.split()
            fields = [int(v) for v in values]
            out[int(name[3:])] = sum(fields) - fields[3] - fields[4]
    return out


def _proc_jiffies(pid: int) -> tuple[int, int]:
    """(utime + stime, last CPU) of a process, from /proc/PID/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0, -1
    return int(fields[11]) + int(fields[12]), int(fields[36])


class Interference:
    """Measure from construction to `stop()`; `ours` maps CPU -> pids pinned to it."""

    def __init__(self, ours: dict[int, list[int]]) -> None:
        self.ours = ours
        self.wall = time.monotonic()
        self.busy = _cpu_busy()
        self.own = {pid: _proc_jiffies(pid)[0] for pids in ours.values() for pid in pids}

    def stop(self) -> dict[str, float]:
        """Percent of each CPU used by other processes meanwhile."""
        elapsed = max(1e-6, time.monotonic() - self.wall) * _TICKS
        busy = _cpu_busy()
        out = {}
        for cpu, pids in self.ours.items():
            own = sum(_proc_jiffies(pid)[0] - self.own.get(pid, 0) for pid in pids)
            other = busy.get(cpu, 0) - self.busy.get(cpu, 0) - own
            out[f"cpu{cpu}_other_percent"] = round(max(0.0, 100 * other / elapsed), 1)
        return out
