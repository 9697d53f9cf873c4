"""Finding what the user named on the command line: a board, a card, a column.

Cards are named by their key (`TSK-12`, once the server numbered them), their id, or a short
id: a unique tail of the id's hex digits, at least 4 of them. The CLI shows the last
SHORT_ID_LENGTH hex digits for cards that have no key yet (created offline). The tail, not
the head, because UUIDv7 ids start with a timestamp: cards made the same minute share heads.
"""

from __future__ import annotations

import re
from typing import Final

from clients.python._errors import LookupFailed
from clients.python._home import BoardInfo
from crdt_model import CardRow, ColumnRow

SHORT_ID_LENGTH: Final = 6
MIN_SHORT_ID: Final = 4
_HEX = re.compile(r"[0-9a-f]+")


def short_id(card_id: str) -> str:
    """The short id shown for a card: the last hex digits of its id."""
    return card_id.replace("-", "")[-SHORT_ID_LENGTH:]


def card_label(card: CardRow) -> str:
    """A card's key if it has one, else its short id."""
    return card.key if card.key is not None else short_id(card.id)


def find_card(cards: list[CardRow], text: str) -> CardRow:
    """The card named by key, id or short id; LookupFailed if none or several match."""
    wanted = text.strip().lower()
    for card in cards:
        if card.id == wanted or (card.key is not None and card.key.lower() == wanted):
            return card
    digits = wanted.replace("-", "")
    if len(digits) >= MIN_SHORT_ID and _HEX.fullmatch(digits):
        matches = [c for c in cards if c.id.replace("-", "").endswith(digits)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            names = ", ".join(card_label(c) for c in matches)
            raise LookupFailed(f"{text!r} matches several cards ({names}): give more digits")
    raise LookupFailed(f"no card {text!r} on this board (give its key, e.g. TSK-3, or short id)")


def find_column(columns: list[ColumnRow], text: str) -> ColumnRow:
    """The column named by name (any case), id or role (`in_progress`)."""
    wanted = text.strip().lower()
    for matches in (
        [c for c in columns if c.name.strip().lower() == wanted],
        [c for c in columns if c.id == wanted],
        [c for c in columns if c.role is not None and c.role == wanted.replace(" ", "_")],
    ):
        if matches:
            return matches[0]
    names = ", ".join(repr(c.name) for c in columns)
    raise LookupFailed(f"no column {text!r} on this board (columns: {names})")


def find_board(boards: list[BoardInfo], text: str) -> BoardInfo:
    """The board named by id, unique id prefix (8+ characters) or name (any case)."""
    wanted = text.strip()
    for board in boards:
        if board.id == wanted.lower():
            return board
    named = [b for b in boards if b.name.strip().lower() == wanted.lower()]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        ids = ", ".join(b.id for b in named)
        raise LookupFailed(f"several boards are called {text!r}: name one by id ({ids})")
    if len(wanted) >= 8:
        prefixed = [b for b in boards if b.id.startswith(wanted.lower())]
        if len(prefixed) == 1:
            return prefixed[0]
    raise LookupFailed(
        f"no board {text!r} here: run `taskly boards` (online) to list the boards you can open"
    )
