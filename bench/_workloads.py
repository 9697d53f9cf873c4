"""W1..W4 against one server kind: start it, drive the generator, read memory, check counts."""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _coldsync import cold_sync, warm_sync
from _interference import Interference
from _loadgen import LoadGen
from _servers import TASKLY, Server, start_server
from _taskly_store import (
    W1_W2_WORKSPACE,
    W3_WORKSPACE,
    W4_WORKSPACE,
    StoredW4,
    check_small_boards,
    check_stored,
    cli_create_board,
    create_small_boards,
    decode_state_vector,
    provision_token,
    store_w4,
)
from _w4board import BoardHistory
from pycrdt import Doc


@dataclass
class Plan:
    """Sizes of every workload; `quick()` shrinks them for a smoke run."""

    receivers: list[int] = field(default_factory=lambda: [10, 50, 200])
    seed_cards: int = 200
    paced_edits: int = 100
    paced_interval_ms: float = 20.0
    burst_edits: int = 500
    w2_writers: int = 50
    w2_edits: int = 20
    w3_boards: int = 1000
    w3_cycles: int = 10
    w4_cards: int = 10_000
    w4_runs: int = 3
    idle_unload_s: float = 1.0
    deflate: bool = False

    @classmethod
    def quick(cls) -> Plan:
        return cls(
            receivers=[10, 50],
            burst_edits=200,
            w2_writers=20,
            w2_edits=10,
            w3_boards=200,
            w3_cycles=2,
            w4_cards=2000,
            w4_runs=2,
        )


@dataclass
class Context:
    """What every server's run shares: the plan, the generator, where to put files."""

    plan: Plan
    loadgen: LoadGen
    work_dir: Path
    server_cpus: set[int] | None
    client_cpus: set[int] | None
    workloads: set[str]
    history: BoardHistory | None = None

    def watch(self, server: Server) -> Interference | None:
        """Start measuring other processes' CPU use on our pinned cores (None if unpinned)."""
        if self.server_cpus is None or self.client_cpus is None:
            return None
        mine = [self.loadgen.proc.pid, os.getpid()]
        return Interference({min(self.server_cpus): server.pids(), min(self.client_cpus): mine})


def _with_interference(result: dict[str, Any], watch: Interference | None) -> dict[str, Any]:
    if watch is not None:
        result["interference"] = watch.stop()
    return result


def _taskly_env(plan: Plan) -> dict[str, str]:
    return {"TASKLY_IDLE_UNLOAD_SECONDS": str(plan.idle_unload_s), "TASKLY_LOG_LEVEL": "warning"}


def _start(
    kind: str, ctx: Context, data_dir: Path | None, workspaces: list[str] | None = None
) -> Server:
    """Start `kind`; Taskly with a user owning `workspaces` and their token (made first)."""
    token = None
    if kind == TASKLY:
        assert data_dir is not None and workspaces is not None
        token = provision_token(data_dir, workspaces)
    return start_server(
        kind,
        ctx.work_dir,
        cpus=ctx.server_cpus,
        data_dir=data_dir,
        env=_taskly_env(ctx.plan) if kind == TASKLY else None,
        token=token,
    )


def _public(result: dict[str, Any]) -> dict[str, Any]:
    """Drop the bulky per-card expectations from what goes into the report."""
    return {k: v for k, v in result.items() if k not in ("expected_positions", "writer_clocks")}


def run_w1_w2(kind: str, ctx: Context) -> dict[str, Any]:
    """W1 at every C, then W2, on one server process (a board or room each)."""
    plan = ctx.plan
    data_dir = ctx.work_dir / f"{kind}-w1w2" if kind == TASKLY else None
    names = [f"w1-c{c}" for c in plan.receivers] + ["w2"]
    if data_dir is not None:
        rooms = {name: cli_create_board(data_dir, f"bench {name}") for name in names}
    else:
        rooms = {name: f"{name}-{int(time.time())}" for name in names}
    out: dict[str, Any] = {}
    server = _start(kind, ctx, data_dir, [W1_W2_WORKSPACE])
    try:
        if "w1" in ctx.workloads:
            out["w1"] = {}
            for c in plan.receivers:
                room = rooms[f"w1-c{c}"]
                watch = ctx.watch(server)
                result = ctx.loadgen.call(
                    "w1",
                    url=server.url(room),
                    room=room,
                    receivers=c,
                    seed=plan.seed_cards,
                    pacedEdits=plan.paced_edits,
                    pacedIntervalMs=plan.paced_interval_ms,
                    burstEdits=plan.burst_edits,
                    deflate=plan.deflate,
                )
                if data_dir is not None:
                    result["check"].update(
                        check_stored(
                            data_dir, room, result["writer_clocks"], result["expected_positions"]
                        )
                    )
                out["w1"][str(c)] = _with_interference(_public(result), watch)
        if "w2" in ctx.workloads:
            room = rooms["w2"]
            watch = ctx.watch(server)
            result = ctx.loadgen.call(
                "w2",
                url=server.url(room),
                room=room,
                writers=plan.w2_writers,
                editsPerClient=plan.w2_edits,
                deflate=plan.deflate,
            )
            if data_dir is not None:
                result["check"].update(
                    check_stored(
                        data_dir, room, result["writer_clocks"], result["expected_positions"]
                    )
                )
            out["w2"] = _with_interference(_public(result), watch)
    finally:
        out["exit_code"] = server.stop()
    return out


def _wait_unloaded(server: Server, timeout: float = 60.0) -> float:
    """Poll Taskly's /metrics until no board is loaded; return the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if server.metrics().get("taskly_boards_loaded", 0.0) == 0.0:
            return time.monotonic() - started
        time.sleep(0.1)
    raise TimeoutError(f"taskly_boards_loaded still > 0 after {timeout:.0f} s")


def _w3_round(server: Server, ctx: Context, rooms: list[str]) -> dict[str, Any]:
    """Open one client per board at once, read the server's RSS with all open, close them."""
    time.sleep(0.5)
    rss_before = server.rss_bytes()
    watch = ctx.watch(server)
    opened = ctx.loadgen.call(
        "w3_open",
        urls=[server.url(r) for r in rooms],
        pushTemplate=server.kind != TASKLY,
        deflate=ctx.plan.deflate,
    )
    _with_interference(opened, watch)
    time.sleep(1.0)  # baselines apply the uploaded boards after answering sync step 1
    rss_open = server.rss_bytes()
    if server.kind == TASKLY:
        opened["boards_loaded_metric"] = server.metrics().get("taskly_boards_loaded")
    opened["closed"] = ctx.loadgen.call("w3_close")["closed"]
    opened["rss_before_bytes"] = rss_before
    opened["rss_open_bytes"] = rss_open
    opened["kib_per_board"] = round((rss_open - rss_before) / len(rooms) / 1024, 1)
    return opened


def run_w3_w4(kind: str, ctx: Context) -> dict[str, Any]:
    """W3 (and for Taskly the load/unload cycles), then W4, on a fresh server process."""
    plan = ctx.plan
    out: dict[str, Any] = {}
    data_dir = ctx.work_dir / f"{kind}-w3w4" if kind == TASKLY else None
    w3_rooms = [f"w3-{i}" for i in range(plan.w3_boards)]
    stored_w4 = None
    workspaces = []
    if data_dir is not None:
        if "w3" in ctx.workloads:
            w3_rooms = create_small_boards(data_dir, plan.w3_boards)
            workspaces.append(W3_WORKSPACE)
        if "w4" in ctx.workloads:
            assert ctx.history is not None
            stored_w4 = store_w4(data_dir, ctx.history)
            workspaces.append(W4_WORKSPACE)
    server = _start(kind, ctx, data_dir, workspaces)
    try:
        if "w3" in ctx.workloads:
            out["w3"] = _w3_round(server, ctx, w3_rooms)
            if data_dir is not None:
                out["w3"]["cycles"] = _cycles(server, ctx, w3_rooms, out["w3"])
        if "w4" in ctx.workloads:
            watch = ctx.watch(server)
            out["w4"] = _with_interference(_w4(server, ctx, stored_w4), watch)
    finally:
        out["exit_code"] = server.stop()
    if data_dir is not None and "w3" in ctx.workloads:
        out["w3"]["stored_boards_ok"] = check_small_boards(data_dir, w3_rooms)
    return out


def _cycles(
    server: Server, ctx: Context, rooms: list[str], first: dict[str, Any]
) -> dict[str, Any]:
    """Ten rounds of loading 1,000 boards and idle-unloading them; RSS after each unload."""
    rss_after_unload = []
    unload_s = []
    p99 = [first["connect_and_sync"]["p99_ms"]]
    for cycle in range(ctx.plan.w3_cycles):
        if cycle > 0:
            p99.append(_w3_round(server, ctx, rooms)["connect_and_sync"]["p99_ms"])
        unload_s.append(round(_wait_unloaded(server), 2))
        time.sleep(0.3)
        rss_after_unload.append(server.rss_bytes())
    return {
        "cycles": ctx.plan.w3_cycles,
        "rss_after_unload_bytes": rss_after_unload,
        "seconds_to_unload": unload_s,
        "connect_and_sync_p99_ms": p99,
        "last_over_first": round(rss_after_unload[-1] / rss_after_unload[0], 3),
    }


def apply_ms(state: bytes) -> float:
    """The floor: a compacted state applied to a fresh pycrdt Doc, in this one process."""
    started = time.perf_counter()
    Doc().apply_update(state)
    return (time.perf_counter() - started) * 1000


def _w4(server: Server, ctx: Context, stored: StoredW4 | None) -> dict[str, Any]:
    history = ctx.history
    assert history is not None
    expected_state = decode_state_vector(history.state_vector)
    runs: list[dict[str, Any]] = []
    # Floor samples are taken between the runs, in the same process as the client's own
    # apply: a 6.6 MB apply varies by +-30 % with the allocator's state, and interleaving
    # puts the floor and the client under the same conditions.
    floor: list[float] = []
    extra: dict[str, Any] = {}
    if stored is not None:
        for _ in range(ctx.plan.w4_runs):
            floor += [apply_ms(stored.snapshot) for _ in range(3)]
            _wait_unloaded(server)  # cold: the board must come from storage each time
            runs.append(cold_sync(server.url(stored.board_id)))
        mode = "cold load from storage"
        extra = {
            "rows_appended": stored.rows_appended,
            "snapshot_bytes": len(stored.snapshot),
            "floor_ms_median": round(statistics.median(floor), 1),
            "floor_ms": [round(x, 1) for x in floor],
        }
    else:
        runs = warm_sync(
            server.url(f"w4-{int(time.time())}"), history.doc.get_update(), ctx.plan.w4_runs
        )
        mode = "no storage: pushed by a client, then a fresh client syncs (warm, in memory)"
    complete = all(
        r["cards"] == history.cards and decode_state_vector(r["state"]) == expected_state
        for r in runs
    )
    for r in runs:
        del r["state"]
    return {
        "mode": mode,
        "runs": runs,
        "synced_ms_median": round(statistics.median(r["synced_ms"] for r in runs), 1),
        "step2_received_ms_median": round(
            statistics.median(r["step2_received_ms"] for r in runs), 1
        ),
        "check": {"every_card_and_edit_synced": complete},
        **extra,
    }
