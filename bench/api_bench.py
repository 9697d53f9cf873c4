"""REST API benchmark (issue 5): materialization lag under W2, reads on a 100,000-card workspace.

    .venv/bin/python bench/api_bench.py                  # SQLite and Postgres, < 10 minutes
    .venv/bin/python bench/api_bench.py --quick          # small sizes, a smoke run (1-1.5 min)
    .venv/bin/python bench/api_bench.py --backends sqlite --parts api --duration 10

Per backend (a fresh SQLite data directory, or a fresh Postgres database dropped afterwards):
- lag: the sync benchmark's W2 (50 writers, 1,000 card moves in a burst) against a real
  `taskly serve`; for every move, the time from the server stamping its log row to the
  materialized rows being visible (watermark read from a separate connection). p50/p99.
- api: 100 boards × 1,000 cards (crdt_model documents, one update per board, stored with the
  storage API), projected by the server's materializer at start (timed), then 50 concurrent
  clients for a fixed time on GET /api/boards/{id}, a filtered workspace card query and GET of
  one card: p50/p99 latency and requests/s, with a raw asyncio HTTP/1.1 client and with httpx.
Placement on this 2-core machine: the server on CPU 0; this script (the HTTP clients, the
poller) and the Node load generator on CPU 1; Postgres is not pinned. Every window also records
the CPU use of everything involved and the host's speed (_api_speed.py). Prints two markdown
tables, then JSON. bench/README.md has the method and the figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))  # the repository's packages (storage, crdt_model)

import _api_data  # noqa: E402
import httpx  # noqa: E402
from _api_lag import run_lag  # noqa: E402
from _api_load import CLIENT_KINDS, Scenario, run_scenario  # noqa: E402
from _api_setup import BACKENDS, RATE_LIMIT, Backend, backend  # noqa: E402
from _api_speed import SpeedProbe  # noqa: E402
from _loadgen import LoadGen  # noqa: E402

SERVER_CPU, CLIENT_CPU = 0, 1
PARTS = ("lag", "api")


@dataclass
class Plan:
    """Sizes; `quick()` shrinks them for a smoke run of a few seconds per part."""

    boards: int = 100
    cards_per_board: int = 1000
    members: int = 20
    clients: int = 50
    warmup_s: float = 3.0
    duration_s: float = 15.0
    lag_runs: int = 3
    # HTTP clients to run every scenario with; the first one's figures head the table.
    http_clients: tuple[str, ...] = ("raw", "httpx")
    w2_writers: int = 50
    w2_edits: int = 20
    projection_timeout_s: float = 600.0

    @classmethod
    def quick(cls) -> Plan:
        return cls(
            boards=3,
            cards_per_board=200,
            clients=10,
            warmup_s=0.5,
            duration_s=2.0,
            lag_runs=1,
            w2_writers=10,
            w2_edits=5,
            projection_timeout_s=120.0,
        )


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default=",".join(BACKENDS), help="sqlite,postgres")
    parser.add_argument("--parts", default=",".join(PARTS), help="lag,api")
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--clients", type=int, help="concurrent HTTP clients (default 50)")
    parser.add_argument("--duration", type=float, help="measured seconds per scenario (15)")
    parser.add_argument("--lag-runs", type=int, help="W2 runs per backend (default 3)")
    parser.add_argument(
        "--http-clients",
        help=f"comma-separated, from {', '.join(CLIENT_KINDS)} (default: raw,httpx)",
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    parser.add_argument("--json", type=Path, help="also write the JSON report to this file")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, DB)")
    return parser.parse_args()


def _machine_busy_percent(seconds: float = 1.0) -> float:
    """CPU use of the whole machine over `seconds` before the run (other people's work)."""

    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return fields[3] + fields[4], sum(fields)

    idle0, total0 = sample()
    time.sleep(seconds)
    idle1, total1 = sample()
    return round(100 * (1 - (idle1 - idle0) / max(1, total1 - total0)), 1)


def _versions() -> dict[str, str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.machine(),
    )
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False)
    pg = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-Atc", "SHOW server_version"],
        capture_output=True,
        text=True,
        check=False,
    )
    return {
        "cpu": f"{cpu}, {os.cpu_count()} CPUs",
        "python": platform.python_version(),
        "node": node.stdout.strip(),
        "sqlite": sqlite3.sqlite_version,
        "postgres": pg.stdout.strip() or "unknown",
        "httpx": httpx.__version__,
    }


def _code() -> dict[str, Any]:
    """Which server code ran: HEAD, and a hash of the uncommitted changes to the packages.

    Read-only git (`--no-optional-locks`: not even an index refresh); others may be editing
    the working tree while a run takes minutes, so the hash is taken at the start and the end.
    """

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "--no-optional-locks", *args],
            cwd=BENCH.parent,
            capture_output=True,
            check=False,
        )
        return done.stdout.decode(errors="replace").strip()

    diff = git("diff", "HEAD", "--", "crdt_model", "storage", "sync_server")
    return {
        "head": git("rev-parse", "--short", "HEAD"),
        "uncommitted_files": len(
            git("diff", "HEAD", "--name-only", "--", "crdt_model", "storage", "sync_server").split()
        ),
        "uncommitted_sha256": hashlib.sha256(diff.encode()).hexdigest()[:12] if diff else None,
    }


def _check_reads(base: str, token: str, ws: _api_data.Workspace) -> dict[str, Any]:
    """Before timing: the answers are right (a whole board, one assignee's high cards by due)."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
        board_id = ws.board_ids[-1]
        board = client.get(f"/api/boards/{board_id}")
        board.raise_for_status()
        cards = board.json()["cards"]
        user_id = ws.users[0][0]
        seen: list[dict[str, Any]] = []
        cursor: str | None = None
        pages = 0
        while True:
            params = {"assignee": user_id, "priority": "high", "sort": "due", "limit": "200"}
            if cursor:
                params["cursor"] = cursor
            page = client.get(f"/api/workspaces/{ws.workspace_id}/cards", params=params)
            page.raise_for_status()
            body = page.json()
            seen += body["items"]
            pages += 1
            cursor = body["next_cursor"]
            if cursor is None:
                break
    dues = [card["due"] for card in seen]
    dated = [d for d in dues if d is not None]
    ordered = dated == sorted(dated) and all(d is None for d in dues[len(dated) :])
    matching = all(card["priority"] == "high" and card["assignees"] == [user_id] for card in seen)
    expected = ws.high_by_assignee[user_id]
    checks = {
        "board_cards": len(cards),
        "board_cards_expected": ws.cards_per_board,
        "query_matches": len(seen),
        "query_matches_expected": expected,
        "query_pages_of_200": pages,
        "query_sorted_by_due": ordered,
        "query_items_match_filters": matching,
    }
    checks["ok"] = (
        len(cards) == ws.cards_per_board and len(seen) == expected and ordered and matching
    )
    return checks


def _scenarios(ws: _api_data.Workspace) -> list[Scenario]:
    boards = ws.board_ids
    users = [user_id for user_id, _ in ws.users]
    some_cards = [f"/api/boards/{b}/cards/{c}" for b in boards for c in ws.cards[b][:10]]
    return [
        Scenario(
            "board",
            f"GET /api/boards/{{id}} ({ws.cards_per_board:,}-card board, cycling {len(boards)})",
            [f"/api/boards/{b}" for b in boards],
        ),
        Scenario(
            "query",
            f"GET /api/workspaces/{{id}}/cards?assignee=U&priority=high&sort=due "
            f"({len(boards) * ws.cards_per_board:,} cards, cycling {len(users)} assignees)",
            [
                f"/api/workspaces/{ws.workspace_id}/cards?assignee={u}&priority=high&sort=due"
                for u in users
            ],
        ),
        Scenario(
            "card",
            "GET /api/boards/{id}/cards/{card} (one card: the per-request floor)",
            some_cards,
        ),
    ]


def run_api(
    b: Backend,
    ws: _api_data.Workspace,
    plan: Plan,
    work_dir: Path,
    server_cpus: set[int] | None,
) -> dict[str, Any]:
    """Store the workspace, start the server, time its projection, then load the API."""
    out: dict[str, Any] = _api_data.store(b, ws)
    token = b.provision_token(_api_data.WORKSPACE)
    probe = b.probe()
    started = time.monotonic()
    server = b.start(work_dir, token, server_cpus)
    try:
        out["listening_s"] = round(time.monotonic() - started, 2)
        speed = SpeedProbe([SERVER_CPU, CLIENT_CPU])
        try:
            seconds = _api_data.wait_projected(
                probe, ws.board_ids, started, plan.projection_timeout_s
            )
        finally:
            host = speed.stop()
        cards = len(ws.boards) * ws.cards_per_board
        out["projection"] = {
            "boards": len(ws.boards),
            "cards": cards,
            "seconds_from_server_start": round(seconds, 1),
            "cards_per_s": round(cards / seconds),
            "host_loop_ms": host,
        }
        base = f"http://{server.host}:{server.port}"
        out["checks"] = _check_reads(base, token, ws)
        out["scenarios"] = {}
        for scenario in _scenarios(ws):
            for i, client in enumerate(plan.http_clients):
                name = scenario.name if i == 0 else f"{scenario.name} ({client})"
                print(f"  {b.kind} {name} ...", file=sys.stderr)
                out["scenarios"][name] = run_scenario(
                    base,
                    token,
                    scenario,
                    clients=plan.clients,
                    warmup=plan.warmup_s,
                    duration=plan.duration_s,
                    groups=lambda: {"server": server.pids(), "postgres": probe.backend_pids()},
                    client_kind=client,
                )
                time.sleep(1.0)
    finally:
        probe.close()
        out["exit_code"] = server.stop()
        out["server_log_tail"] = server.log_tail(5)
    return out


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def table(results: dict[str, dict[str, Any]], plan: Plan) -> str:
    """Two markdown tables: lag and projection (a column per backend), then the API loads.

    "CPU0 loop ms" is _api_speed's probe on the server's core during that window (median):
    about 11 ms when the VM's host gives it full speed, twice that at half speed.
    """
    kinds = list(results)

    def get(kind: str, *path: str) -> Any:
        value: Any = results[kind]
        for key in path:
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
        return value

    def lag_runs(kind: str, key: str) -> str:
        runs = get(kind, "lag", "runs") or []
        values = [_fmt(run[key]["p50_ms"] if key == "lag_moves" else run[key]) for run in runs]
        return ", ".join(values) or "—"

    def host(kind: str, *path: str) -> str:
        runs = get(kind, *path)
        return _fmt(get(kind, *path, "host_loop_ms", "cpu0", "median_ms")) if runs else "—"

    w2 = f"W2 ({plan.w2_writers} writers × {plan.w2_edits} moves, {plan.lag_runs} runs)"
    cards = plan.boards * plan.cards_per_board
    rows: list[tuple[str, list[str]]] = [
        (
            f"{w2}: lag update stored → rows visible, p50 (ms)",
            [_fmt(get(k, "lag", "lag_moves", "p50_ms")) for k in kinds],
        ),
        (f"{w2}: lag p99 (ms)", [_fmt(get(k, "lag", "lag_moves", "p99_ms")) for k in kinds]),
        (f"{w2}: lag max (ms)", [_fmt(get(k, "lag", "lag_moves", "max_ms")) for k in kinds]),
        (f"{w2}: moves sampled", [_fmt(get(k, "lag", "lag_moves", "n")) for k in kinds]),
        ("  each run's lag p50 (ms)", [lag_runs(k, "lag_moves") for k in kinds]),
        ("  each run's W2 sync convergence (ms)", [lag_runs(k, "w2_converge_ms") for k in kinds]),
        (
            "  each run's CPU0 loop ms (host speed; ~11 = full)",
            [
                ", ".join(
                    _fmt(run["host_loop_ms"]["cpu0"]["median_ms"])
                    for run in get(k, "lag", "runs") or []
                )
                or "—"
                for k in kinds
            ],
        ),
        (
            f"projection of {plan.boards} boards × {plan.cards_per_board:,} cards "
            "from server start (s)",
            [_fmt(get(k, "api", "projection", "seconds_from_server_start")) for k in kinds],
        ),
        (
            f"  = cards projected per s ({cards:,} cards)",
            [_fmt(get(k, "api", "projection", "cards_per_s")) for k in kinds],
        ),
        ("  CPU0 loop ms (host speed)", [host(k, "api", "projection") for k in kinds]),
    ]
    lines = ["| figure | " + " | ".join(kinds) + " |", "|---|" + "---|" * len(kinds)]
    lines += [f"| {name} | " + " | ".join(cells) + " |" for name, cells in rows]

    labels = {
        "board": f"GET /api/boards/{{id}} ({plan.cards_per_board:,} cards)",
        "query": f"filtered workspace card query ({cards:,} cards)",
        "card": "GET one card (floor)",
    }
    lines += [
        "",
        f"| request ({plan.clients} clients) | client | database | p50 ms | p99 ms | req/s "
        "| CPU % server / postgres / clients / other | CPU0 loop ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for scenario, label in labels.items():
        for i, client in enumerate(plan.http_clients):
            name = scenario if i == 0 else f"{scenario} ({client})"
            for k in kinds:
                sc = get(k, "api", "scenarios", name)
                if sc is None:
                    continue
                cpu = " / ".join(
                    _fmt(sc.get(key))
                    for key in (
                        "server_cpu_percent",
                        "postgres_cpu_percent",
                        "client_cpu_percent",
                        "other_cpu_percent",
                    )
                )
                lines.append(
                    f"| {label} | {client} | {k} | {_fmt(sc['latency']['p50_ms'])} "
                    f"| {_fmt(sc['latency']['p99_ms'])} | {_fmt(sc['requests_per_s'])} | {cpu} "
                    f"| {_fmt(sc['host_loop_ms']['cpu0']['median_ms'])} |"
                )
    return "\n".join(lines)


def main() -> int:
    args = _args()
    plan = Plan.quick() if args.quick else Plan()
    if args.clients is not None:
        plan.clients = args.clients
    if args.duration is not None:
        plan.duration_s = args.duration
    if args.lag_runs is not None:
        plan.lag_runs = args.lag_runs
    if args.http_clients:
        plan.http_clients = tuple(c.strip() for c in args.http_clients.split(",") if c.strip())
    kinds = [k.strip() for k in args.backends.split(",") if k.strip()]
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    unknown = (set(kinds) - set(BACKENDS)) | (parts - set(PARTS))
    unknown |= set(plan.http_clients) - set(CLIENT_KINDS)
    if unknown:
        sys.exit(f"unknown backend or part: {', '.join(sorted(unknown))}")
    pin = not args.no_pin and (os.cpu_count() or 1) >= 2
    busy = _machine_busy_percent()
    if busy > 10:
        print(f"warning: the machine was {busy}% busy before the run", file=sys.stderr)
    started = time.monotonic()
    code_at_start = _code()
    work_dir = Path(tempfile.mkdtemp(prefix="taskly-api-bench-"))
    print(f"work dir {work_dir}; {', '.join(kinds)}; {', '.join(sorted(parts))}", file=sys.stderr)

    ws = None
    if "api" in parts:
        ws = _api_data.generate(plan.boards, plan.cards_per_board, plan.members)
        _api_data.check_board(ws)
        print(f"generated {plan.boards} boards in {ws.seconds:.1f} s", file=sys.stderr)
    if pin:
        os.sched_setaffinity(0, {CLIENT_CPU})  # the Node generator inherits it
    server_cpus = {SERVER_CPU} if pin else None
    loadgen = (
        LoadGen(work_dir / "loadgen.log", {CLIENT_CPU} if pin else None) if "lag" in parts else None
    )

    results: dict[str, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    try:
        for kind in kinds:
            results[kind] = {}
            for part in ("lag", "api"):
                if part not in parts:
                    continue
                t0 = time.monotonic()
                try:
                    with backend(kind, work_dir, part) as b:
                        if part == "lag":
                            assert loadgen is not None
                            results[kind]["lag"] = run_lag(
                                b,
                                loadgen,
                                work_dir,
                                runs=plan.lag_runs,
                                writers=plan.w2_writers,
                                edits=plan.w2_edits,
                                server_cpus=server_cpus,
                            )
                        else:
                            assert ws is not None
                            results[kind]["api"] = run_api(b, ws, plan, work_dir, server_cpus)
                except Exception as exc:  # one failure must not lose the other figures
                    errors[f"{kind} {part}"] = repr(exc)
                    print(traceback.format_exc(), file=sys.stderr)
                print(f"{kind} {part}: {time.monotonic() - t0:.1f} s", file=sys.stderr)
    finally:
        if loadgen is not None:
            loadgen.close()

    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "plan": asdict(plan),
        "placement": (
            "server on CPU 0; HTTP clients, poller and Node generator on CPU 1; postgres unpinned"
            if pin
            else "not pinned"
        ),
        "rate_limits_per_minute": {"per_user": RATE_LIMIT, "per_ip": RATE_LIMIT},
        "versions": _versions(),
        "code": {"at_start": code_at_start, "at_end": _code()},
        "machine_busy_before_percent": busy,
        "workspace": None
        if ws is None
        else {
            "generate_seconds": round(ws.seconds, 1),
            "update_bytes": ws.update_bytes,
            "members": len(ws.users),
        },
        "results": results,
        "errors": errors,
        "seconds": round(time.monotonic() - started, 1),
        "work_dir": str(work_dir) if args.keep else None,
    }
    text = json.dumps(report, indent=1, default=str)
    if args.json:
        args.json.write_text(text + "\n")
    print(table(results, plan))
    if errors:
        print(f"errors: {json.dumps(errors, indent=1)}")
    print(text)
    if not args.keep:
        shutil.rmtree(work_dir, ignore_errors=True)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
