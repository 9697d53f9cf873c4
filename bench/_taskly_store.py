"""Taskly's side of the benchmark that goes through its store: boards in, edits checked out.

W1/W2 boards are made with `taskly board create` (the real command). The 1,000 W3 boards
and the W4 board go in through the storage API, the way `board create` stores a board
(record + its first document as update 1, origin `server`): a thousand CLI processes would
take minutes, and W4 needs a long history written row by row and then compacted. The clients'
user and token are made with the real commands too (`provision_token`), before the start.
"""

from __future__ import annotations

import asyncio
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _servers
from _w4board import BoardHistory
from pycrdt import Map

from crdt_model import new_board
from storage import UpdateOrigin, open_store

BENCH_USER = "bench"
W1_W2_WORKSPACE = "Default"  # where `taskly board create` puts a board
W3_WORKSPACE = "bench-w3"
W4_WORKSPACE = "bench-w4"


def _cli(data_dir: Path, *args: str) -> str:
    """Run `taskly ARGS --data-dir DATA_DIR`; return its stdout; raise if it fails."""
    done = subprocess.run(
        [*_servers.TASKLY_CMD, *args, "--data-dir", str(data_dir)],
        cwd=_servers.ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"taskly {args[0]} {args[1]} failed ({done.returncode}): {done.stderr}")
    return done.stdout


def cli_create_board(data_dir: Path, name: str) -> str:
    """`taskly board create NAME`: prints the new board's id alone on stdout."""
    return _cli(data_dir, "board", "create", name).strip()


def provision_token(data_dir: Path, workspaces: list[str]) -> str:
    """Make the benchmark's user, an owner of `workspaces`, and return a new PAT of theirs.

    `taskly user create bench --workspace W --role owner`, `taskly user add` for the other
    workspaces, then `taskly token create --user bench`; run before the server starts.
    """
    first, *others = workspaces or [W1_W2_WORKSPACE]
    _cli(data_dir, "user", "create", BENCH_USER, "--workspace", first, "--role", "owner")
    for workspace in others:
        _cli(data_dir, "user", "add", BENCH_USER, "--workspace", workspace, "--role", "owner")
    return _cli(data_dir, "token", "create", "--user", BENCH_USER).strip()


async def _create_small_boards(data_dir: Path, count: int) -> list[str]:
    async with open_store(database_url=None, data_dir=data_dir) as store:
        workspace = await store.create_workspace(W3_WORKSPACE)
        ids = []
        for i in range(count):
            board = await store.create_board(workspace.id, f"w3 board {i}", "TSK")
            doc = new_board(board.id, board.name, workspace.id, standard_columns=True)
            await store.append(board.id, doc.get_update(), UpdateOrigin("server"))
            ids.append(board.id)
        return ids


def create_small_boards(data_dir: Path, count: int) -> list[str]:
    """`count` boards as `board create` makes them (five columns, no cards)."""
    return asyncio.run(_create_small_boards(data_dir, count))


@dataclass
class StoredW4:
    """The W4 board as stored, and the floor measured on its compacted state."""

    board_id: str
    rows_appended: int
    snapshot: bytes


async def _store_w4(data_dir: Path, history: BoardHistory) -> StoredW4:
    origin = UpdateOrigin("import", "bench")
    async with open_store(database_url=None, data_dir=data_dir) as store:
        workspace = await store.create_workspace(W4_WORKSPACE)
        board = await store.create_board(workspace.id, "w4 board", "TSK")
        for start in range(0, len(history.before_compaction), 500):
            chunk = history.before_compaction[start : start + 500]
            await store.append_many(board.id, [(u, origin) for u in chunk])
        await store.compact(board.id)
        await store.append_many(board.id, [(u, origin) for u in history.tail])
        loaded = await store.load(board.id)
    assert loaded.snapshot is not None
    rows = len(history.before_compaction) + len(history.tail)
    return StoredW4(board.id, rows, loaded.snapshot)


def store_w4(data_dir: Path, history: BoardHistory) -> StoredW4:
    """Append the history, compact, append the tail; return the board and its snapshot."""
    return asyncio.run(_store_w4(data_dir, history))


def decode_state_vector(state: bytes) -> dict[int, int]:
    """A Yjs v1 state vector: varuint count, then (client, clock) varuint pairs."""
    values: list[int] = []
    value = shift = 0
    for byte in state:
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            values.append(value)
            value = shift = 0
    count = values[0]
    return {values[1 + 2 * i]: values[2 + 2 * i] for i in range(count)}


async def _check_stored(
    data_dir: Path, board_id: str, clocks: dict[str, int], positions: dict[str, list[str]]
) -> dict[str, Any]:
    async with open_store(database_url=None, data_dir=data_dir) as store:
        doc = await store.load_doc(board_id)
    state = decode_state_vector(doc.get_state())
    missing = {c: k for c, k in clocks.items() if state.get(int(c), 0) < k}
    cards = doc.get("cards", type=Map)
    mismatches = 0
    for card_id, (column, rank) in positions.items():
        card = cards.get(card_id)
        if card is None or card.get("column") != column or card.get("rank") != rank:
            mismatches += 1
    return {
        "stored_writers_missing_updates": len(missing),
        "stored_card_mismatches": mismatches,
        "stored_cards_checked": len(positions),
    }


def check_stored(
    data_dir: Path, board_id: str, clocks: dict[str, int], positions: dict[str, list[str]]
) -> dict[str, Any]:
    """Does the store hold every edit: each writer's whole clock and each card's final move?"""
    return asyncio.run(_check_stored(data_dir, board_id, clocks, positions))


async def _check_small_boards(data_dir: Path, board_ids: list[str]) -> int:
    ok = 0
    async with open_store(database_url=None, data_dir=data_dir) as store:
        for board_id in board_ids:
            doc = await store.load_doc(board_id)
            ok += len(doc.get("columns", type=Map)) == 5
    return ok


def check_small_boards(data_dir: Path, board_ids: list[str]) -> int:
    """How many W3 boards still load from the store with their five columns."""
    return asyncio.run(_check_small_boards(data_dir, board_ids))
