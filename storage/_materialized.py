"""What the three implementations of MaterializedStore share: the checks of batches, queries
and pages, the JSON and hash encodings of card rows, sort keys and cursors, and full-text words.

Everything here is pure: a batch is checked and encoded completely before a transaction
starts, so a bad batch raises ValueError and writes nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final, TypeVar

import msgspec

from crdt_model import CardRow, GitRow
from storage._materialized_records import (
    MAX_PAGE_LIMIT,
    CardActivity,
    CardQuery,
    CardSort,
    ProjectionBatch,
)
from storage._time import as_utc, from_micros, to_micros

#: Sort position of a card whose column is not among the materialized columns (last, as the
#: projection places a card with no column).
UNPLACED: Final = 2**31 - 1
#: The due date a card without one sorts as (after the flag that puts those cards last).
NO_DUE: Final = date(9999, 12, 31)
#: Longest full-text query accepted.
TEXT_MAX: Final = 1000

T = TypeVar("T")

_SORTS: Final = ("rank", "due", "updated")
_WORD = re.compile(r"[^\W_]+")
_encoder = msgspec.json.Encoder()
_git_decoder = msgspec.json.Decoder(GitRow)
_ids_decoder = msgspec.json.Decoder(list[str])
_value_decoder = msgspec.json.Decoder()
_batch_decoder = msgspec.json.Decoder(ProjectionBatch)
_query_decoder = msgspec.json.Decoder(CardQuery)


# -- batches ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PreparedCard:
    """A card row with its JSON columns and fingerprint."""

    row: CardRow
    labels: str
    assignees: str
    git: str
    fingerprint: bytes


@dataclass(frozen=True, slots=True)
class PreparedActivity:
    """An activity entry with its time in UTC and its values as JSON."""

    entry: CardActivity
    at: datetime
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class PreparedBatch:
    """A checked batch, encoded for writing."""

    batch: ProjectionBatch
    at: datetime
    cards: list[PreparedCard]
    activity: list[PreparedActivity]


def to_json(value: Any) -> str:
    """Encode `value` as JSON text; ValueError if it has no JSON form."""
    try:
        return _encoder.encode(value).decode()
    except (TypeError, msgspec.EncodeError, OverflowError) as exc:
        raise ValueError(f"value {value!r} cannot be stored as JSON: {exc}") from exc


def from_json(text: str | bytes) -> Any:
    """Decode a stored JSON value."""
    return _value_decoder.decode(text)


def _typed(value: T, decoder: msgspec.json.Decoder[T]) -> T:
    """Return `value` with every field of its declared type (msgspec Structs do not check at
    construction): encoded and decoded again, so an ISO string given for a date becomes the
    date; ValueError if a field cannot be read as its type."""
    try:
        return decoder.decode(_encoder.encode(value))
    except (TypeError, OverflowError, msgspec.EncodeError, msgspec.DecodeError) as exc:
        raise ValueError(f"malformed {type(value).__name__}: {exc}") from exc


def prepare_card(card: CardRow) -> PreparedCard:
    """Encode one card row for writing."""
    encoded = to_json(card)
    return PreparedCard(
        row=card,
        labels=to_json(card.labels),
        assignees=to_json(card.assignees),
        git=to_json(card.git),
        fingerprint=hashlib.blake2b(encoded.encode(), digest_size=16).digest(),
    )


def _unique(kind: str, keys: Sequence[object]) -> None:
    seen: set[object] = set()
    for key in keys:
        if key in seen:
            raise ValueError(f"the batch lists {kind} {key!r} twice")
        seen.add(key)


def prepare_batch(board_id: str, batch: ProjectionBatch) -> PreparedBatch:
    """Check that the parts of `batch` agree and encode it; raise ValueError if they do not."""
    if not isinstance(batch, ProjectionBatch):
        raise ValueError(f"expected a ProjectionBatch, got {type(batch).__name__}")
    batch = _typed(batch, _batch_decoder)
    for name in ("from_seq", "projected_seq"):
        seq = getattr(batch, name)
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise ValueError(f"{name} must be an integer >= 0, not {seq!r}")
    if batch.from_seq >= batch.projected_seq:
        raise ValueError(
            f"a batch covers at least one update: from_seq {batch.from_seq} must be below"
            f" projected_seq {batch.projected_seq}"
        )
    at = as_utc(batch.at)
    _unique("column", [c.id for c in batch.columns or []])
    _unique("label", [label.id for label in batch.labels or []])
    _unique("sprint", [s.id for s in batch.sprints or []])
    _unique("card", [c.id for c in batch.upsert_cards] + list(batch.delete_cards))
    for card_id, comments in batch.card_comments.items():
        if any(c.card_id != card_id for c in comments):
            raise ValueError(f"a comment listed under card {card_id!r} belongs to another card")
        _unique(f"a position in the comments of card {card_id!r}:", [c.position for c in comments])
    _unique("superseded activity entry", [(a.card_id, a.seq, a.field) for a in
                                          batch.superseded_activity])  # fmt: skip
    activity: list[PreparedActivity] = []
    for entry in batch.activity:
        if entry.board_id != board_id:
            raise ValueError(f"activity of board {entry.board_id!r} in a batch for {board_id!r}")
        activity.append(PreparedActivity(entry, as_utc(entry.at), to_json(entry.old),
                                         to_json(entry.new)))  # fmt: skip
    return PreparedBatch(
        batch=batch,
        at=at,
        cards=[prepare_card(card) for card in batch.upsert_cards],
        activity=activity,
    )


def decode_git(text: str | bytes) -> GitRow:
    """Decode a stored GitRow."""
    return _git_decoder.decode(text)


def decode_ids(text: str | bytes) -> list[str]:
    """Decode a stored list of ids."""
    return _ids_decoder.decode(text)


def check_limit(limit: int) -> None:
    """Raise ValueError unless `limit` is an integer in 1..MAX_PAGE_LIMIT."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_LIMIT:
        raise ValueError(f"limit must be an integer in 1..{MAX_PAGE_LIMIT}, not {limit!r}")


def check_activity_page(limit: int, before_seq: int | None, before_field: str | None) -> None:
    """Raise ValueError on a malformed activity page request."""
    check_limit(limit)
    if before_field is not None and before_seq is None:
        raise ValueError("before_field needs before_seq")


# -- queries ----------------------------------------------------------------------------------


def check_query(query: CardQuery) -> tuple[CardQuery, list[Any] | None]:
    """Check `query`; return it typed and the sort key its cursor points after (or None)."""
    if not isinstance(query, CardQuery):
        raise ValueError(f"expected a CardQuery, got {type(query).__name__}")
    query = _typed(query, _query_decoder)
    if query.board_id is None and query.workspace_id is None:
        raise ValueError("a card query needs a board_id or a workspace_id")
    if query.sort not in _SORTS:
        raise ValueError(f"sort must be one of {', '.join(_SORTS)}, not {query.sort!r}")
    check_limit(query.limit)
    if query.text is not None and len(query.text) > TEXT_MAX:
        raise ValueError(f"text must be at most {TEXT_MAX} characters")
    return query, None if query.cursor is None else decode_cursor(query.sort, query.cursor)


def search_words(text: str) -> list[str]:
    """Return the words of a full-text query, lower-cased (letters and digits only)."""
    return _WORD.findall(text.lower())


def fts5_query(words: Sequence[str]) -> str:
    """Return an FTS5 query matching rows that hold every word, each one a quoted string."""
    # Quoted, nothing the user typed is FTS5 syntax (AND, OR, NOT, NEAR, *, ^, column filters).
    return " ".join('"' + word.replace('"', '""') + '"' for word in words)


def text_matches(words: Sequence[str], title: str, description: str) -> bool:
    """True if every word occurs in the title or the description (InMemoryStore's search)."""
    held = set(_WORD.findall(f"{title} {description}".lower()))
    return all(word in held for word in words)


def sort_key(
    sort: CardSort, board_id: str, column_position: int, card: CardRow, updated_at: datetime
) -> list[Any]:
    """Return a card's key in `sort`, the values a cursor records (JSON-ready)."""
    if sort == "rank":
        return [board_id, column_position, card.rank, card.id]
    if sort == "due":
        return [int(card.due is None), (card.due or NO_DUE).isoformat(), board_id, card.id]
    return [to_micros(updated_at), board_id, card.id]


def python_order(sort: CardSort, key: list[Any]) -> tuple[Any, ...]:
    """Return a tuple that orders as `sort` orders (the first key descends for "updated")."""
    if sort == "updated":
        return (-key[0], *key[1:])
    return tuple(key)


class _Cursor(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    sort: str
    key: msgspec.Raw


_KEY_TYPES: Final[dict[str, Any]] = {
    "rank": tuple[str, int, str, str],
    "due": tuple[int, date, str, str],
    "updated": tuple[int, str, str],
}


def encode_cursor(sort: CardSort, key: list[Any]) -> str:
    """Return the opaque cursor that resumes a query after the row with sort key `key`."""
    raw = _encoder.encode({"sort": sort, "key": key})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(sort: CardSort, cursor: str) -> list[Any]:
    """Return the sort key a cursor holds; ValueError if it is malformed or for another sort."""
    if not isinstance(cursor, str) or not cursor or len(cursor) > 4096:
        raise ValueError("malformed cursor: pass the next_cursor of a previous page unchanged")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        envelope = msgspec.json.decode(raw, type=_Cursor)
        if envelope.sort != sort:
            raise ValueError(f"the cursor belongs to a query sorted by {envelope.sort!r}")
        values = list(msgspec.json.decode(envelope.key, type=_KEY_TYPES[sort]))
    except (binascii.Error, UnicodeDecodeError, msgspec.DecodeError, KeyError) as exc:
        raise ValueError(
            f"malformed cursor ({exc}): pass the next_cursor of a previous page unchanged"
        ) from exc
    if sort == "due":
        if values[0] not in (0, 1):
            raise ValueError("malformed cursor: bad due flag")
        values[1] = values[1].isoformat()
    if sort == "updated":
        cursor_time(values[0])
    return values


def cursor_time(micros: int) -> datetime:
    """Return the updated_at a cursor's key holds; ValueError if out of range."""
    try:
        return from_micros(micros)
    except OverflowError as exc:
        raise ValueError("malformed cursor: time out of range") from exc


# -- column positions --------------------------------------------------------------------------


def column_positions(columns: Sequence[Any]) -> dict[str, int]:
    """Return column id -> position for rows with `id` and `position`."""
    return {column.id: column.position for column in columns}


def activity_order(entry: CardActivity) -> tuple[int, str]:
    """Return the key that orders activity newest first: (-seq, field)."""
    return (-entry.seq, entry.field)


def after_activity(entry: CardActivity, before_seq: int | None, before_field: str | None) -> bool:
    """True if `entry` comes after the page boundary (before_seq, before_field)."""
    if before_seq is None:
        return True
    if before_field is None:
        return entry.seq < before_seq
    return entry.seq < before_seq or (entry.seq == before_seq and entry.field > before_field)
