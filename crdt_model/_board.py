"""Board-level operations: the board fields, columns, labels and sprints."""

from __future__ import annotations

from msgspec import UNSET, UnsetType
from pycrdt import Doc, Map

from crdt_model import _schema as s
from crdt_model._base import BoardBase
from crdt_model._errors import ValidationError
from crdt_model._ids import new_id
from crdt_model._read import YDoc, entry
from crdt_model._time import parse_date
from crdt_model._validate import (
    check_card_prefix,
    check_color,
    check_date,
    check_id,
    check_int,
    check_name,
    check_opt_choice,
    check_opt_int,
    check_repo,
    check_str,
)


def new_board(
    board_id: str,
    name: str,
    workspace_id: str,
    card_prefix: str = s.DEFAULT_CARD_PREFIX,
    repo: str | None = None,
    *,
    standard_columns: bool = False,
    client_id: int | None = None,
    origin: object = None,
) -> YDoc:
    """Return a new board document (no columns unless `standard_columns`)."""
    fields = {
        "id": check_id("board_id", board_id),
        "name": check_name("name", name, s.BOARD_NAME_MAX),
        "workspaceId": check_id("workspace_id", workspace_id),
        "schemaVersion": s.SCHEMA_VERSION,
        "cardPrefix": check_card_prefix("card_prefix", card_prefix),
        "repo": check_repo("repo", repo),
    }
    doc: YDoc = Doc(client_id=client_id)
    with doc.transaction(origin=origin):
        board = doc.get(s.ROOT_BOARD, type=Map)
        for key, value in fields.items():
            board[key] = value
        if standard_columns:
            BoardOps(doc).add_standard_columns(origin=origin)
    return doc


class BoardOps(BoardBase):
    """Operations on the board fields, columns, labels and sprints."""

    # -- board ---------------------------------------------------------------------------

    def rename(self, name: str, *, origin: object = None) -> None:
        """Rename the board (1..100 characters once trimmed)."""
        value = check_name("name", name, s.BOARD_NAME_MAX)
        with self._write(origin):
            self._root(s.ROOT_BOARD)["name"] = value

    def set_repo(self, repo: str | None, *, origin: object = None) -> None:
        """Set the default GitHub repository (`owner/name`) or None."""
        value = check_repo("repo", repo)
        with self._write(origin):
            self._root(s.ROOT_BOARD)["repo"] = value

    def set_card_prefix(self, prefix: str, *, origin: object = None) -> None:
        """Set the card key prefix (`TSK` in `TSK-42`)."""
        value = check_card_prefix("card_prefix", prefix)
        with self._write(origin):
            self._root(s.ROOT_BOARD)["cardPrefix"] = value

    # -- columns -------------------------------------------------------------------------

    def _column_ranks(self, exclude: str | None = None) -> list[tuple[str, str, bool]]:
        return [(c.rank, c.id, False) for c in self.columns() if c.id != exclude]

    def add_column(
        self,
        name: str,
        *,
        role: str | None = None,
        wip_limit: int | None = None,
        before: str | None = None,
        after: str | None = None,
        position: int | None = None,
        column_id: str | None = None,
        origin: object = None,
    ) -> str:
        """Add a column (last unless placed) and return its id."""
        fields = {
            "name": check_name("name", name, s.COLUMN_NAME_MAX),
            "role": check_opt_choice("role", role, s.COLUMN_ROLES),
            "wipLimit": check_opt_int("wip_limit", wip_limit, 1, s.WIP_LIMIT_MAX),
        }
        ident = new_id() if column_id is None else check_id("column_id", column_id)
        with self._write(origin):
            if ident in self._root(s.ROOT_COLUMNS):
                raise ValidationError("column_id", f"{ident} already exists")
            rank = self._place("column", self._column_ranks(), before, after, position)
            self._root(s.ROOT_COLUMNS)[ident] = Map({**fields, "rank": rank})
        return ident

    def add_standard_columns(self, *, origin: object = None) -> list[str]:
        """Append the five standard columns (backlog, todo, in_progress, review, done)."""
        with self._write(origin):
            return [
                self.add_column(name, role=role, origin=origin) for name, role in s.STANDARD_COLUMNS
            ]

    def rename_column(self, column_id: str, name: str, *, origin: object = None) -> None:
        """Rename a column."""
        value = check_name("name", name, s.COLUMN_NAME_MAX)
        with self._write(origin):
            self._column_map(column_id)["name"] = value

    def set_column_role(self, column_id: str, role: str | None, *, origin: object = None) -> None:
        """Set a column's role (backlog, todo, in_progress, review, done) or None."""
        value = check_opt_choice("role", role, s.COLUMN_ROLES)
        with self._write(origin):
            self._column_map(column_id)["role"] = value

    def set_wip_limit(self, column_id: str, limit: int | None, *, origin: object = None) -> None:
        """Set a column's WIP limit (1..999) or None."""
        value = check_opt_int("wip_limit", limit, 1, s.WIP_LIMIT_MAX)
        with self._write(origin):
            self._column_map(column_id)["wipLimit"] = value

    def move_column(
        self,
        column_id: str,
        *,
        before: str | None = None,
        after: str | None = None,
        position: int | None = None,
        origin: object = None,
    ) -> None:
        """Move a column between neighbours (or to `position`); only its rank changes."""
        with self._write(origin):
            column = self._column_map(column_id)
            for name, other in (("before", before), ("after", after)):
                if other == column_id:
                    raise ValidationError(name, "a column cannot be its own neighbour")
            members = self._column_ranks(exclude=column_id)
            column["rank"] = self._place("column", members, before, after, position)

    def remove_column(self, column_id: str, *, origin: object = None) -> None:
        """Remove a column; its cards are then shown in the first column (schema rule)."""
        with self._write(origin):
            self._column_map(column_id)
            del self._root(s.ROOT_COLUMNS)[column_id]

    # -- labels --------------------------------------------------------------------------

    def create_label(
        self, name: str, color: str, *, label_id: str | None = None, origin: object = None
    ) -> str:
        """Create a label (`#rrggbb` colour) and return its id."""
        fields = {
            "name": check_name("name", name, s.LABEL_NAME_MAX),
            "color": check_color("color", color),
        }
        ident = new_id() if label_id is None else check_id("label_id", label_id)
        with self._write(origin):
            if ident in self._root(s.ROOT_LABELS):
                raise ValidationError("label_id", f"{ident} already exists")
            self._root(s.ROOT_LABELS)[ident] = Map(fields)
        return ident

    def rename_label(self, label_id: str, name: str, *, origin: object = None) -> None:
        """Rename a label."""
        value = check_name("name", name, s.LABEL_NAME_MAX)
        with self._write(origin):
            self._label_map(label_id)["name"] = value

    def recolor_label(self, label_id: str, color: str, *, origin: object = None) -> None:
        """Change a label's colour (`#rrggbb`)."""
        value = check_color("color", color)
        with self._write(origin):
            self._label_map(label_id)["color"] = value

    def delete_label(self, label_id: str, *, origin: object = None) -> None:
        """Delete a label and remove it from every card."""
        with self._write(origin):
            self._label_map(label_id)
            del self._root(s.ROOT_LABELS)[label_id]
            cards = self._root(s.ROOT_CARDS)
            for card_id in list(cards.keys()):
                card = cards[card_id]
                labels = entry(card, "labels") if isinstance(card, Map) else None
                if isinstance(labels, Map) and label_id in labels:
                    del labels[label_id]

    # -- sprints -------------------------------------------------------------------------

    def create_sprint(
        self,
        name: str,
        start: object,
        end: object,
        *,
        goal: str = "",
        capacity: int = s.DEFAULT_CAPACITY,
        sprint_id: str | None = None,
        origin: object = None,
    ) -> str:
        """Create a sprint (dates as `date` or `YYYY-MM-DD`) and return its id."""
        fields: dict[str, object] = {
            "name": check_name("name", name, s.SPRINT_NAME_MAX),
            "start": check_date("start", start),
            "end": check_date("end", end),
            "goal": check_str("goal", goal, s.GOAL_MAX),
            "capacity": check_int("capacity", capacity, 0, s.CAPACITY_MAX),
        }
        if str(fields["end"]) < str(fields["start"]):
            raise ValidationError("end", "must not be before start")
        ident = new_id() if sprint_id is None else check_id("sprint_id", sprint_id)
        with self._write(origin):
            if ident in self._root(s.ROOT_SPRINTS):
                raise ValidationError("sprint_id", f"{ident} already exists")
            self._root(s.ROOT_SPRINTS)[ident] = Map(fields)
        return ident

    def edit_sprint(
        self,
        sprint_id: str,
        *,
        name: str | UnsetType = UNSET,
        start: object = UNSET,
        end: object = UNSET,
        goal: str | UnsetType = UNSET,
        capacity: int | UnsetType = UNSET,
        origin: object = None,
    ) -> None:
        """Change the given fields of a sprint; the others are left as they are."""
        fields: dict[str, object] = {}
        if not isinstance(name, UnsetType):
            fields["name"] = check_name("name", name, s.SPRINT_NAME_MAX)
        if start is not UNSET:
            fields["start"] = check_date("start", start)
        if end is not UNSET:
            fields["end"] = check_date("end", end)
        if not isinstance(goal, UnsetType):
            fields["goal"] = check_str("goal", goal, s.GOAL_MAX)
        if not isinstance(capacity, UnsetType):
            fields["capacity"] = check_int("capacity", capacity, 0, s.CAPACITY_MAX)
        with self._write(origin):
            sprint = self._sprint_map(sprint_id)
            new_start = fields.get("start", entry(sprint, "start"))
            new_end = fields.get("end", entry(sprint, "end"))
            if (
                isinstance(new_start, str)
                and isinstance(new_end, str)
                and parse_date(new_start)
                and parse_date(new_end)
                and new_end < new_start
            ):
                raise ValidationError("end", "must not be before start")
            for key, value in fields.items():
                sprint[key] = value

    def delete_sprint(self, sprint_id: str, *, origin: object = None) -> None:
        """Delete a sprint; its cards go back to the backlog (sprint null)."""
        with self._write(origin):
            self._sprint_map(sprint_id)
            del self._root(s.ROOT_SPRINTS)[sprint_id]
            cards = self._root(s.ROOT_CARDS)
            for card_id in list(cards.keys()):
                card = cards[card_id]
                if isinstance(card, Map) and entry(card, "sprint") == sprint_id:
                    card["sprint"] = None
