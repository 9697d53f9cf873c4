"""A board as text for the terminal: columns side by side, cards in board order."""

from __future__ import annotations

import textwrap
from itertools import zip_longest
from typing import Final

from clients.python._lookup import card_label
from crdt_model import CardRow, Projection

MIN_WIDTH: Final = 16
MAX_WIDTH: Final = 32
GAP: Final = "  "
TITLE_LINES: Final = 3


def count(n: int, word: str) -> str:
    """`1 edit`, `2 edits`: a number and a noun that agrees with it."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _card_lines(card: CardRow, width: int) -> list[str]:
    head = f"{card_label(card)} "
    wrapped = textwrap.wrap(
        card.title, width=width, initial_indent=head, subsequent_indent="  "
    ) or [head.rstrip()]
    if len(wrapped) > TITLE_LINES:
        wrapped = wrapped[:TITLE_LINES]
        wrapped[-1] = wrapped[-1][: width - 1].rstrip() + "…"
    details = []
    if card.priority != "none":
        details.append(f"!{card.priority}")
    if card.points is not None:
        details.append(f"{card.points}pt")
    if card.due is not None:
        details.append(f"due {card.due.isoformat()}")
    if details:
        wrapped.extend(
            textwrap.wrap(
                " ".join(details), width=width, initial_indent="  ", subsequent_indent="  "
            )
        )
    return wrapped


def render_board(view: Projection, *, width: int, include_archived: bool = False) -> str:
    """The board as lines of text fitting `width` columns where possible."""
    columns = view.columns
    count = max(1, len(columns))
    cell = max(MIN_WIDTH, min(MAX_WIDTH, (width - len(GAP) * (count - 1)) // count))
    blocks: list[list[str]] = []
    for column in columns:
        cards = [
            c
            for c in view.cards
            if c.column_id == column.id and (include_archived or not c.archived)
        ]
        limit = f"/{column.wip_limit}" if column.wip_limit is not None else ""
        title = f"{column.name} ({len(cards)}{limit})"
        lines = [title[:cell], "─" * min(cell, max(len(title), 3))]
        for card in cards:
            lines.extend(_card_lines(card, cell))
        blocks.append(lines)
    rows = []
    for parts in zip_longest(*blocks, fillvalue=""):
        rows.append(GAP.join(part.ljust(cell) for part in parts).rstrip())
    return "\n".join(rows)
