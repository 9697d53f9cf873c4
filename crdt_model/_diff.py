"""What changed: per-field differences between rows, and which cards a transaction touched.

A materializer keeps a document at its last projected state, applies the next logged update
and must find out which cards to rewrite. `ChangeTracker` observes the document deeply
while updates are applied and records the card ids whose `cards` or `comments` entry
changed, plus the board-level roots (board, columns, labels, sprints) that changed.

Why observe instead of the alternatives:

* Decoding the update bytes does not name cards: an edit inside a card refers to its parent
  by a Yjs item id, not by the card's key, so ids would have to be resolved against the doc.
* Projecting every card before and after is exact but costs O(cards) per update.
* `observe_deep` reports exactly the entries whose visible state changed (an update that is
  already integrated, or that edits a card deleted meanwhile, reports nothing), at a cost
  proportional to the update. Each event's path starts at the card id. Measured on
  pycrdt 0.14: a nested edit (a title, a label, a PR) reports `path == [card_id, ...]`; adding
  or deleting a card reports the root map with the card id in `keys`.

A card's row also depends on the rest of the board (which columns, labels and sprints exist,
the card prefix): `CardContext` holds exactly that, so a caller re-projects every card only
when it changed (a column removed, a label deleted, the prefix renamed), which is rare.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

import msgspec
from pycrdt import Map, MapEvent, Subscription

from crdt_model import _schema as s
from crdt_model._ids import is_canonical_id
from crdt_model._projection import (
    _Context,
    _context,
    _read_all,
    read_card,
    read_comments,
    root,
)
from crdt_model._read import MISSING, Reader, YDoc, YMap, describe, entry
from crdt_model._rows import (
    BoardRow,
    CardProjection,
    CardRow,
    ColumnRow,
    CommentRow,
    LabelRow,
    ProjectionWarning,
    SprintRow,
)

#: The field name of a card's creation (old None) and deletion (new None).
CARD_FIELD: Final = "card"
#: The field name of the comments of a card added, edited or removed by one update.
COMMENTS_FIELD: Final = "comments"
#: The roots whose content every card's row may depend on.
BOARD_LEVEL_ROOTS: Final = (s.ROOT_BOARD, s.ROOT_COLUMNS, s.ROOT_LABELS, s.ROOT_SPRINTS)
_CARD_ROOTS: Final = (s.ROOT_CARDS, s.ROOT_COMMENTS)
_CARD_FIELDS: Final = CardRow.__struct_fields__
_COMMENT_SKIP: Final = frozenset({"card_id", "position"})


class FieldChange(msgspec.Struct, frozen=True):
    """One field that differs: its name and its old and new values as JSON values."""

    field: str
    old: Any
    new: Any


def to_json_value(value: object) -> Any:
    """Return `value` (a row, a list of them, a date...) as plain JSON types."""
    return msgspec.to_builtins(value)


def card_changes(old: CardRow | None, new: CardRow | None) -> list[FieldChange]:
    """Return the fields that differ, in CardRow order; creation and deletion as "card"."""
    if old is None and new is None:
        return []
    if old is None:
        return [FieldChange(CARD_FIELD, None, to_json_value(new))]
    if new is None:
        return [FieldChange(CARD_FIELD, to_json_value(old), None)]
    if old.id != new.id:
        raise ValueError(f"rows of two different cards: {old.id} and {new.id}")
    return [
        FieldChange(name, to_json_value(getattr(old, name)), to_json_value(getattr(new, name)))
        for name in _CARD_FIELDS
        if getattr(old, name) != getattr(new, name)
    ]


def _comment_json(row: CommentRow) -> dict[str, Any]:
    """Return a comment as JSON without its card id and position (they are not its content)."""
    data: dict[str, Any] = to_json_value(row)
    for key in _COMMENT_SKIP:
        data.pop(key, None)
    return data


def _comment_keys(rows: Sequence[CommentRow]) -> dict[tuple[str, int], CommentRow]:
    """Key comments by (id, occurrence): malformed ones may share an id (the empty one)."""
    seen: dict[str, int] = {}
    keyed: dict[tuple[str, int], CommentRow] = {}
    for row in rows:
        occurrence = seen.get(row.id, 0)
        seen[row.id] = occurrence + 1
        keyed[(row.id, occurrence)] = row
    return keyed


def comment_changes(old: Sequence[CommentRow], new: Sequence[CommentRow]) -> list[FieldChange]:
    """Return one "comments" change (or none): old and new versions of what changed."""
    # `old` lists the removed and edited comments as they were, `new` the added and edited
    # ones as they are now (in thread order, as JSON without card id and position): one entry
    # per card and update however many comments it touched, as the activity table keys
    # entries by (card, seq, field).
    before = _comment_keys(old)
    after = _comment_keys(new)
    was: list[dict[str, Any]] = []
    now: list[dict[str, Any]] = []
    for key, row in before.items():
        kept = after.get(key)
        if kept is None or _comment_json(kept) != _comment_json(row):
            was.append(_comment_json(row))
    for key, row in after.items():
        previous = before.get(key)
        if previous is None or _comment_json(previous) != _comment_json(row):
            now.append(_comment_json(row))
    return [FieldChange(COMMENTS_FIELD, was, now)] if was or now else []


# -- which cards a transaction touched -----------------------------------------------------


class Touched(msgspec.Struct, frozen=True):
    """What the transactions since the last `take` touched."""

    cards: frozenset[str] = frozenset()
    # Board-level roots (board, columns, labels, sprints) whose content changed.
    roots: frozenset[str] = frozenset()
    # True if the tracker could not tell (an observer failed): treat everything as touched.
    everything: bool = False

    @property
    def empty(self) -> bool:
        """Whether nothing was touched."""
        return not (self.cards or self.roots or self.everything)


class ChangeTracker:
    """Observes a document's roots and records the cards and roots its transactions touch."""

    def __init__(self, doc: YDoc) -> None:
        """Start observing `doc` (attaching its six roots as Maps, which writes nothing)."""
        self._cards: set[str] = set()
        self._roots: set[str] = set()
        self._everything = False
        self._subscriptions: list[tuple[YMap, Subscription]] = []
        for name in (*BOARD_LEVEL_ROOTS, *_CARD_ROOTS):
            container = root(doc, name)
            callback = self._card_events if name in _CARD_ROOTS else self._root_events(name)
            self._subscriptions.append((container, container.observe_deep(callback)))

    def _root_events(self, name: str) -> Callable[[list[Any]], None]:
        def record(events: list[Any]) -> None:
            self._roots.add(name)

        return record

    def _card_events(self, events: list[Any]) -> None:
        # Never raise: pycrdt would re-raise at commit, after the document changed.
        try:
            for event in events:
                path: list[int | str] = getattr(event, "path")  # noqa: B009 (untyped slot)
                if path:
                    self._cards.add(str(path[0]))
                elif isinstance(event, MapEvent):
                    keys: dict[str, Any] = getattr(event, "keys")  # noqa: B009
                    self._cards.update(str(key) for key in keys)
                else:  # a root that is not a Map: nobody can tell which cards changed
                    self._everything = True
        except Exception:
            self._everything = True

    def take(self) -> Touched:
        """Return what was touched since the last call, and start recording afresh."""
        touched = Touched(frozenset(self._cards), frozenset(self._roots), self._everything)
        self._cards.clear()
        self._roots.clear()
        self._everything = False
        return touched

    def close(self) -> None:
        """Stop observing (idempotent)."""
        for container, subscription in self._subscriptions:
            container.unobserve(subscription)
        self._subscriptions.clear()


# -- projecting parts of a board -------------------------------------------------------------


class CardContext(msgspec.Struct, frozen=True):
    """What every card's row depends on besides the card itself."""

    column_ids: frozenset[str]
    first_column: str | None
    label_ids: frozenset[str]
    sprint_ids: frozenset[str]
    card_prefix: str


class BoardLevel(msgspec.Struct, frozen=True):
    """The board row, columns, labels and sprints of a document, with their warnings."""

    board: BoardRow
    columns: list[ColumnRow]
    labels: list[LabelRow]
    sprints: list[SprintRow]
    warnings: list[ProjectionWarning]

    @property
    def context(self) -> CardContext:
        """Return what the cards' rows depend on."""
        ctx = _context(self.board, self.columns, self.labels, self.sprints)
        return CardContext(
            column_ids=ctx.column_ids,
            first_column=ctx.first_column,
            label_ids=ctx.label_ids,
            sprint_ids=ctx.sprint_ids,
            card_prefix=ctx.card_prefix,
        )


def _sorted(warnings: list[ProjectionWarning]) -> list[ProjectionWarning]:
    return sorted(warnings, key=lambda w: (w.path, w.message))


def project_board_level(doc: YDoc) -> BoardLevel:
    """Return the board-level rows exactly as `project` reads them; never raises on content."""
    reader = Reader()
    with doc.transaction():
        board, columns, labels, sprints, _ctx = _read_all(doc, reader)
    return BoardLevel(board, columns, labels, sprints, _sorted(reader.warnings))


def project_cards(
    doc: YDoc, card_ids: Iterable[str], context: CardContext | None = None
) -> dict[str, CardProjection]:
    """Return `project_card` of each id, reading the rest of the board once (not at all when
    the caller knows its current `context`)."""
    result: dict[str, CardProjection] = {}
    with doc.transaction():
        if context is None:
            ctx = _read_all(doc, Reader())[4]
        else:
            # Reading columns, labels and sprints is most of the cost of projecting one card
            # (a card move: ~1.0 of ~1.8 ms on a 1,000-card board); the materializer keeps
            # them current, so it passes them in.
            ctx = _Context(
                column_ids=context.column_ids,
                first_column=context.first_column,
                label_ids=context.label_ids,
                sprint_ids=context.sprint_ids,
                card_prefix=context.card_prefix,
            )
        cards = root(doc, s.ROOT_CARDS)
        for card_id in card_ids:
            reader = Reader()
            value = entry(cards, card_id)
            if value is MISSING:
                result[card_id] = CardProjection(card=None, comments=[], warnings=[])
                continue
            path = f"{s.ROOT_CARDS}/{card_id}"
            if not is_canonical_id(card_id) or not isinstance(value, Map):
                reader.warn(
                    path, f"not a card (a Y.Map under a lower-case UUID): {describe(value)}"
                )
                result[card_id] = CardProjection(card=None, comments=[], warnings=reader.warnings)
                continue
            card = read_card(card_id, value, ctx, reader)
            comments = read_comments(doc, card_id, reader)
            result[card_id] = CardProjection(card, comments, _sorted(reader.warnings))
    return result


def card_ids(doc: YDoc) -> list[str]:
    """Return every key of the `cards` root (cards or not: project_cards sorts them out)."""
    with doc.transaction():
        return list(root(doc, s.ROOT_CARDS).keys())
