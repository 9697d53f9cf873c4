"""Projection of a board document to rows: tolerant of any shape, never raising on content.

Cards are read key by key (never `cards.to_py()`, which costs ~0.8 s on a 10,000-card board),
and `project_card` shares the per-card code so a materializer can refresh one card at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

from pycrdt import Array, Map

from crdt_model import _schema as s
from crdt_model._ids import is_canonical_id
from crdt_model._read import MISSING, Reader, YDoc, YMap, describe, entry
from crdt_model._rows import (
    AutomationRow,
    BoardRow,
    CardProjection,
    CardRow,
    ColumnRow,
    CommentRow,
    GitRow,
    LabelRow,
    Projection,
    PrRow,
    SprintRow,
)
from crdt_model._validate import is_card_prefix, is_color, is_name, is_repo, split_pr_key


@dataclass(frozen=True)
class _Context:
    """What a card needs from the rest of the board to be read."""

    column_ids: frozenset[str]
    first_column: str | None
    label_ids: frozenset[str]
    sprint_ids: frozenset[str]
    card_prefix: str


def root(doc: YDoc, name: str) -> YMap:
    """Return root `name` as a Map (an absent root reads as an empty one)."""
    # `doc.get` attaches the Map type to roots that arrived untyped in an update; it writes
    # nothing to the document (the update stays byte-identical).
    result: YMap = doc.get(name, type=Map)
    return result


class _NameCheck:
    """Predicate: a string of 1..limit characters once trimmed."""

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def __call__(self, value: str) -> bool:
        return is_name(value, self.limit)


def _name_check(limit: int) -> _NameCheck:
    return _NameCheck(limit)


def _short(value: str) -> bool:
    return len(value) <= s.SHORT_TEXT_MAX


def read_board(doc: YDoc, reader: Reader) -> BoardRow:
    """Read the `board` root."""
    board = root(doc, s.ROOT_BOARD)
    path = s.ROOT_BOARD
    version = reader.integer(board, "schemaVersion", path, s.SCHEMA_VERSION, 0, 2**31)
    if version != s.SCHEMA_VERSION:
        reader.warn(f"{path}/schemaVersion", f"schema version {version} is not supported")
    return BoardRow(
        id=reader.string(board, "id", path, "", is_canonical_id, "a lower-case UUID"),
        name=reader.string(
            board, "name", path, s.DEFAULT_BOARD_NAME, lambda v: is_name(v, s.BOARD_NAME_MAX)
        ),
        workspace_id=reader.string(
            board, "workspaceId", path, "", is_canonical_id, "a lower-case UUID"
        ),
        schema_version=version,
        card_prefix=reader.string(
            board, "cardPrefix", path, s.DEFAULT_CARD_PREFIX, is_card_prefix, "a card prefix"
        ),
        repo=reader.opt_string(board, "repo", path, is_repo, "owner/name or null"),
    )


def _entries(doc: YDoc, name: str, reader: Reader) -> list[tuple[str, YMap]]:
    """Return the (id, YMap) entries of a root map, reporting and skipping malformed ones."""
    result: list[tuple[str, YMap]] = []
    container = root(doc, name)
    for key in container.keys():
        value = container[key]
        if not is_canonical_id(key):
            reader.warn(f"{name}/{key}", "key is not a lower-case UUID; entry ignored")
        elif not isinstance(value, Map):
            reader.warn(f"{name}/{key}", f"expected a Y.Map, found {describe(value)}; ignored")
        else:
            result.append((key, value))
    return result


def read_columns(doc: YDoc, reader: Reader) -> list[ColumnRow]:
    """Read the columns in board order: sorted by (rank, id)."""
    unordered: list[tuple[str, str, str, str | None, int | None]] = []
    for column_id, column in _entries(doc, s.ROOT_COLUMNS, reader):
        path = f"{s.ROOT_COLUMNS}/{column_id}"
        unordered.append(
            (
                reader.string(column, "rank", path, s.DEFAULT_RANK),
                column_id,
                reader.string(
                    column, "name", path, s.DEFAULT_COLUMN_NAME, _name_check(s.COLUMN_NAME_MAX)
                ),
                reader.opt_string(
                    column, "role", path, lambda v: v in s.COLUMN_ROLES, "a column role or null"
                ),
                reader.opt_integer(column, "wipLimit", path, 1, s.WIP_LIMIT_MAX),
            )
        )
    unordered.sort(key=lambda row: (row[0], row[1]))
    return [
        ColumnRow(id=cid, name=name, rank=rank, role=role, wip_limit=wip, position=i)
        for i, (rank, cid, name, role, wip) in enumerate(unordered)
    ]


def read_labels(doc: YDoc, reader: Reader) -> list[LabelRow]:
    """Read the labels, sorted by (name, id)."""
    rows = []
    for label_id, label in _entries(doc, s.ROOT_LABELS, reader):
        path = f"{s.ROOT_LABELS}/{label_id}"
        color = reader.string(label, "color", path, s.DEFAULT_LABEL_COLOR, is_color, "#rrggbb")
        rows.append(
            LabelRow(
                id=label_id,
                name=reader.string(
                    label, "name", path, s.DEFAULT_LABEL_NAME, _name_check(s.LABEL_NAME_MAX)
                ),
                color=color.lower(),
            )
        )
    rows.sort(key=lambda row: (row.name, row.id))
    return rows


def read_sprints(doc: YDoc, reader: Reader) -> list[SprintRow]:
    """Read the sprints, sorted by (start, id); undated sprints last."""
    rows = []
    for sprint_id, sprint in _entries(doc, s.ROOT_SPRINTS, reader):
        path = f"{s.ROOT_SPRINTS}/{sprint_id}"
        rows.append(
            SprintRow(
                id=sprint_id,
                name=reader.string(
                    sprint, "name", path, s.DEFAULT_SPRINT_NAME, _name_check(s.SPRINT_NAME_MAX)
                ),
                start=reader.opt_date(sprint, "start", path),
                end=reader.opt_date(sprint, "end", path),
                goal=reader.string(sprint, "goal", path, "", lambda v: len(v) <= s.GOAL_MAX),
                capacity=reader.integer(
                    sprint, "capacity", path, s.DEFAULT_CAPACITY, 0, s.CAPACITY_MAX
                ),
            )
        )
    rows.sort(key=lambda row: (row.start is None, row.start or "", row.id))
    return rows


def _context(
    board: BoardRow, columns: list[ColumnRow], labels: list[LabelRow], sprints: list[SprintRow]
) -> _Context:
    return _Context(
        column_ids=frozenset(c.id for c in columns),
        first_column=columns[0].id if columns else None,
        label_ids=frozenset(label.id for label in labels),
        sprint_ids=frozenset(sprint.id for sprint in sprints),
        card_prefix=board.card_prefix,
    )


def _read_pr(key: str, pr: object, path: str, reader: Reader) -> PrRow | None:
    parsed = split_pr_key(key)
    if parsed is None:
        reader.warn(path, "key is not owner/repo#number; ignored")
        return None
    if not isinstance(pr, Map):
        reader.warn(path, f"expected a Y.Map, found {describe(pr)}; ignored")
        return None
    repo, number = parsed
    text_ok = _short
    read_number = reader.integer(pr, "number", path, number, 1, s.MAX_SAFE_INTEGER)
    if read_number != number:
        reader.warn(f"{path}/number", f"{read_number} differs from the key; read as {number}")
    return PrRow(
        key=key,
        repo=repo,
        number=number,
        title=reader.string(pr, "title", path, "", lambda v: len(v) <= s.SHORT_TEXT_MAX),
        state=reader.string(pr, "state", path, "open", lambda v: v in s.PR_STATES, "a PR state"),
        url=reader.opt_string(pr, "url", path, text_ok),
        head_branch=reader.opt_string(pr, "headBranch", path, text_ok),
        head_sha=reader.opt_string(pr, "headSha", path, text_ok),
        ci=reader.opt_string(pr, "ci", path, lambda v: v in s.CI_STATES, "a CI state or null"),
        approvals=reader.integer(pr, "approvals", path, 0, 0, s.APPROVALS_MAX),
        updated_at=reader.opt_timestamp(pr, "updatedAt", path),
    )


def _read_git(card: YMap, path: str, reader: Reader) -> GitRow:
    git = reader.map(card, "git", path)
    if git is None:
        return GitRow(branch=None, prs=[], last_automation=None)
    path = f"{path}/git"
    text_ok = _short
    prs: list[PrRow] = []
    pr_map = reader.map(git, "prs", path)
    if pr_map is not None:
        for key in pr_map.keys():
            row = _read_pr(key, pr_map[key], f"{path}/prs/{key}", reader)
            if row is not None:
                prs.append(row)
    prs.sort(key=lambda row: (row.repo, row.number))
    automation: AutomationRow | None = None
    last = entry(git, "lastAutomation")
    if isinstance(last, Map):
        sub = f"{path}/lastAutomation"
        automation = AutomationRow(
            rule=reader.opt_string(last, "rule", sub, text_ok),
            pr=reader.opt_string(last, "pr", sub, lambda v: split_pr_key(v) is not None),
            event=reader.opt_string(last, "event", sub, text_ok),
            delivery_id=reader.opt_string(last, "deliveryId", sub, text_ok),
            at=reader.opt_timestamp(last, "at", sub),
        )
    elif last is not None:
        reader.warn(f"{path}/lastAutomation", f"expected a Y.Map or null, found {describe(last)}")
    return GitRow(
        branch=reader.opt_string(git, "branch", path, text_ok),
        prs=prs,
        last_automation=automation,
    )


def read_card(card_id: str, card: YMap, ctx: _Context, reader: Reader) -> CardRow:
    """Read one card Map as a row, with every field defaulted where it is malformed."""
    path = f"{s.ROOT_CARDS}/{card_id}"
    raw_column = reader.opt_id(card, "column", path)
    column = raw_column if raw_column in ctx.column_ids else ctx.first_column
    if raw_column is not None and raw_column not in ctx.column_ids:
        reader.warn(f"{path}/column", "column does not exist; shown in the first column")
    number = reader.opt_integer(card, "number", path, 1, s.MAX_SAFE_INTEGER)
    title = reader.text(card, "title", path, s.DEFAULT_TITLE)
    if not is_name(title, s.TITLE_MAX):
        reader.warn(f"{path}/title", f"must be 1..{s.TITLE_MAX} characters once trimmed")
        title = s.DEFAULT_TITLE
    labels = reader.id_set(card, "labels", path)
    known_labels = [label for label in labels if label in ctx.label_ids]
    if len(known_labels) != len(labels):
        # A label deleted concurrently with being added to this card: not an error.
        labels = known_labels
    sprint = reader.opt_id(card, "sprint", path)
    if sprint is not None and sprint not in ctx.sprint_ids:
        reader.warn(f"{path}/sprint", "sprint does not exist; read as null")
        sprint = None
    return CardRow(
        id=card_id,
        column_id=column,
        raw_column_id=raw_column,
        rank=reader.string(card, "rank", path, s.DEFAULT_RANK),
        number=number,
        key=None if number is None else f"{ctx.card_prefix}-{number}",
        title=title.strip(),
        description=reader.text(card, "description", path, ""),
        priority=reader.string(
            card, "priority", path, s.DEFAULT_PRIORITY, lambda v: v in s.PRIORITIES, "a priority"
        ),
        points=reader.opt_integer(card, "points", path, 0, s.POINTS_MAX),
        due=reader.opt_date(card, "due", path),
        labels=labels,
        assignees=reader.id_set(card, "assignees", path),
        sprint_id=sprint,
        created_by=reader.opt_id(card, "createdBy", path),
        created_at=reader.opt_timestamp(card, "createdAt", path),
        archived=reader.boolean(card, "archived", path, False),
        git=_read_git(card, path, reader),
    )


def read_comments(doc: YDoc, card_id: str, reader: Reader) -> list[CommentRow]:
    """Read the comments of one card, in array order."""
    value = entry(root(doc, s.ROOT_COMMENTS), card_id)
    path = f"{s.ROOT_COMMENTS}/{card_id}"
    if value is MISSING:
        return []
    if not isinstance(value, Array):
        reader.warn(path, f"expected a Y.Array, found {describe(value)}; ignored")
        return []
    rows: list[CommentRow] = []
    for position, item in enumerate(value):
        item_path = f"{path}/{position}"
        if not isinstance(item, Map):
            reader.warn(item_path, f"expected a Y.Map, found {describe(item)}; ignored")
            continue
        rows.append(
            CommentRow(
                card_id=card_id,
                id=reader.string(item, "id", item_path, "", is_canonical_id, "a lower-case UUID"),
                author=reader.opt_id(item, "author", item_path),
                body=reader.string(item, "body", item_path, "", _body_ok),
                created_at=reader.opt_timestamp(item, "createdAt", item_path),
                position=position,
            )
        )
    return rows


def _body_ok(value: str) -> bool:
    return len(value) <= s.COMMENT_BODY_MAX


def _read_all(
    doc: YDoc, reader: Reader
) -> tuple[BoardRow, list[ColumnRow], list[LabelRow], list[SprintRow], _Context]:
    board = read_board(doc, reader)
    columns = read_columns(doc, reader)
    labels = read_labels(doc, reader)
    sprints = read_sprints(doc, reader)
    return board, columns, labels, sprints, _context(board, columns, labels, sprints)


def project(doc: YDoc) -> Projection:
    """Return the whole board as rows in display order; never raises on document content."""
    reader = Reader()
    # One transaction for the whole read: a consistent view, and pycrdt reuses it for every
    # access instead of opening one per key.
    with doc.transaction():
        board, columns, labels, sprints, ctx = _read_all(doc, reader)
        cards = [
            read_card(cid, card, ctx, reader) for cid, card in _entries(doc, s.ROOT_CARDS, reader)
        ]
        card_ids = {card.id for card in cards}
        comments: list[CommentRow] = []
        for card_id in root(doc, s.ROOT_COMMENTS).keys():
            if card_id in card_ids:
                comments.extend(read_comments(doc, card_id, reader))
            else:
                reader.warn(f"{s.ROOT_COMMENTS}/{card_id}", "no such card; comments ignored")
    order = {column.id: column.position for column in columns}
    cards.sort(key=lambda c: (order.get(c.column_id or "", len(order)), c.rank, c.id))
    comments.sort(key=lambda c: (c.card_id, c.position))
    return Projection(
        board=board,
        columns=columns,
        cards=cards,
        labels=labels,
        sprints=sprints,
        comments=comments,
        # Map iteration order differs between replicas holding identical documents.
        warnings=sorted(reader.warnings, key=lambda w: (w.path, w.message)),
    )


def project_card(doc: YDoc, card_id: str) -> CardProjection:
    """Return one card as a row (None if absent or malformed) with its comments."""
    reader = Reader()
    with doc.transaction():
        _board, _columns, _labels, _sprints, ctx = _read_all(doc, reader)
        # Only this card's warnings matter to the caller.
        reader.warnings.clear()
        value = entry(root(doc, s.ROOT_CARDS), card_id)
        path = f"{s.ROOT_CARDS}/{card_id}"
        if value is MISSING:
            return CardProjection(card=None, comments=[], warnings=[])
        if not is_canonical_id(card_id) or not isinstance(value, Map):
            reader.warn(path, f"not a card (a Y.Map under a lower-case UUID): {describe(value)}")
            return CardProjection(card=None, comments=[], warnings=reader.warnings)
        card = read_card(card_id, value, ctx, reader)
        comments = read_comments(doc, card_id, reader)
    warnings = sorted(reader.warnings, key=lambda w: (w.path, w.message))
    return CardProjection(card=card, comments=comments, warnings=warnings)
