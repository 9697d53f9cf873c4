"""The machinery every REST route shares: the route table entry, who calls, what they may do.

Each route is one `ApiRoute`: method, path, the permission it needs, its query Struct, body
Struct, response Struct and statuses. `endpoint` turns a group of routes sharing a path into
one Starlette endpoint that, for every request, checks in the house order

    401 (who) → 404 (not a member: the board or workspace does not exist for you)
    → 403 (your role may not) → 422 (query, then body, naming the `field`) → 409

and then calls the handler with a `Call` and encodes what it returns with msgspec. The same
table feeds `openapi.py`, so the document cannot drift from what the server does.

Errors are RFC 7807 problem JSON (`ApiProblem`); crdt_model's ValidationError becomes a 422
naming its field, its NotFoundError a 404, storage's NotFound a 404.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from crdt_model import NotFoundError, ValidationError
from storage import Board as BoardRecord
from storage import BoardNotFound, NotFound, Store, WorkspaceNotFound
from sync_server.access.permissions import Action, Role, allowed
from sync_server.access.tokens import AccessTokens, Clock, TokenConfig
from sync_server.http_auth import PROBLEM_MEDIA_TYPE, ApiProblem, caller_id

MAX_BODY_BYTES: Final = 1024 * 1024
JSON: Final = "application/json"

Method = Literal["GET", "POST", "PATCH", "DELETE"]
Scope = Literal["public", "user", "workspace", "board"]
Handler = Callable[["Call"], Awaitable[Any]]

_encoder = msgspec.json.Encoder()


@dataclass(frozen=True)
class ApiRoute:
    """One operation of the API; the single source for the server and the OpenAPI document.

    `scope` says what the path names and so what the caller must be a member of (`board`:
    `{board_id}`, `workspace`: `{workspace_id}`, `user`: signed in only, `public`: no token).
    `response` None means 204 No Content. `statuses` lists the errors beyond those the scope,
    action, bodies and method imply (see `error_statuses`). `live_write` False marks a
    non-GET operation that does not change the board's document (archiving): it neither
    waits for a projection (503) nor is refused on an archived board (409).
    """

    method: Method
    path: str
    handler: Handler
    summary: str
    tag: str
    scope: Scope
    action: Action | None = None
    query: type[msgspec.Struct] | None = None
    body: type[msgspec.Struct] | None = None
    response: type[msgspec.Struct] | None = None
    status: int = 200
    statuses: tuple[int, ...] = ()
    operation_id: str = ""
    raw_response: bool = False  # the handler answers a Response itself (openapi.json)
    live_write: bool = True

    @property
    def path_params(self) -> list[str]:
        """Return the names of the path's `{parameters}`, in order."""
        return re.findall(r"{([a-z_]+)}", self.path)

    def error_statuses(self) -> list[int]:
        """Return every error status this operation can answer, sorted."""
        found = set(self.statuses)
        if self.scope != "public":
            # 422: a bad query string or body (an operation without a query Struct takes none).
            found |= {401, 422, 429}
        if self.scope in ("workspace", "board") or self.path_params:
            found.add(404)
        if self.action is not None:
            found.add(403)
        if self.body is not None:
            found.add(413)
        if self.method != "GET" and self.scope in ("workspace", "board") and self.live_write:
            found.add(503)  # stored, but not projected in time (live.py)
            if self.scope == "board":
                found.add(409)  # the board is archived
        return sorted(found)


@dataclass
class Call:
    """One authorized request, as a handler sees it."""

    request: Request
    store: Store
    user_id: str
    path: dict[str, str]
    role: Role | None = None
    workspace_id: str | None = None
    board: BoardRecord | None = None
    query: Any = None
    body: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def board_id(self) -> str:
        """The board the path names (board-scoped routes only)."""
        assert self.board is not None
        return self.board.id

    @property
    def state(self) -> Any:
        """The app's lifespan state (store, rooms, materializer...)."""
        return self.request.state


# -- decoding -------------------------------------------------------------------------------------

_AT = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_NAMED = re.compile(r"(?:missing required field|unknown field) `(?P<name>[^`]+)`")
_INDEX = re.compile(r"^\.?[a-z_]+\[(?P<index>\d+)\]")


def validation_problem(exc: msgspec.ValidationError, *, prefix: str = "") -> ApiProblem:
    """Return a 422 naming the field msgspec's error points at (`cards[2].title`)."""
    message = str(exc)
    path = ""
    at = _AT.search(message)
    if at is not None:
        path = at.group("path")
        message = message[: at.start()]
    named = _NAMED.search(message)
    if named is not None:
        path = f"{path}.{named.group('name')}"
    where = (prefix + path).lstrip(".")
    extensions: dict[str, Any] = {}
    if where:
        extensions["field"] = where
    index = _INDEX.match(path)
    if index is not None:
        extensions["index"] = int(index.group("index"))
    return ApiProblem(422, message if not where else f"{where}: {message}", **extensions)


async def read_body(request: Request) -> bytes:
    """Read the body, refusing (413) one over MAX_BODY_BYTES before reading all of it."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise ApiProblem(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ApiProblem(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def decode_body(raw: bytes, kind: type[msgspec.Struct]) -> Any:
    """Decode a JSON body into `kind`; raise 413, or 422 naming the field."""
    if len(raw) > MAX_BODY_BYTES:
        raise ApiProblem(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    if not raw.strip():
        raise ApiProblem(422, "a JSON body is required")
    try:
        return msgspec.json.decode(raw, type=kind)
    except msgspec.ValidationError as exc:
        raise validation_problem(exc) from None
    except msgspec.DecodeError:
        raise ApiProblem(422, "the body is not valid JSON") from None


def decode_query(request: Request, kind: type[msgspec.Struct]) -> Any:
    """Decode the query string into `kind` (one value per name); raise 422 naming the field."""
    values: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name in values:
            raise ApiProblem(422, f"{name}: give this parameter once", field=name)
        values[name] = value
    try:
        return msgspec.convert(values, kind, strict=False)
    except msgspec.ValidationError as exc:
        raise validation_problem(exc) from None


def model_problem(
    exc: ValidationError, *, index: int | None = None, prefix: str = ""
) -> ApiProblem:
    """Return the 422 for a refusal of crdt_model (or of our checks against the document)."""
    where = prefix + exc.field
    extensions: dict[str, Any] = {"field": where}
    if index is not None:
        extensions["index"] = index
    return ApiProblem(422, f"{where}: {exc.message}", **extensions)


def encode(value: Any, status: int = 200) -> Response:
    """Return `value` (a Struct) as JSON."""
    return Response(_encoder.encode(value), status_code=status, media_type=JSON)


# -- authorization -----------------------------------------------------------------------------


def require(role: Role, action: Action) -> None:
    """Raise 403 if `role` may not `action` (the permission matrix decides)."""
    if not allowed(role, action):
        raise ApiProblem(403, f"your role ({role}) may not {action}", action=str(action))


async def _authorize(route: ApiRoute, call: Call) -> None:
    """Resolve the workspace or board the path names; 404 unless the caller is a member."""
    store = call.store
    if route.scope == "workspace":
        workspace_id = call.path["workspace_id"]
        role = await store.get_member_role(workspace_id, call.user_id)
        if role is None:
            raise ApiProblem(404, "no such workspace")
        call.workspace_id, call.role = workspace_id, Role(role)
    elif route.scope == "board":
        board_id = call.path["board_id"]
        try:
            board = await store.get_board(board_id)
        except BoardNotFound:
            raise ApiProblem(404, "no such board") from None
        role = await store.get_member_role(board.workspace_id, call.user_id)
        if role is None:
            raise ApiProblem(404, "no such board")
        call.board, call.workspace_id, call.role = board, board.workspace_id, Role(role)
    if route.action is not None:
        assert call.role is not None, "an action needs a workspace or board scope"
        require(call.role, route.action)


async def _run(route: ApiRoute, request: Request, access: AccessTokens, clock: Clock) -> Response:
    path = {name: str(value) for name, value in request.path_params.items()}
    if route.scope == "public":
        call = Call(request=request, store=request.state.store, user_id="", path=path)
    else:
        user_id = await caller_id(request, access, clock)
        call = Call(request=request, store=request.state.store, user_id=user_id, path=path)
        await _authorize(route, call)
    if route.query is not None:
        call.query = decode_query(request, route.query)
    elif route.scope != "public" and request.query_params:
        name = next(iter(request.query_params))
        raise ApiProblem(422, f"{name}: this operation takes no query parameters", field=name)
    if route.body is not None:
        call.body = decode_body(await read_body(request), route.body)
    result = await route.handler(call)
    if route.raw_response:
        assert isinstance(result, Response)
        return result
    if route.response is None:
        return Response(status_code=204)
    return encode(result, route.status)


async def answer(route: ApiRoute, request: Request, access: AccessTokens, clock: Clock) -> Response:
    """Run one operation; every refusal becomes a problem response."""
    try:
        return await _run(route, request, access, clock)
    except ApiProblem as problem:
        return problem.response()
    except ValidationError as exc:
        return model_problem(exc).response()
    except NotFoundError as exc:
        return ApiProblem(404, str(exc)).response()
    except WorkspaceNotFound:
        return ApiProblem(404, "no such workspace").response()
    except BoardNotFound:
        return ApiProblem(404, "no such board").response()
    except NotFound as exc:
        return ApiProblem(404, str(exc)).response()


def endpoint(
    routes: Sequence[ApiRoute], config: TokenConfig, *, clock: Clock = time.time
) -> Callable[[Request], Awaitable[Response]]:
    """Return one Starlette endpoint for the routes sharing a path, dispatching by method.

    An undeclared method is a 405 problem with `Allow` (HEAD is served for GET).
    """
    access = AccessTokens(config, clock=clock)
    by_method = {route.method: route for route in routes}
    allow = ", ".join(sorted({*by_method, *(["HEAD"] if "GET" in by_method else [])}))

    async def dispatch(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        route = by_method.get(method)  # type: ignore[call-overload]
        if route is None:
            problem = ApiProblem(
                405, f"{request.method} is not allowed here", headers={"Allow": allow}
            )
            return problem.response()
        return await answer(route, request, access, clock)

    dispatch.__name__ = "api_" + routes[0].operation_id
    return dispatch


__all__ = [
    "JSON",
    "PROBLEM_MEDIA_TYPE",
    "ApiProblem",
    "ApiRoute",
    "Call",
    "decode_body",
    "decode_query",
    "encode",
    "endpoint",
    "model_problem",
    "require",
    "validation_problem",
]
