"""Columns, labels and sprints of a board (sprints with committed points against capacity)."""

from __future__ import annotations

from typing import Any, Final

from msgspec import UNSET, UnsetType

from crdt_model import Board, NotFoundError, ValidationError, is_canonical_id
from sync_server.access.permissions import Action
from sync_server.api import bodies as b
from sync_server.api import live, views
from sync_server.api.common import ApiRoute, Call
from sync_server.http_auth import ApiProblem


def _path_id(call: Call, name: str, kind: str) -> str:
    ident = call.path[name]
    if not is_canonical_id(ident):
        raise ApiProblem(404, f"no such {kind}")
    return ident


def _value(value: Any) -> Any:
    return None if isinstance(value, UnsetType) else value


def _placed(place: Any) -> tuple[str | None, str | None, int | None]:
    return _value(place.before), _value(place.after), _value(place.position)


def _neighbour(exc: NotFoundError, before: str | None) -> ValidationError:
    return ValidationError("before" if exc.ident == before else "after", str(exc))


# -- columns --------------------------------------------------------------------------------------


async def _columns(call: Call) -> list[b.Column]:
    tables = await call.store.read_materialized(call.board_id, cards=False)
    return [views.column(column) for column in tables.columns]


async def _column(call: Call, column_id: str) -> b.Column:
    for column in await _columns(call):
        if column.id == column_id:
            return column
    raise ApiProblem(404, "no such column")


async def list_columns(call: Call) -> b.ColumnList:
    """The board's columns in board order."""
    return b.ColumnList(columns=await _columns(call))


def _add_column(board: Board, body: b.ColumnCreate) -> str:
    before, after, position = _placed(body)
    try:
        return board.add_column(
            body.name,
            role=body.role,
            wip_limit=body.wip_limit,
            before=before,
            after=after,
            position=position,
        )
    except NotFoundError as exc:
        raise _neighbour(exc, before) from None


async def create_column(call: Call) -> b.Column:
    """Add a column (last unless placed)."""
    body: b.ColumnCreate = call.body
    column_id = await live.write(call, lambda board: _add_column(board, body))
    return await _column(call, column_id)


def _patch_column(board: Board, column_id: str, body: b.ColumnPatch) -> None:
    board.column(column_id)  # 404 before anything
    before, after, position = _placed(body)
    with board.doc.transaction():
        if before is not None or after is not None or position is not None:
            try:  # checked completely before it writes, and first: all or nothing
                board.move_column(column_id, before=before, after=after, position=position)
            except NotFoundError as exc:
                raise _neighbour(exc, before) from None
        if not isinstance(body.name, UnsetType):
            board.rename_column(column_id, body.name)
        if body.role is not UNSET:
            board.set_column_role(column_id, body.role)
        if body.wip_limit is not UNSET:
            board.set_wip_limit(column_id, body.wip_limit)


async def patch_column(call: Call) -> b.Column:
    """Rename a column, set its role or WIP limit, or move it."""
    column_id = _path_id(call, "column_id", "column")
    body: b.ColumnPatch = call.body
    await live.write(call, lambda board: _patch_column(board, column_id, body))
    return await _column(call, column_id)


async def delete_column(call: Call) -> None:
    """Remove a column; its cards are then shown in the first column."""
    column_id = _path_id(call, "column_id", "column")
    await live.write(call, lambda board: board.remove_column(column_id))


# -- labels ---------------------------------------------------------------------------------------


async def _labels(call: Call) -> list[b.Label]:
    tables = await call.store.read_materialized(call.board_id, cards=False)
    return [views.label(label) for label in tables.labels]


async def _label(call: Call, label_id: str) -> b.Label:
    for label in await _labels(call):
        if label.id == label_id:
            return label
    raise ApiProblem(404, "no such label")


async def list_labels(call: Call) -> b.LabelList:
    """The board's labels, by name."""
    return b.LabelList(labels=await _labels(call))


async def create_label(call: Call) -> b.Label:
    """Create a label."""
    body: b.LabelCreate = call.body
    label_id = await live.write(call, lambda board: board.create_label(body.name, body.color))
    return await _label(call, label_id)


def _patch_label(board: Board, label_id: str, body: b.LabelPatch) -> None:
    if label_id not in {label.id for label in board.labels()}:
        raise NotFoundError("label", label_id)
    with board.doc.transaction():
        if not isinstance(body.name, UnsetType):
            board.rename_label(label_id, body.name)
        if not isinstance(body.color, UnsetType):
            board.recolor_label(label_id, body.color)


async def patch_label(call: Call) -> b.Label:
    """Rename or recolour a label."""
    label_id = _path_id(call, "label_id", "label")
    body: b.LabelPatch = call.body
    await live.write(call, lambda board: _patch_label(board, label_id, body))
    return await _label(call, label_id)


async def delete_label(call: Call) -> None:
    """Delete a label and take it off every card."""
    label_id = _path_id(call, "label_id", "label")
    await live.write(call, lambda board: board.delete_label(label_id))


# -- sprints --------------------------------------------------------------------------------------


async def _sprint(call: Call, sprint_id: str) -> b.Sprint:
    tables = await call.store.read_materialized(call.board_id, cards=False)
    for sprint in tables.sprints:
        if sprint.id == sprint_id:
            committed = await call.store.sprint_committed_points(call.board_id, sprint_id)
            return views.sprint(sprint, committed)
    raise ApiProblem(404, "no such sprint")


async def list_sprints(call: Call) -> b.SprintList:
    """The board's sprints by start date, each with its committed points."""
    tables = await call.store.read_materialized(call.board_id, cards=False)
    sprints = []
    for sprint in tables.sprints:
        committed = await call.store.sprint_committed_points(call.board_id, sprint.id)
        sprints.append(views.sprint(sprint, committed))
    return b.SprintList(sprints=sprints)


async def get_sprint(call: Call) -> b.Sprint:
    """One sprint with its committed points (its unarchived cards) against its capacity."""
    return await _sprint(call, _path_id(call, "sprint_id", "sprint"))


async def create_sprint(call: Call) -> b.Sprint:
    """Create a sprint."""
    body: b.SprintCreate = call.body
    sprint_id = await live.write(
        call,
        lambda board: board.create_sprint(
            body.name, body.start, body.end, goal=body.goal, capacity=body.capacity
        ),
    )
    return await _sprint(call, sprint_id)


async def patch_sprint(call: Call) -> b.Sprint:
    """Change a sprint's name, dates, goal or capacity."""
    sprint_id = _path_id(call, "sprint_id", "sprint")
    body: b.SprintPatch = call.body
    await live.write(
        call,
        lambda board: board.edit_sprint(
            sprint_id,
            name=body.name,
            start=body.start,
            end=body.end,
            goal=body.goal,
            capacity=body.capacity,
        ),
    )
    return await _sprint(call, sprint_id)


async def delete_sprint(call: Call) -> None:
    """Delete a sprint; its cards go back to the backlog."""
    sprint_id = _path_id(call, "sprint_id", "sprint")
    await live.write(call, lambda board: board.delete_sprint(sprint_id))


# -- the routes -----------------------------------------------------------------------------------

B: Final = "board"
READ, WRITE = Action.BOARD_READ, Action.BOARD_WRITE


def _crud(
    kind: str,
    plural: str,
    handlers: dict[str, Any],
    bodies: dict[str, Any],
) -> list[ApiRoute]:
    """The routes of one kind: list, create, (get,) patch, delete."""
    base = f"/api/boards/{{board_id}}/{plural}"
    one = f"{base}/{{{kind}_id}}"
    name = kind.capitalize()
    routes = [
        ApiRoute(
            "GET",
            base,
            handlers["list"],
            f"List the board's {plural}",
            plural,
            B,
            READ,
            response=bodies["list"],
            operation_id=f"list{name}s",
        ),
        ApiRoute(
            "POST",
            base,
            handlers["create"],
            f"Create a {kind}",
            plural,
            B,
            WRITE,
            body=bodies["create"],
            response=bodies["one"],
            status=201,
            operation_id=f"create{name}",
        ),
        ApiRoute(
            "PATCH",
            one,
            handlers["patch"],
            f"Change a {kind}",
            plural,
            B,
            WRITE,
            body=bodies["patch"],
            response=bodies["one"],
            operation_id=f"patch{name}",
        ),
        ApiRoute(
            "DELETE",
            one,
            handlers["delete"],
            f"Delete a {kind}",
            plural,
            B,
            WRITE,
            status=204,
            operation_id=f"delete{name}",
        ),
    ]
    if "get" in handlers:
        routes.append(
            ApiRoute(
                "GET",
                one,
                handlers["get"],
                f"Get a {kind}",
                plural,
                B,
                READ,
                response=bodies["one"],
                operation_id=f"get{name}",
            )
        )
    return routes


ROUTES = [
    *_crud(
        "column",
        "columns",
        {
            "list": list_columns,
            "create": create_column,
            "patch": patch_column,
            "delete": delete_column,
        },
        {
            "list": b.ColumnList,
            "create": b.ColumnCreate,
            "patch": b.ColumnPatch,
            "one": b.Column,
        },
    ),
    *_crud(
        "label",
        "labels",
        {"list": list_labels, "create": create_label, "patch": patch_label, "delete": delete_label},
        {"list": b.LabelList, "create": b.LabelCreate, "patch": b.LabelPatch, "one": b.Label},
    ),
    *_crud(
        "sprint",
        "sprints",
        {
            "list": list_sprints,
            "create": create_sprint,
            "get": get_sprint,
            "patch": patch_sprint,
            "delete": delete_sprint,
        },
        {"list": b.SprintList, "create": b.SprintCreate, "patch": b.SprintPatch, "one": b.Sprint},
    ),
]
