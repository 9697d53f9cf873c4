"""The materializer's pure half: a board's document at its projected position, and one run.

A `Shadow` is a board's document at exactly a log position (normally the board's watermark)
together with the rows it projects to. Applying the next logged update to it tells, through
crdt_model's ChangeTracker, which cards that update touched; only those are projected again
(`project_cards`) and diffed against the rows held (`card_changes`, `comment_changes`), and
each difference becomes one activity entry attributed to that update's stored origin. A
card's row also depends on the board around it (which columns, labels and sprints exist, the
card prefix): when an update changes that context, every card is projected again, which is
rare (a column removed, a label deleted, the prefix renamed).

A `Run` collects what one materializer run changed and turns it into one ProjectionBatch with
net effects: each card touched by the run is written once (upserted, or deleted if it is
gone), its comments once, and the board-level rows only if they differ from the start of the
run. Nothing here does I/O or touches asyncio: the materializer runs it in its worker thread.
Nothing raises on document content either: the projection reads any shape (defaults plus
warnings), and an update pycrdt cannot apply is reported and skipped. A warning is reported
when it first appears (a card re-projected for another reason does not repeat its old ones),
and every warning of the board once when a shadow is built.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Final

from pycrdt import Doc, Map

from crdt_model import (
    BoardLevel,
    BoardRow,
    CardRow,
    ChangeTracker,
    ColumnRow,
    CommentRow,
    LabelRow,
    ProjectionWarning,
    SprintRow,
    UpdateDecodeError,
    apply_update,
    card_changes,
    comment_changes,
    project,
    project_board_level,
    project_cards,
)
from storage import (
    ActivityRef,
    CardActivity,
    MaterializedBoard,
    ProjectionBatch,
    StoredUpdate,
    UpdateOrigin,
)
from sync_server.materializer_activity import ActivityCoalescer

# As in room.py: a pycrdt doc takes about 20x its encoded v1 size; plus the rows held per card.
MEMORY_PER_ENCODED_BYTE: Final = 20
MEMORY_PER_CARD: Final = 4 * 1024
SHADOW_OVERHEAD_BYTES: Final = 16 * 1024


Warned = frozenset[tuple[str, str]]


def _keys(warnings: Iterable[ProjectionWarning]) -> Warned:
    return frozenset((w.path, w.message) for w in warnings)


def _card_of(path: str) -> str | None:
    """Return the card a warning's path is about (cards/ID/... or comments/ID/...)."""
    root, _, rest = path.partition("/")
    if root in ("cards", "comments") and rest:
        return rest.partition("/")[0]
    return None


def _by_card(comments: Iterable[CommentRow]) -> dict[str, list[CommentRow]]:
    grouped: dict[str, list[CommentRow]] = {}
    for row in comments:
        grouped.setdefault(row.card_id, []).append(row)
    for rows in grouped.values():
        rows.sort(key=lambda c: c.position)
    return grouped


class Level:
    """The board-level rows as a batch writes them (board None: never written yet)."""

    __slots__ = ("board", "columns", "labels", "sprints")

    def __init__(
        self,
        board: BoardRow | None,
        columns: list[ColumnRow],
        labels: list[LabelRow],
        sprints: list[SprintRow],
    ) -> None:
        self.board = board
        self.columns = columns
        self.labels = labels
        self.sprints = sprints


class Run:
    """What one materializer run changed: activity, warnings and the rows as they started."""

    def __init__(
        self,
        board_id: str,
        start: Level,
        from_seq: int,
        *,
        write_level: bool = False,
        coalescer: ActivityCoalescer | None = None,
    ) -> None:
        """Start a run from tables at watermark `from_seq` whose board-level rows were `start`
        (written anyway if `write_level`), merging activity with `coalescer` if given."""
        self.board_id = board_id
        self.coalescer = coalescer
        self.superseded: list[ActivityRef] = []
        self.start = start
        self.from_seq = from_seq
        self.write_level = write_level
        self.start_cards: dict[str, CardRow | None] = {}
        self.start_comments: dict[str, list[CommentRow]] = {}
        self.activity: list[CardActivity] = []
        self.warnings: dict[tuple[str, str], None] = {}  # an ordered set
        self.errors: list[str] = []
        self.projected_seq: int | None = None
        self.updates = 0

    def touch(self, card_id: str, row: CardRow | None, comments: list[CommentRow]) -> None:
        """Remember a card's rows as they were before the run first changed them."""
        if card_id not in self.start_cards:
            self.start_cards[card_id] = row
            self.start_comments[card_id] = comments

    def warn(self, warnings: Iterable[tuple[str, str]]) -> None:
        """Record projection warnings, (path, message) (each distinct one once per run)."""
        for warning in sorted(warnings):
            self.warnings[warning] = None

    def record(
        self,
        card_id: str,
        old: CardRow | None,
        new: CardRow | None,
        old_comments: list[CommentRow],
        new_comments: list[CommentRow],
        *,
        seq: int,
        at: datetime,
        origin: UpdateOrigin,
    ) -> None:
        """Record the activity of one card changed by the update `seq` (or a re-projection)."""
        changes = card_changes(old, new)
        if new is not None:  # a deleted card's comments go with it: "card" says it all
            changes += comment_changes(old_comments, new_comments)
        for change in changes:
            entry = CardActivity(
                board_id=self.board_id,
                card_id=card_id,
                seq=seq,
                at=at,
                origin=origin,
                field=change.field,
                old=change.old,
                new=change.new,
            )
            if self.coalescer is None:
                self.activity.append(entry)
            else:
                self.coalescer.add(entry, self.activity, self.superseded)

    def batch(self, shadow: Shadow, at: datetime) -> ProjectionBatch:
        """Return the net writes of the run: every touched card once, changed levels only."""
        assert self.projected_seq is not None
        upsert: list[CardRow] = []
        delete: list[str] = []
        comments: dict[str, list[CommentRow]] = {}
        for card_id, before in self.start_cards.items():
            now = shadow.cards.get(card_id)
            if now is None:
                if before is not None:
                    delete.append(card_id)
                continue
            if now != before:
                upsert.append(now)
            now_comments = shadow.comments.get(card_id, [])
            if now_comments != self.start_comments.get(card_id, []):
                comments[card_id] = now_comments
        level = shadow.level
        forced = self.write_level
        start = self.start
        return ProjectionBatch(
            board=level.board if forced or level.board != start.board else None,
            columns=level.columns if forced or level.columns != start.columns else None,
            labels=level.labels if forced or level.labels != start.labels else None,
            sprints=level.sprints if forced or level.sprints != start.sprints else None,
            upsert_cards=upsert,
            delete_cards=delete,
            card_comments=comments,
            activity=self.activity,
            superseded_activity=self.superseded,
            from_seq=self.from_seq,
            projected_seq=self.projected_seq,
            at=at,
        )


class Shadow:
    """A board's document at log position `seq`, with the rows it projects to."""

    def __init__(self, board_id: str, doc: Doc[Any], seq: int, *, encoded_bytes: int) -> None:
        """Project `doc` once (every row) and start tracking what changes it."""
        self.board_id = board_id
        self.doc = doc
        self.seq = seq
        self.encoded_bytes = encoded_bytes
        whole = project(doc)
        self.level = BoardLevel(whole.board, whole.columns, whole.labels, whole.sprints, [])
        self.context = self.level.context  # what every card's row depends on, kept current
        self.cards: dict[str, CardRow] = {row.id: row for row in whole.cards}
        self.comments: dict[str, list[CommentRow]] = _by_card(whole.comments)
        self.build_warnings = _keys(whole.warnings)
        # The warnings held now, per card and for the rest of the board: only new ones are
        # reported when a card or the board level is projected again.
        self.card_warnings: dict[str, Warned] = {}
        level_warnings: set[tuple[str, str]] = set()
        for key in self.build_warnings:
            card = _card_of(key[0])
            if card is None:
                level_warnings.add(key)
            else:
                self.card_warnings[card] = self.card_warnings.get(card, frozenset()) | {key}
        self.level_warnings: Warned = frozenset(level_warnings)
        self.tracker = ChangeTracker(doc)
        self.last_used = time.monotonic()
        # The last activity entry per card and field, to merge bursts of edits into one.
        self.coalescer = ActivityCoalescer()

    @classmethod
    def build(cls, board_id: str, updates: Sequence[bytes], seq: int, errors: list[str]) -> Shadow:
        """Return the document of `updates` applied in order (read back from the store) at
        `seq`; an update pycrdt cannot apply is skipped and described in `errors`."""
        doc: Doc[Any] = Doc()
        for index, update in enumerate(updates):
            try:
                apply_update(doc, update, checked=False)
            except UpdateDecodeError as exc:
                errors.append(f"stored state part {index} up to seq {seq} skipped: {exc}")
        return cls(board_id, doc, seq, encoded_bytes=sum(len(u) for u in updates))

    @property
    def estimated_bytes(self) -> int:
        """Estimated memory held by this shadow."""
        return (
            self.encoded_bytes * MEMORY_PER_ENCODED_BYTE
            + len(self.cards) * MEMORY_PER_CARD
            + SHADOW_OVERHEAD_BYTES
        )

    def level_rows(self) -> Level:
        """Return the board-level rows held now."""
        level = self.level
        return Level(level.board, level.columns, level.labels, level.sprints)

    def close(self) -> None:
        """Stop tracking changes (the document is then only garbage)."""
        self.tracker.close()

    def apply(self, row: StoredUpdate, run: Run) -> None:
        """Apply one logged update and record what it changed, attributed to its origin."""
        try:
            apply_update(self.doc, row.update, checked=False)
        except UpdateDecodeError as exc:
            run.errors.append(f"update seq {row.seq} skipped: {exc}")
        self.encoded_bytes += len(row.update)
        touched = self.tracker.take()
        ids = set(touched.cards)
        if touched.roots or touched.everything:
            level = project_board_level(self.doc)
            now = _keys(level.warnings)
            run.warn(now - self.level_warnings)
            self.level_warnings = now
            context = level.context
            if touched.everything or context != self.context:
                ids.update(self.cards)
                ids.update(self.doc.get("cards", type=Map).keys())
            self.level = level
            self.context = context
        if ids:
            self._refresh(sorted(ids), run, seq=row.seq, at=row.created_at, origin=row.origin)
        self.seq = row.seq
        run.projected_seq = row.seq
        run.updates += 1

    def _refresh(
        self, ids: list[str], run: Run, *, seq: int, at: datetime, origin: UpdateOrigin
    ) -> None:
        for card_id, projected in project_cards(self.doc, ids, self.context).items():
            now = _keys(projected.warnings)
            run.warn(now - self.card_warnings.get(card_id, frozenset()))
            if now:
                self.card_warnings[card_id] = now
            else:
                self.card_warnings.pop(card_id, None)
            old = self.cards.get(card_id)
            old_comments = self.comments.get(card_id, [])
            run.touch(card_id, old, old_comments)
            new = projected.card
            run.record(
                card_id, old, new, old_comments, projected.comments, seq=seq, at=at, origin=origin
            )
            if new is None:
                self.cards.pop(card_id, None)
                self.comments.pop(card_id, None)
            else:
                self.cards[card_id] = new
                if projected.comments:
                    self.comments[card_id] = projected.comments
                else:
                    self.comments.pop(card_id, None)

    def diff_from(
        self, tables: MaterializedBoard, run: Run, *, seq: int, at: datetime, origin: UpdateOrigin
    ) -> None:
        """Record every difference between what the tables hold and this document.

        For when the updates between the tables' watermark and `seq` are no longer
        replayable one by one (compaction merged them into the snapshot); each change is
        attributed to `origin` at `seq`.
        """
        old_cards = {row.id: row for row in tables.cards}
        old_comments = _by_card(tables.comments)
        for card_id in sorted(old_cards.keys() | self.cards.keys()):
            old = old_cards.get(card_id)
            new = self.cards.get(card_id)
            before_comments = old_comments.get(card_id, [])
            run.touch(card_id, old, before_comments)
            run.record(
                card_id,
                old,
                new,
                before_comments,
                self.comments.get(card_id, []),
                seq=seq,
                at=at,
                origin=origin,
            )
        run.projected_seq = seq


def tables_level(tables: MaterializedBoard) -> Level:
    """Return the board-level rows the tables hold."""
    return Level(tables.board, tables.columns, tables.labels, tables.sprints)
