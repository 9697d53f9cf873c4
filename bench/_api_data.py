"""The API benchmark's workspace: B boards of N cards each, made once, stored on each backend.

Each board is made with crdt_model: `new_board` (the five standard columns) and
`create_label` for its eight labels. Its cards are then written into the same document in one
transaction with the Map shape of `CardOps.create_card` (title and description as Text, a
rank from crdt_model's `ranks_between` per column, number, priority, points, due, a label, an
assignee, an empty comment Array), because `create_card` places each card by scanning its
column (O(n) per card: 7.9 s for 1,000 cards, 0.2 s this way). `check_board` projects one
board with crdt_model and refuses a warning, a missing card or a card of the wrong shape.

Field values come from a seeded random.Random, so every run stores the same workspace: a
priority out of five, a due date in 2027 for three cards in four (none for the rest), one of
the workspace's 20 members as assignee. A filtered query for one assignee's `high` cards
matches about 1 card in 100 (1,000 of 100,000).

Every board is stored as `taskly board create` stores a board (a board record, then its whole
document as one update), with origin `import`; the server's materializer projects them at
start, and `wait_projected` times that.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from _api_setup import Backend, Probe
from pycrdt import Array, Map, Text

from crdt_model import Board, load_doc, new_board, project, ranks_between
from storage import UpdateOrigin

WORKSPACE = "bench-api"
PRIORITIES = ("none", "low", "medium", "high", "urgent")
LABELS = 8


def _id(rng: random.Random) -> str:
    """A canonical version-4 UUID (crdt_model refuses others) drawn from `rng`: same every run."""
    value = rng.getrandbits(128)
    value = (value & ~(0xF << 76)) | (0x4 << 76)  # version 4
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


@dataclass
class Workspace:
    """What was generated: ids, and each board's document as one v1 update."""

    workspace_id: str
    users: list[tuple[str, str]]  # (user id, login): the assignees, members of the workspace
    boards: list[tuple[str, bytes]]  # (board id, its document as one update)
    cards: dict[str, list[str]] = field(default_factory=dict)  # board id -> card ids
    # How many unarchived `high` cards each member is assigned, over the whole workspace.
    high_by_assignee: Counter[str] = field(default_factory=Counter)
    cards_per_board: int = 0
    seconds: float = 0.0

    @property
    def board_ids(self) -> list[str]:
        return [board_id for board_id, _ in self.boards]

    @property
    def update_bytes(self) -> int:
        return sum(len(update) for _, update in self.boards)


def _board(
    rng: random.Random, board_id: str, index: int, ws: Workspace, users: list[str], cards: int
) -> bytes:
    doc = new_board(board_id, f"Board {index}", ws.workspace_id, standard_columns=True)
    board = Board(doc)
    columns = [column.id for column in board.columns()]
    labels = [
        board.create_label(f"label {i}", f"#{i * 30:02x}88cc", label_id=_id(rng))
        for i in range(LABELS)
    ]
    per_column = -(-cards // len(columns))
    ranks = {column: iter(ranks_between(None, None, per_column, rng=rng)) for column in columns}
    card_map = doc.get("cards", type=Map)
    comments = doc.get("comments", type=Map)
    ids = []
    with doc.transaction():
        for n in range(cards):
            card_id = _id(rng)
            ids.append(card_id)
            column = columns[n % len(columns)]
            due = (
                None
                if rng.random() < 0.25
                else f"2027-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
            )
            priority = rng.choice(PRIORITIES)
            assignee = rng.choice(users)
            if priority == "high":
                ws.high_by_assignee[assignee] += 1
            card_map[card_id] = Map(
                {
                    "title": Text(f"Card {n}: implement the thing number {n}"),
                    "description": Text(f"As a user I want feature {n} so that things work.\n"),
                    "column": column,
                    "rank": next(ranks[column]),
                    "number": n + 1,
                    "priority": priority,
                    "points": rng.choice([None, 1, 2, 3, 5, 8, 13]),
                    "due": due,
                    "labels": Map({rng.choice(labels): True}),
                    "assignees": Map({assignee: True}),
                    "sprint": None,
                    "createdBy": assignee,
                    "createdAt": "2026-11-26T16:37:42Z",
                    "archived": False,
                    "git": Map({"branch": None, "prs": Map(), "lastAutomation": None}),
                }
            )
            comments[card_id] = Array()
    ws.cards[board_id] = ids
    return doc.get_update()


def generate(boards: int, cards: int, users: int = 20, seed: int = 5) -> Workspace:
    """Make the workspace's documents (in this process; about 0.2 s per 1,000-card board)."""
    started = time.perf_counter()
    rng = random.Random(seed)
    workspace_id = _id(rng)
    members = [(_id(rng), f"member{i:02d}") for i in range(users)]
    user_ids = [user_id for user_id, _ in members]
    ws = Workspace(workspace_id, members, [], cards_per_board=cards)
    for index in range(boards):
        board_id = _id(rng)
        ws.boards.append((board_id, _board(rng, board_id, index, ws, user_ids, cards)))
    ws.seconds = time.perf_counter() - started
    return ws


def check_board(ws: Workspace, index: int = 0) -> None:
    """Project one stored document with crdt_model: no warning, every card, the shape we meant."""
    board_id, update = ws.boards[index]
    projection = project(load_doc(update))
    if projection.warnings:
        raise AssertionError(f"board {board_id}: projection warnings {projection.warnings[:3]}")
    if len(projection.cards) != ws.cards_per_board or len(projection.columns) != 5:
        raise AssertionError(f"board {board_id}: {len(projection.cards)} cards")
    members = {user_id for user_id, _ in ws.users}
    for card in projection.cards:
        if card.column_id is None or len(card.assignees) != 1 or card.assignees[0] not in members:
            raise AssertionError(f"board {board_id}: card {card.id} is not as generated")


async def _store(backend: Backend, ws: Workspace) -> dict[str, Any]:
    origin = UpdateOrigin("import", "bench")
    async with backend.open_store() as store:
        t0 = time.perf_counter()
        await store.create_workspace(WORKSPACE, id=ws.workspace_id)
        for user_id, login in ws.users:
            await store.create_user(login, login, id=user_id)
            await store.add_member(ws.workspace_id, user_id, "member")
        for index, (board_id, update) in enumerate(ws.boards):
            await store.create_board(ws.workspace_id, f"Board {index}", "TSK", id=board_id)
            await store.append(board_id, update, origin)
        return {"store_seconds": round(time.perf_counter() - t0, 2)}


def store(backend: Backend, ws: Workspace) -> dict[str, Any]:
    """Write the workspace, its members and every board (record + one update) to `backend`."""
    return asyncio.run(_store(backend, ws))


def wait_projected(probe: Probe, board_ids: list[str], started: float, timeout: float) -> float:
    """Poll until every board's watermark reaches its head; return seconds since `started`.

    `started` is a time.monotonic() taken just before the server was started: the
    materializer begins catching up in the server's start-up, before it listens.
    """
    wanted = set(board_ids)
    while True:
        state = probe.heads_and_watermarks()
        behind = [b for b in wanted if b not in state or state[b][1] < state[b][0]]
        now = time.monotonic()
        if not behind:
            return now - started
        if now - started > timeout:
            raise TimeoutError(
                f"{len(behind)} of {len(wanted)} boards not projected in {timeout} s"
            )
        time.sleep(0.1)
