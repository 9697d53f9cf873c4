"""Sync benchmark: Taskly beside pycrdt-websocket and the Node y-websocket server, one run.

    .venv/bin/python bench/sync_bench.py                      # everything, < 5 minutes
    .venv/bin/python bench/sync_bench.py --quick              # smaller sizes, a smoke run
    .venv/bin/python bench/sync_bench.py --servers pycrdt-websocket,node-ws-server --workloads w1,w2

Workloads (issue 3): W1 fan-out (1 writer, C receivers, card moves: latency p50/p99 at a
paced rate, deliveries/s in a burst), W2 many writers (time to converge), W3 many boards
(memory per board, connect+sync p50/p99; Taskly also 10 load/idle-unload cycles), W4 cold
load of a 10,000-card board against the pycrdt floor. Every workload ends with a count check.
Placement on this 2-core machine: each server on CPU 0, the Node load generator and this
script on CPU 1 (--no-pin lets the kernel place them). Prints a markdown table, then JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))  # the repository's packages (storage, crdt_model)

import _servers  # noqa: E402
from _loadgen import LoadGen  # noqa: E402
from _report import count_checks, table, worst_interference  # noqa: E402
from _servers import ALL_SERVERS, TASKLY  # noqa: E402
from _w4board import build_history  # noqa: E402
from _workloads import Context, Plan, apply_ms, run_w1_w2, run_w3_w4  # noqa: E402

SERVER_CPU, CLIENT_CPU = 0, 1
WORKLOADS = ("w1", "w2", "w3", "w4")


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--servers",
        default=",".join(ALL_SERVERS),
        help=f"comma-separated subset of {', '.join(ALL_SERVERS)}",
    )
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    parser.add_argument(
        "--deflate", action="store_true", help="clients offer permessage-deflate, as browsers do"
    )
    parser.add_argument("--cycles", type=int, help="Taskly load/unload cycles (default 10)")
    parser.add_argument("--json", type=Path, help="also write the JSON report to this file")
    parser.add_argument("--taskly-cmd", help="the taskly executable (default .venv/bin/taskly)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, DBs)")
    return parser.parse_args()


def _floor_ms(update: bytes, runs: int = 7) -> float:
    """W4's floor measured here too, so that it exists when Taskly does not run."""
    return statistics.median(apply_ms(update) for _ in range(runs))


def _machine_busy_percent(seconds: float = 1.0) -> float:
    """CPU use of the whole machine over `seconds` before the run (other people's work).

    On a 2-core machine any other busy process (a test suite, another benchmark) moves
    every figure here, so the report says how quiet the machine was.
    """

    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return idle, sum(fields)

    idle0, total0 = sample()
    time.sleep(seconds)
    idle1, total1 = sample()
    return round(100 * (1 - (idle1 - idle0) / max(1, total1 - total0)), 1)


def _versions() -> dict[str, str]:
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False)
    return {
        "python": platform.python_version(),
        "node": node.stdout.strip(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
    }


def main() -> int:
    args = _args()
    plan = Plan.quick() if args.quick else Plan()
    plan.deflate = args.deflate
    if args.cycles is not None:
        plan.w3_cycles = args.cycles
    if args.taskly_cmd:
        _servers.TASKLY_CMD = [args.taskly_cmd]
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    workloads = {w.strip() for w in args.workloads.split(",") if w.strip()}
    unknown = (set(servers) - set(ALL_SERVERS)) | (workloads - set(WORKLOADS))
    if unknown:
        sys.exit(f"unknown server or workload: {', '.join(sorted(unknown))}")
    # A thousand sockets on each side of the loopback.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    pin = not args.no_pin and (os.cpu_count() or 1) >= 2
    if pin:
        os.sched_setaffinity(0, {CLIENT_CPU})

    busy = _machine_busy_percent()
    if busy > 10:
        print(
            f"warning: the machine was {busy}% busy before the run; figures will be noisy",
            file=sys.stderr,
        )
    started = time.monotonic()
    work_dir = Path(tempfile.mkdtemp(prefix="taskly-sync-bench-"))
    print(
        f"work dir {work_dir}; servers {', '.join(servers)}; workloads "
        f"{', '.join(sorted(workloads))}{' (quick)' if args.quick else ''}",
        file=sys.stderr,
    )
    loadgen = LoadGen(work_dir / "loadgen.log", {CLIENT_CPU} if pin else None)
    ctx = Context(
        plan,
        loadgen,
        work_dir,
        {SERVER_CPU} if pin else None,
        {CLIENT_CPU} if pin else None,
        workloads,
    )
    floor = None
    if "w4" in workloads:
        ctx.history = build_history(plan.w4_cards)
        floor = _floor_ms(ctx.history.doc.get_update())

    results: dict[str, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    try:
        for kind in servers:
            results[kind] = {}
            for phase in (run_w1_w2, run_w3_w4):
                if phase is run_w1_w2 and not workloads & {"w1", "w2"}:
                    continue
                if phase is run_w3_w4 and not workloads & {"w3", "w4"}:
                    continue
                t0 = time.monotonic()
                try:
                    results[kind].update(phase(kind, ctx))
                except Exception as exc:  # one server failing must not lose the others' figures
                    errors[f"{kind} {phase.__name__}"] = f"{exc!r}"
                    print(traceback.format_exc(), file=sys.stderr)
                print(f"{kind} {phase.__name__}: {time.monotonic() - t0:.1f} s", file=sys.stderr)
    finally:
        loadgen.close()

    taskly_floor = results.get(TASKLY, {}).get("w4", {}).get("floor_ms_median")
    report = {
        "plan": vars(plan),
        "placement": (
            "servers pinned to CPU 0; load generator and this script to CPU 1"
            if pin
            else "not pinned"
        ),
        "versions": _versions(),
        "machine_busy_before_percent": busy,
        "loadavg_after": os.getloadavg(),
        "w4_floor_ms": taskly_floor or floor,
        "results": results,
        "count_checks": count_checks(results),
        "errors": errors,
        "seconds": round(time.monotonic() - started, 1),
        "work_dir": str(work_dir) if args.keep else None,
    }
    print(table(results, plan, taskly_floor or floor))
    print(
        "\nTaskly persists every update (SQLite, committed before broadcast); "
        "the baselines hold rooms in memory only."
    )
    print(f"count checks: {json.dumps(report['count_checks'])}")
    print(
        f"interference (other processes' CPU %, worst workload per server): "
        f"{json.dumps(worst_interference(results))}"
    )
    print(
        f"machine busy before the run: {busy}% (other processes); placement: {report['placement']}"
    )
    if errors:
        print(f"errors: {json.dumps(errors, indent=1)}")
    text = json.dumps(report, indent=1, default=str)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    if not args.keep:
        shutil.rmtree(work_dir, ignore_errors=True)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
