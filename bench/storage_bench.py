"""Storage benchmark: append and load of a 10,000-card board on SQLite and Postgres.

    .venv/bin/python bench/storage_bench.py [--runs N] [--cards 10000] [--backends sqlite,postgres]

For each database: store the board as a compacted snapshot plus a small tail, then time
  * append: one `Store.append` of a typical small update (a card move), durable on return;
  * load:   one `Store.load_doc` (read snapshot + tail, apply into a fresh pycrdt Doc);
and print the median and p90 as a table, then the same figures as JSON.
Postgres: a throw-away database is created on the server at TASKLY_BENCH_POSTGRES_URL
(default postgresql://postgres@127.0.0.1:5432) and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from pycrdt import Doc, Map, Text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from storage import PostgresStore, SQLiteStore, Store, UpdateOrigin

PG_BASE_URL = os.environ.get("TASKLY_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")
COLUMNS = ["backlog", "todo", "in_progress", "review", "done"]
PRIORITIES = ["none", "low", "medium", "high", "urgent"]
OPERATIONS = [
    ("append", "append (card move)"),
    ("load_doc", "load_doc (snapshot+tail)"),
    ("load_rows_only", "load (rows only)"),
]


def build_board(cards: int) -> tuple[Doc[Any], list[str]]:
    """Build a board per the schema (board-schema.md) with `cards` cards; return doc, card ids."""
    doc: Doc[Any] = Doc()
    board = doc.get("board", type=Map)
    columns = doc.get("columns", type=Map)
    card_map = doc.get("cards", type=Map)
    labels = doc.get("labels", type=Map)
    ids: list[str] = []
    with doc.transaction():
        board.update({"id": "bench", "name": "Bench board", "workspaceId": "ws",
                      "schemaVersion": 1, "cardPrefix": "TSK", "repo": "acme/app"})  # fmt: skip
        for i, role in enumerate(COLUMNS):
            columns[f"col-{role}"] = Map({"name": role.title(), "rank": f"a{i}", "role": role,
                                         "wipLimit": None})  # fmt: skip
        for i in range(8):
            labels[f"label-{i}"] = Map({"name": f"label {i}", "color": f"#{i:02x}88cc"})
        for n in range(cards):
            card_id = str(uuid.UUID(int=n + 1))
            ids.append(card_id)
            card_map[card_id] = Map(
                {
                    "title": Text(f"Card {n}: implement the thing number {n}"),
                    "description": Text(f"As a user I want feature {n} so that things work.\n"),
                    "column": f"col-{COLUMNS[n % len(COLUMNS)]}",
                    "rank": f"a{n:06d}",
                    "number": n + 1,
                    "priority": PRIORITIES[n % len(PRIORITIES)],
                    "points": n % 13,
                    "due": None,
                    "labels": Map({f"label-{n % 8}": True}),
                    "assignees": Map({f"user-{n % 17}": True}),
                    "sprint": None,
                    "createdBy": f"user-{n % 17}",
                    "createdAt": "2026-11-26T16:37:42Z",
                    "archived": False,
                    "git": Map({"branch": None, "prs": Map(), "lastAutomation": None}),
                }
            )
    return doc, ids


class MoveMaker:
    """Makes card moves on the source doc, capturing each as one small v1 update."""

    def __init__(self, doc: Doc[Any], ids: list[str]) -> None:
        self.cards = doc.get("cards", type=Map)
        self.doc = doc
        self.ids = ids
        self.count = 0
        self.updates: list[bytes] = []
        doc.observe(lambda event: self.updates.append(event.update))

    def move(self) -> bytes:
        """Move one card to another column (column + rank in one transaction)."""
        self.count += 1
        card = self.cards[self.ids[(self.count * 7919) % len(self.ids)]]
        with self.doc.transaction():
            card["column"] = f"col-{COLUMNS[self.count % len(COLUMNS)]}"
            card["rank"] = f"b{self.count:06d}"
        return self.updates[-1]


def _pg_url(dbname: str) -> str:
    parts = urlsplit(PG_BASE_URL)
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, ""))


@asynccontextmanager
async def open_backend(kind: str) -> AsyncIterator[Store]:
    """Open a store on a throw-away database of `kind`."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="taskly-bench-") as tmp:
            async with SQLiteStore(Path(tmp) / "taskly.db") as store:
                yield store
        return
    name = f"taskly_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_pg_url("postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"'.encode())
    try:
        async with PostgresStore(_pg_url(name)) as store:
            yield store
    finally:
        with psycopg.connect(_pg_url("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


def _stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return {"median_ms": statistics.median(ordered) * 1000, "p90_ms": p90 * 1000,
            "min_ms": ordered[0] * 1000, "runs": len(ordered)}  # fmt: skip


async def _timed(fn: Callable[[], Any], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        await fn()
        samples.append(time.perf_counter() - started)
    return samples


async def bench_backend(
    kind: str, state: bytes, moves: MoveMaker, args: argparse.Namespace
) -> dict[str, Any]:
    """Run the append and load measurements on one database."""
    origin = UpdateOrigin("user", "bench")
    async with open_backend(kind) as store:
        ws = await store.create_workspace("bench")
        board = await store.create_board(ws.id, "bench", "TSK")
        await store.append(board.id, state, UpdateOrigin("import", "bench"))
        await store.compact(board.id)
        tail = [moves.move() for _ in range(args.tail)]
        await store.append_many(board.id, [(u, origin) for u in tail])
        loaded = await store.load(board.id)
        assert loaded.snapshot is not None

        async def append() -> None:
            await store.append(board.id, moves.move(), origin)

        async def load() -> None:
            doc = await store.load_doc(board.id)
            assert len(doc.get("cards", type=Map)) == args.cards

        await append()  # warm-up: first statement preparation, page cache
        append_samples = await _timed(append, args.appends)
        await load()
        load_samples = await _timed(load, args.loads)
        read_samples = await _timed(lambda: store.load(board.id), args.loads)
    return {
        "backend": kind,
        "append": _stats(append_samples),
        "load_doc": _stats(load_samples),
        "load_rows_only": _stats(read_samples),
        "snapshot_bytes": len(loaded.snapshot),
        "tail_rows_at_load": len(loaded.tail) + args.appends + 1,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, help="runs of each measurement (sets both)")
    parser.add_argument("--appends", type=int, default=15)
    parser.add_argument("--loads", type=int, default=7)
    parser.add_argument("--cards", type=int, default=10_000)
    parser.add_argument("--tail", type=int, default=20, help="small updates after the snapshot")
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    if args.runs:
        args.appends = args.loads = args.runs

    started = time.perf_counter()
    doc, ids = build_board(args.cards)
    build_s = time.perf_counter() - started
    state = doc.get_update()
    moves = MoveMaker(doc, ids)
    print(f"built a {args.cards}-card board in {build_s:.2f} s; full state {len(state):,} B")

    results = [await bench_backend(k, state, moves, args) for k in args.backends.split(",")]

    header = f"{'backend':<9} {'operation':<26} {'median ms':>10} {'p90 ms':>9} {'runs':>5}"
    print(header)
    print("-" * len(header))
    for r in results:
        for key, label in OPERATIONS:
            s = r[key]
            print(f"{r['backend']:<9} {label:<26} {s['median_ms']:>10.2f} {s['p90_ms']:>9.2f}"
                  f" {s['runs']:>5}")  # fmt: skip
        print(f"{r['backend']:<9} {'snapshot size':<26} {r['snapshot_bytes']:>10,} B")
    report = {
        "cards": args.cards,
        "python": platform.python_version(),
        "machine": f"{platform.machine()} {os.cpu_count()} cpu",
        "results": results,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
