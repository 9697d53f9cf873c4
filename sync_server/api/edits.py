"""What a REST write does to a board document: checked first, then written in one transaction.

The functions here run inside `Room.write`, synchronously, on the live document, so what they
check cannot change before they write. A Yjs transaction cannot be rolled back, so a write that
touches several things (a PATCH of many fields, a bulk update of many cards) first checks
everything against the document as it is, and only then writes: a refusal leaves the document
untouched. crdt_model validates each operation before it writes; what it would check against
the document (does the label exist? is the neighbour in that column?) is checked here up
front, in the order the operations will run. For bulk updates the order of the cards in each
column is simulated patch after patch (a move lands between its neighbours, so its index is
known without its rank), so a patch that places a card next to one an earlier patch moved is
checked against where that card will be.

Every refusal is a crdt_model ValidationError naming the body field (the caller turns it into
a 422; for bulk updates prefixed with the item, `cards[3].before`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from msgspec import UNSET, UnsetType

from crdt_model import Board, NotFoundError, ValidationError
from sync_server.api import bodies as b


@dataclass(frozen=True)
class Place:
    """Where to put a card: a column (None: its own) and a neighbour or a position."""

    column_id: str | None = None
    position: int | None = None
    before: str | None = None
    after: str | None = None

    @property
    def given(self) -> bool:
        return any(v is not None for v in (self.column_id, self.position, self.before, self.after))


def _set(value: Any) -> Any:
    return None if isinstance(value, UnsetType) else value


def place_of(patch: b.CardPatch | b.CardMove | b.CardCreate) -> Place:
    """The placement a body asks for (all None: none)."""
    return Place(
        column_id=_set(patch.column_id),
        position=_set(patch.position),
        before=_set(patch.before),
        after=_set(patch.after),
    )


class Layout:
    """The cards of each column in display order, with whether each is hidden (archived).

    Mirrors crdt_model's placement rules (`_place`): `position` counts the visible cards,
    `before`/`after` name any card of the target column, with both `before` must follow
    `after`, and with nothing the card goes last.
    """

    def __init__(self, board: Board) -> None:
        self.columns: dict[str, list[list[Any]]] = {c.id: [] for c in board.columns()}
        self.where: dict[str, str | None] = {}
        self.archived: dict[str, bool] = {}
        for card in board.cards():  # by column, in display order
            self.where[card.id] = card.column_id
            self.archived[card.id] = card.archived
            if card.column_id is not None:
                self.columns[card.column_id].append([card.id, card.archived])

    def index_for(self, card_id: str | None, target: str, place: Place) -> int:
        """Return the index the card would take in `target` (without it); raise if refused."""
        for name, other in (("before", place.before), ("after", place.after)):
            if other is not None and other == card_id:
                raise ValidationError(name, "a card cannot be its own neighbour")
        members = [m for m in self.columns[target] if m[0] != card_id]
        ids = [m[0] for m in members]
        before, after = place.before, place.after
        if place.position is not None:
            if before is not None or after is not None:
                raise ValidationError("position", "give either position or before/after")
            visible = [m[0] for m in members if not m[1]]
            if not 0 <= place.position <= len(visible):
                raise ValidationError("position", f"must be in 0..{len(visible)}")
            if place.position < len(visible):
                before = visible[place.position]
            elif visible:
                after = visible[-1]
        index = len(members)
        if after is not None:
            if after not in ids:
                raise ValidationError("after", f"card {after!r} is not in column {target!r}")
            index = ids.index(after) + 1
        if before is not None:
            if before not in ids:
                raise ValidationError("before", f"card {before!r} is not in column {target!r}")
            before_index = ids.index(before)
            if after is None:
                index = before_index
            elif before_index != index:
                raise ValidationError("before", f"{before!r} is not right after {after!r}")
        return index

    def move(self, card_id: str, place: Place) -> None:
        """Check a move of an existing card and record where it lands."""
        target = place.column_id if place.column_id is not None else self.where.get(card_id)
        if target is None:
            raise ValidationError("column_id", "the board has no columns")
        if target not in self.columns:
            raise ValidationError("column_id", f"no column {target!r} on this board")
        index = self.index_for(card_id, target, place)
        source = self.where.get(card_id)
        if source is not None:
            self.columns[source] = [m for m in self.columns[source] if m[0] != card_id]
        self.columns[target].insert(index, [card_id, self.archived.get(card_id, False)])
        self.where[card_id] = target

    def set_archived(self, card_id: str, archived: bool) -> None:
        """Record a card's archived flag (it decides what `position` counts)."""
        self.archived[card_id] = archived
        column = self.where.get(card_id)
        if column is not None:
            for member in self.columns[column]:
                if member[0] == card_id:
                    member[1] = archived


def _check_card(board: Board, card_id: str, field: str = "id") -> None:
    try:
        board.card(card_id)
    except NotFoundError:
        raise ValidationError(field, f"no card {card_id!r} on this board") from None


def _check_refs(
    board: Board, labels: Iterable[str] | None, sprint_id: str | None, column_id: str | None
) -> None:
    """Check that the labels, sprint and column a body names exist."""
    if labels is not None:
        known = {label.id for label in board.labels()}
        for label_id in labels:
            if label_id not in known:
                raise ValidationError("labels", f"no label {label_id!r} on this board")
    if sprint_id is not None and sprint_id not in {sprint.id for sprint in board.sprints()}:
        raise ValidationError("sprint_id", f"no sprint {sprint_id!r} on this board")
    if column_id is not None and column_id not in {column.id for column in board.columns()}:
        raise ValidationError("column_id", f"no column {column_id!r} on this board")


def _check_patch_refs(board: Board, patch: b.CardPatch) -> None:
    _check_refs(board, _set(patch.labels), _set(patch.sprint_id), _set(patch.column_id))


def _replace_set(current: list[str], wanted: list[str]) -> tuple[list[str], list[str]]:
    """Return (to add, to remove) to turn `current` into `wanted`."""
    want = list(dict.fromkeys(wanted))
    return [x for x in want if x not in current], [x for x in current if x not in want]


def _write_fields(board: Board, card_id: str, patch: b.CardPatch, origin: Any) -> None:
    """Write every field of `patch` but the placement (already checked)."""
    if not isinstance(patch.title, UnsetType):
        board.set_title(card_id, patch.title, origin=origin)
    if not isinstance(patch.description, UnsetType):
        board.set_description(card_id, patch.description, origin=origin)
    if not isinstance(patch.priority, UnsetType):
        board.set_priority(card_id, patch.priority, origin=origin)
    if patch.points is not UNSET:
        board.set_points(card_id, patch.points, origin=origin)
    if patch.due is not UNSET:
        board.set_due(card_id, patch.due, origin=origin)
    if not isinstance(patch.labels, UnsetType) or not isinstance(patch.assignees, UnsetType):
        row = board.card(card_id)
        if not isinstance(patch.labels, UnsetType):
            add, remove = _replace_set(row.labels, patch.labels)
            for label_id in remove:
                board.remove_label(card_id, label_id, origin=origin)
            for label_id in add:
                board.add_label(card_id, label_id, origin=origin)
        if not isinstance(patch.assignees, UnsetType):
            add, remove = _replace_set(row.assignees, patch.assignees)
            for user_id in remove:
                board.remove_assignee(card_id, user_id, origin=origin)
            for user_id in add:
                board.add_assignee(card_id, user_id, origin=origin)
    if patch.sprint_id is not UNSET:
        board.set_sprint(card_id, patch.sprint_id, origin=origin)
    if not isinstance(patch.archived, UnsetType):
        board.set_archived(card_id, patch.archived, origin=origin)


def _refused_place(place: Place, exc: NotFoundError) -> ValidationError:
    """The refusal of the body field that named a column or neighbour that is not there."""
    if exc.kind == "column":
        return ValidationError("column_id", str(exc))
    return ValidationError("before" if place.before == exc.ident else "after", str(exc))


def _move(board: Board, card_id: str, place: Place, origin: Any) -> None:
    board.move_card(
        card_id,
        column_id=place.column_id,
        before=place.before,
        after=place.after,
        position=place.position,
        origin=origin,
    )


def patch_card(board: Board, card_id: str, patch: b.CardPatch, *, origin: Any = None) -> None:
    """Apply one card's PATCH: all of it or, if anything is refused, nothing.

    The move runs first: crdt_model checks it completely before writing, and every other
    field was checked before it.
    """
    board.card(card_id)  # NotFoundError (404) if the card does not exist
    _check_patch_refs(board, patch)
    place = place_of(patch)
    with board.doc.transaction(origin=origin):
        if place.given:
            try:
                _move(board, card_id, place, origin)
            except NotFoundError as exc:  # a neighbour that is not in the column
                raise _refused_place(place, exc) from None
        _write_fields(board, card_id, patch, origin)


def move_card(board: Board, card_id: str, move: b.CardMove, *, origin: Any = None) -> None:
    """Move a card; a neighbour or column that does not exist is a refusal of that field."""
    board.card(card_id)
    place = place_of(move)
    if move.column_role is not None:
        if move.column_id is not None:
            raise ValidationError("column_role", "give either column_id or column_role")
        column_id = next((c.id for c in board.columns() if c.role == move.column_role), None)
        if column_id is None:
            raise ValidationError("column_role", f"no column has the role {move.column_role}")
        place = Place(column_id, move.position, move.before, move.after)
    _check_refs(board, None, None, place.column_id)
    try:
        _move(board, card_id, place, origin)
    except NotFoundError as exc:
        raise _refused_place(place, exc) from None


class BulkRefused(Exception):
    """A bulk update refused because of item `index` (nothing was written)."""

    def __init__(self, index: int, error: ValidationError) -> None:
        super().__init__(f"cards[{index}].{error.field}: {error.message}")
        self.index = index
        self.error = error


def bulk_update(board: Board, items: list[b.CardBulkItem], *, origin: Any = None) -> list[str]:
    """Apply many card patches in one transaction, all or nothing; return the card ids.

    Every item is checked first, in order, against the document as the earlier items will
    have left it; then everything is written in one transaction.
    """
    layout = Layout(board) if any(place_of(item).given for item in items) else None
    for index, item in enumerate(items):
        try:
            _check_card(board, item.id)
            _check_patch_refs(board, item)
            if layout is not None:
                place = place_of(item)
                if place.given:
                    layout.move(item.id, place)
                if not isinstance(item.archived, UnsetType):
                    layout.set_archived(item.id, item.archived)
        except ValidationError as exc:
            raise BulkRefused(index, exc) from None
    with board.doc.transaction(origin=origin):
        for item in items:
            place = place_of(item)
            if place.given:
                _move(board, item.id, place, origin)
            _write_fields(board, item.id, item, origin)
    return [item.id for item in items]


def create_card(
    board: Board,
    body: b.CardCreate,
    *,
    created_by: str,
    number: int | None,
    origin: Any = None,
) -> str:
    """Create a card with every field of the body (and its number) in one transaction."""
    _check_refs(board, body.labels, body.sprint_id, body.column_id)
    place = place_of(body)
    with board.doc.transaction(origin=origin):
        try:
            card_id = board.create_card(
                body.title,
                created_by=created_by,
                column_id=body.column_id,
                description=body.description,
                before=body.before,
                after=body.after,
                position=body.position,
                origin=origin,
            )
        except NotFoundError as exc:
            raise _refused_place(place, exc) from None
        if number is not None:
            board.set_card_number(card_id, number, origin=origin)
        fields = b.CardPatch(
            priority=body.priority if body.priority != "none" else UNSET,
            points=body.points if body.points is not None else UNSET,
            due=body.due if body.due is not None else UNSET,
            labels=body.labels if body.labels else UNSET,
            assignees=body.assignees if body.assignees else UNSET,
            sprint_id=body.sprint_id if body.sprint_id is not None else UNSET,
        )
        _write_fields(board, card_id, fields, origin)
    return card_id
