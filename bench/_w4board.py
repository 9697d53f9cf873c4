"""The W4 board: 10,000 cards with a long history, as the updates that made it.

Cards are created in batches (one update per batch, as an import would), then moved and
retitled one edit per update, so the store holds thousands of rows before compaction.
The card shape follows board-schema.md, as bench/storage_bench.py builds it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from pycrdt import Doc, Map, Text

COLUMNS = ["backlog", "todo", "in_progress", "review", "done"]
PRIORITIES = ["none", "low", "medium", "high", "urgent"]


@dataclass
class BoardHistory:
    """Updates in order: `before_compaction` goes in and is compacted, `tail` comes after."""

    cards: int
    doc: Doc[Any]
    before_compaction: list[bytes] = field(default_factory=list)
    tail: list[bytes] = field(default_factory=list)

    @property
    def state_vector(self) -> bytes:
        return self.doc.get_state()


def _card(n: int) -> Map[Any]:
    return Map(
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


def build_history(
    cards: int, batch: int = 100, moves: int = 2000, retitles: int = 1000, tail: int = 20
) -> BoardHistory:
    """Build the board through `cards / batch + moves + retitles + tail` updates."""
    doc: Doc[Any] = Doc()
    captured: list[bytes] = []
    doc.observe(lambda event: captured.append(event.update))
    board = doc.get("board", type=Map)
    columns = doc.get("columns", type=Map)
    card_map = doc.get("cards", type=Map)
    labels = doc.get("labels", type=Map)
    with doc.transaction():
        board.update(
            {
                "id": "w4",
                "name": "W4 board",
                "workspaceId": "ws",
                "schemaVersion": 1,
                "cardPrefix": "TSK",
                "repo": "acme/app",
            }
        )
        for i, role in enumerate(COLUMNS):
            columns[f"col-{role}"] = Map(
                {"name": role, "rank": f"a{i}", "role": role, "wipLimit": None}
            )
        for i in range(8):
            labels[f"label-{i}"] = Map({"name": f"label {i}", "color": f"#{i:02x}88cc"})
    ids = [str(uuid.UUID(int=n + 1)) for n in range(cards)]
    for start in range(0, cards, batch):
        with doc.transaction():
            for n in range(start, min(cards, start + batch)):
                card_map[ids[n]] = _card(n)

    def move(k: int) -> None:
        card = card_map[ids[(k * 7919) % cards]]
        with doc.transaction():
            card["column"] = f"col-{COLUMNS[k % len(COLUMNS)]}"
            card["rank"] = f"b{k:06d}"

    for k in range(moves):
        move(k)
        if k < retitles:
            title = card_map[ids[(k * 104729) % cards]]["title"]
            title.insert(len(title), " (edited)")
    # Everything so far is what compaction folds into the snapshot; the tail comes after.
    history_end = len(captured)
    for k in range(moves, moves + tail):
        move(k)
    return BoardHistory(cards, doc, captured[:history_end], captured[history_end:])
