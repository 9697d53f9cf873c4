"""How fast each core of this VM runs during a measurement: a fixed loop, sampled.

The VM's host is shared. The same pure-Python loop, pinned to an idle vCPU, took 211 ms and,
seconds later, 472 ms, with the guest idle and no steal time reported (2026-11-26), and a
whole benchmark run measured the same server code at half the requests/s of the run before
with no other process busy. Nothing inside the guest shows it except running something of
known cost. `SpeedProbe` does that during every measured window: one small subprocess per
core, pinned to it, that every PERIOD seconds runs LOOP iterations of a fixed loop and records
the loop's thread CPU time (the time the guest scheduled it: the server competing for the
core does not count, a slow host does). About 2 % of each core.

Full speed on this VM is about 11 ms per loop; 20 ms means the core ran at half speed.

    python bench/_api_speed.py 0     # samples CPU 0 until stdin closes, then prints JSON
"""

from __future__ import annotations

import json
import os
import select
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

LOOP = 100_000
PERIOD = 0.5


def _loop_ms() -> float:
    started = time.thread_time()
    x = 0
    for i in range(LOOP):
        x += i * i % 7
    return (time.thread_time() - started) * 1000


def _sample(cpu: int) -> list[float]:
    """Sample on `cpu` every PERIOD until stdin is closed; return the loop times in ms."""
    os.sched_setaffinity(0, {cpu})
    out: list[float] = []
    while True:
        out.append(_loop_ms())
        readable, _, _ = select.select([sys.stdin], [], [], PERIOD)
        if readable and not sys.stdin.read(1):
            return out


class SpeedProbe:
    """The sampling subprocesses (one per core) of one window; `stop()` returns the summary."""

    def __init__(self, cpus: list[int]) -> None:
        self.procs = {
            cpu: subprocess.Popen(
                [sys.executable, str(Path(__file__)), str(cpu)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for cpu in cpus
        }
        self.summary: dict[str, Any] | None = None

    @property
    def pids(self) -> list[int]:
        return [proc.pid for proc in self.procs.values()]

    def stop(self) -> dict[str, Any]:
        """{cpuN: {samples, median_ms, max_ms}}: the loop's CPU time on each core (the same
        answer again if called twice)."""
        if self.summary is not None:
            return self.summary
        out: dict[str, Any] = {}
        for cpu, proc in self.procs.items():
            text, _ = proc.communicate(timeout=30)
            values: list[float] = json.loads(text)
            out[f"cpu{cpu}"] = {
                "samples": len(values),
                "median_ms": round(statistics.median(values), 1) if values else None,
                "max_ms": round(max(values), 1) if values else None,
            }
        self.summary = out
        return out


if __name__ == "__main__":
    print(json.dumps(_sample(int(sys.argv[1]))))
