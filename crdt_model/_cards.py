"""Card operations: create, edit, move, archive, delete, and comments."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pycrdt import Array, Map, Text

from crdt_model import _schema as s
from crdt_model._base import BoardBase
from crdt_model._errors import NotFoundError, ValidationError
from crdt_model._ids import new_id
from crdt_model._read import entry
from crdt_model._text import delete_text, insert_text, replace_text
from crdt_model._time import now_timestamp
from crdt_model._validate import (
    check_choice,
    check_id,
    check_int,
    check_opt_date,
    check_opt_int,
    check_str,
    check_timestamp,
    is_name,
)

TextField = Literal["title", "description"]


def _check_title(field: str, value: object) -> str:
    text = check_str(field, value, 4 * s.TITLE_MAX)
    if not is_name(text, s.TITLE_MAX):
        raise ValidationError(field, f"must be 1..{s.TITLE_MAX} characters once trimmed")
    return text


def _check_result(field: TextField, value: str) -> None:
    """Check what a text field would read after an edit."""
    if field == "title":
        _check_title("title", value)
    elif len(value) > s.DESCRIPTION_MAX:
        raise ValidationError("description", f"must be at most {s.DESCRIPTION_MAX} characters")


def _stamp(now: datetime | str | None) -> str:
    return now_timestamp() if now is None else check_timestamp("now", now)


class CardOps(BoardBase):
    """Operations on cards and their comments."""

    def _default_column(self) -> str:
        columns = self.columns()
        if not columns:
            raise ValidationError("column_id", "the board has no column to put the card in")
        return columns[0].id

    def create_card(
        self,
        title: str,
        *,
        created_by: str,
        column_id: str | None = None,
        description: str = "",
        before: str | None = None,
        after: str | None = None,
        position: int | None = None,
        card_id: str | None = None,
        now: datetime | str | None = None,
        origin: object = None,
    ) -> str:
        """Create a card (last in its column unless placed) and return its id."""
        clean_title = _check_title("title", title).strip()
        body = check_str("description", description, s.DESCRIPTION_MAX)
        author = check_id("created_by", created_by)
        created_at = _stamp(now)
        ident = new_id() if card_id is None else check_id("card_id", card_id)
        with self._write(origin):
            target = self._default_column() if column_id is None else column_id
            self._column_map(target)
            cards = self._root(s.ROOT_CARDS)
            if ident in cards:
                raise ValidationError("card_id", f"{ident} already exists")
            rank = self._place("card", self._column_members(target), before, after, position)
            cards[ident] = Map(
                {
                    "title": Text(clean_title),
                    "description": Text(body),
                    "column": target,
                    "rank": rank,
                    "number": None,
                    "priority": s.DEFAULT_PRIORITY,
                    "points": None,
                    "due": None,
                    "labels": Map(),
                    "assignees": Map(),
                    "sprint": None,
                    "createdBy": author,
                    "createdAt": created_at,
                    "archived": False,
                    "git": Map({"branch": None, "prs": Map(), "lastAutomation": None}),
                }
            )
            # Created with the card so that comments added offline on two replicas go into
            # one Array; two replicas each creating it would lose one side's comments (LWW).
            self._root(s.ROOT_COMMENTS)[ident] = Array()
        return ident

    # -- text ----------------------------------------------------------------------------

    def set_title(self, card_id: str, title: str, *, origin: object = None) -> None:
        """Replace the title (trimmed), rewriting only the span that changed."""
        value = _check_title("title", title).strip()
        with self._write(origin):
            replace_text(self._child_text(self._card_map(card_id), "title"), value)

    def set_description(self, card_id: str, description: str, *, origin: object = None) -> None:
        """Replace the description (Markdown), rewriting only the span that changed."""
        value = check_str("description", description, s.DESCRIPTION_MAX)
        with self._write(origin):
            replace_text(self._child_text(self._card_map(card_id), "description"), value)

    def insert_text(
        self, card_id: str, field: TextField, index: int, text: str, *, origin: object = None
    ) -> None:
        """Insert `text` at character `index` of the title or description."""
        value = check_str("text", text, s.DESCRIPTION_MAX)
        with self._write(origin):
            target = self._text_field(card_id, field)
            current = str(target)
            check_int("index", index, 0, len(current))
            _check_result(field, current[:index] + value + current[index:])
            insert_text(target, index, value)

    def delete_text(
        self, card_id: str, field: TextField, index: int, length: int, *, origin: object = None
    ) -> None:
        """Delete `length` characters from character `index` of the title or description."""
        with self._write(origin):
            target = self._text_field(card_id, field)
            current = str(target)
            check_int("index", index, 0, len(current))
            check_int("length", length, 0, len(current) - index)
            _check_result(field, current[:index] + current[index + length :])
            delete_text(target, index, length)

    def _text_field(self, card_id: str, field: str) -> Text:
        check_choice("field", field, ("title", "description"))
        return self._child_text(self._card_map(card_id), field)

    # -- placement -----------------------------------------------------------------------

    def move_card(
        self,
        card_id: str,
        *,
        column_id: str | None = None,
        before: str | None = None,
        after: str | None = None,
        position: int | None = None,
        origin: object = None,
    ) -> None:
        """Move a card (to `column_id`, default its own) between neighbours or to `position`.

        Column and rank are written in one transaction, so a concurrent move of the same
        card ends with one of the two moves, never a card in two places.
        """
        with self._write(origin):
            card = self._card_map(card_id)
            target = self.card(card_id).column_id if column_id is None else column_id
            if target is None:
                raise ValidationError("column_id", "the board has no columns")
            self._column_map(target)
            for name, other in (("before", before), ("after", after)):
                if other == card_id:
                    raise ValidationError(name, "a card cannot be its own neighbour")
            members = self._column_members(target, exclude=card_id)
            rank = self._place("card", members, before, after, position)
            card["column"] = target
            card["rank"] = rank

    # -- scalar fields -------------------------------------------------------------------

    def _set(self, card_id: str, key: str, value: object, origin: object) -> None:
        with self._write(origin):
            self._card_map(card_id)[key] = value

    def set_priority(self, card_id: str, priority: str, *, origin: object = None) -> None:
        """Set the priority: none, low, medium, high or urgent."""
        self._set(card_id, "priority", check_choice("priority", priority, s.PRIORITIES), origin)

    def set_points(self, card_id: str, points: int | None, *, origin: object = None) -> None:
        """Set the story points (integer 0..99) or None."""
        value = check_opt_int("points", points, 0, s.POINTS_MAX)
        self._set(card_id, "points", value, origin)

    def set_due(self, card_id: str, due: object, *, origin: object = None) -> None:
        """Set the due date (`date` or `YYYY-MM-DD`) or None."""
        self._set(card_id, "due", check_opt_date("due", due), origin)

    def set_archived(self, card_id: str, archived: bool, *, origin: object = None) -> None:
        """Archive (soft-delete) or unarchive a card."""
        if not isinstance(archived, bool):
            raise ValidationError("archived", "must be a boolean")
        self._set(card_id, "archived", archived, origin)

    def archive_card(self, card_id: str, *, origin: object = None) -> None:
        """Archive a card (soft delete: it keeps concurrent edits)."""
        self.set_archived(card_id, True, origin=origin)

    def unarchive_card(self, card_id: str, *, origin: object = None) -> None:
        """Bring an archived card back."""
        self.set_archived(card_id, False, origin=origin)

    def set_sprint(self, card_id: str, sprint_id: str | None, *, origin: object = None) -> None:
        """Put a card in an existing sprint, or back in the backlog with None."""
        with self._write(origin):
            card = self._card_map(card_id)
            if sprint_id is not None:
                self._sprint_map(check_id("sprint_id", sprint_id))
            card["sprint"] = sprint_id

    def set_card_number(self, card_id: str, number: int, *, origin: object = None) -> None:
        """Record the number the server assigned to a card (its key is `PREFIX-number`)."""
        value = check_int("number", number, 1, s.MAX_SAFE_INTEGER)
        self._set(card_id, "number", value, origin)

    # -- sets ----------------------------------------------------------------------------

    def _set_member(
        self, card_id: str, key: str, member: str, present: bool, origin: object
    ) -> None:
        with self._write(origin):
            members = self._child_map(self._card_map(card_id), key)
            if present:
                members[member] = True
            elif member in members:
                del members[member]

    def add_label(self, card_id: str, label_id: str, *, origin: object = None) -> None:
        """Add an existing label to a card (a set: adding twice is a no-op)."""
        with self._write(origin):
            self._label_map(check_id("label_id", label_id))
            self._set_member(card_id, "labels", label_id, True, origin)

    def remove_label(self, card_id: str, label_id: str, *, origin: object = None) -> None:
        """Remove a label from a card (no-op if it is not there)."""
        self._set_member(card_id, "labels", check_id("label_id", label_id), False, origin)

    def add_assignee(self, card_id: str, user_id: str, *, origin: object = None) -> None:
        """Assign a user to a card."""
        self._set_member(card_id, "assignees", check_id("user_id", user_id), True, origin)

    def remove_assignee(self, card_id: str, user_id: str, *, origin: object = None) -> None:
        """Unassign a user from a card (no-op if not assigned)."""
        self._set_member(card_id, "assignees", check_id("user_id", user_id), False, origin)

    # -- deletion ------------------------------------------------------------------------

    def delete_card(self, card_id: str, *, origin: object = None) -> None:
        """Hard-delete a card and its comments (a concurrent edit of it is lost)."""
        with self._write(origin):
            cards = self._root(s.ROOT_CARDS)
            if not isinstance(card_id, str) or card_id not in cards:
                raise NotFoundError("card", str(card_id))
            del cards[card_id]
            comments = self._root(s.ROOT_COMMENTS)
            if card_id in comments:
                del comments[card_id]

    # -- comments ------------------------------------------------------------------------

    def add_comment(
        self,
        card_id: str,
        author: str,
        body: str,
        *,
        comment_id: str | None = None,
        now: datetime | str | None = None,
        origin: object = None,
    ) -> str:
        """Append a comment to a card and return its id."""
        fields = {
            "id": new_id() if comment_id is None else check_id("comment_id", comment_id),
            "author": check_id("author", author),
            "body": check_str("body", body, s.COMMENT_BODY_MAX, allow_empty=False),
            "createdAt": _stamp(now),
        }
        if not str(fields["body"]).strip():
            raise ValidationError("body", "must not be blank")
        with self._write(origin):
            self._card_map(card_id)
            thread = self._comment_array(card_id)
            thread.append(Map(fields))
        return str(fields["id"])

    def _comment_array(self, card_id: str) -> Array[object]:
        comments = self._root(s.ROOT_COMMENTS)
        value = entry(comments, card_id)
        if isinstance(value, Array):
            return value
        fresh: Array[object] = Array()
        comments[card_id] = fresh
        return fresh

    def delete_comment(self, card_id: str, comment_id: str, *, origin: object = None) -> None:
        """Delete one comment of a card."""
        with self._write(origin):
            self._card_map(card_id)
            value = entry(self._root(s.ROOT_COMMENTS), card_id)
            if isinstance(value, Array):
                for index, item in enumerate(value):
                    if isinstance(item, Map) and entry(item, "id") == comment_id:
                        del value[index]
                        return
            raise NotFoundError("comment", str(comment_id))
