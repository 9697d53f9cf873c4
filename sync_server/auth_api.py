"""Session and workspace HTTP routes: `/auth/refresh`, `/auth/logout`, `/api/workspaces/...`.

Mounted by `create_app` only when it is given a `TokenConfig`. Errors are RFC 7807 problems.

Decisions:
- Every permission question goes to `sync_server.access.permissions` (`allowed`, `may_invite`,
  `may_change_role`, `may_remove`); this module never compares roles itself.
- A caller who is not a member of a workspace gets 404 for it and everything under it, exactly
  as if it did not exist, so workspace ids cannot be probed. A member whose role does not allow
  the action gets 403 (they already know the workspace exists), checked before the body is
  read; a body naming a role they may not grant or a member they may not touch is also 403.
- Order: 401 (who) → 404 (member?) → 403 (may act) → 422 (body) → 403 (role rules) → 409.
- Storage has no "create a workspace with its owner" operation, so POST /api/workspaces creates
  the workspace and then adds the caller as owner; if that fails, the workspace is deleted again.
- Removing yourself is `member.leave` (every role); removing someone else is `may_remove`.
- Refresh tokens come from the JSON body (API clients; the rotated token is answered in the
  body) or the `taskly_refresh` cookie (browsers; the rotated token is set as the cookie).
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Final, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from storage import (
    Conflict,
    LastOwner,
    Member,
    MemberNotFound,
    Store,
    TokenNotFound,
    User,
    UserNotFound,
    Workspace,
    WorkspaceNotFound,
)
from sync_server.access.permissions import (
    Action,
    Role,
    allowed,
    may_change_role,
    may_invite,
    may_remove,
)
from sync_server.access.tokens import (
    AccessTokens,
    Clock,
    IssuedAccessToken,
    IssuedSecret,
    TokenConfig,
    hash_token,
    new_refresh_token,
)
from sync_server.http_auth import ApiProblem, caller_id, unauthorized
from sync_server.session_cookie import REFRESH_COOKIE, clear_refresh_cookie, set_refresh_cookie

MAX_BODY_BYTES: Final = 64 * 1024
MAX_NAME_CHARS: Final = 200
MAX_LOGIN_CHARS: Final = 200

Handler = Callable[[Request], Awaitable[Response]]
T = TypeVar("T")

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NAME_CHARS)]
Login = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_LOGIN_CHARS)]


class RefreshBody(msgspec.Struct, forbid_unknown_fields=True):
    """The JSON body of /auth/refresh and /auth/logout for API clients."""

    refresh_token: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]


class WorkspaceBody(msgspec.Struct, forbid_unknown_fields=True):
    """The body of POST and PATCH /api/workspaces[/{id}]."""

    name: Name


class InviteBody(msgspec.Struct, forbid_unknown_fields=True):
    """The body of POST /api/workspaces/{id}/members: a local user name or GitHub login."""

    login: Login
    role: Role


class RoleBody(msgspec.Struct, forbid_unknown_fields=True):
    """The body of PATCH /api/workspaces/{id}/members/{user_id}."""

    role: Role


class Session(msgspec.Struct, frozen=True, kw_only=True):
    """A freshly issued session: an access token and a refresh token (never logged)."""

    access: IssuedAccessToken
    refresh: IssuedSecret

    def __repr__(self) -> str:
        return f"Session(access={self.access!r}, refresh={self.refresh!r})"

    __str__ = __repr__


def refresh_hash(token: str) -> bytes:
    """Return the stored form of a refresh token: its hex SHA-256 as ASCII bytes."""
    return hash_token(token).encode("ascii")


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


async def issue_session(
    store: Store, config: TokenConfig, user_id: str, *, clock: Clock = time.time
) -> Session:
    """Issue an access token and a new refresh-token family for `user_id`; raise UserNotFound."""
    refresh = new_refresh_token(config, clock=clock)
    assert refresh.expires_at is not None
    record = await store.create_refresh_token(
        user_id, refresh_hash(refresh.token), _utc(refresh.expires_at), at=_utc(clock())
    )
    access = AccessTokens(config, clock=clock).issue(user_id, session_id=record.family_id)
    return Session(access=access, refresh=refresh)


_FIELD_AT = re.compile(r"at `\$\.([A-Za-z_]+)")
_FIELD_MISSING = re.compile(r"missing required field `([A-Za-z_]+)`")
_FIELD_UNKNOWN = re.compile(r"unknown field `([A-Za-z_]+)`")


def _decode(raw: bytes, kind: type[T]) -> T:
    """Decode a JSON body into `kind`; raise a 422 problem naming the offending field."""
    if len(raw) > MAX_BODY_BYTES:
        raise ApiProblem(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        return msgspec.json.decode(raw, type=kind)
    except msgspec.ValidationError as exc:
        message = str(exc)
        extensions: dict[str, Any] = {}
        for pattern in (_FIELD_AT, _FIELD_MISSING, _FIELD_UNKNOWN):
            found = pattern.search(message)
            if found:
                extensions["field"] = found.group(1)
                break
        raise ApiProblem(422, message, **extensions) from None
    except msgspec.DecodeError:
        raise ApiProblem(422, "the body is not valid JSON") from None


def _strip_name(name: str) -> str:
    """Return a workspace name without surrounding blanks; raise 422 if nothing is left."""
    stripped = name.strip()
    if not stripped:
        raise ApiProblem(422, "the name must not be blank", field="name")
    return stripped


def user_json(user: User) -> dict[str, Any]:
    """A user as `/auth/session` and `GET /api/me` answer it (never a token)."""
    return {
        "id": user.id,
        "login": user.login,
        "name": user.name,
        "email": user.email,
        "github_login": user.github_login,
        "local": user.is_local,
    }


def _workspace_json(workspace: Workspace, role: str) -> dict[str, Any]:
    return {
        "id": workspace.id,
        "name": workspace.name,
        "created_at": workspace.created_at.isoformat(),
        "role": role,
    }


async def _member_json(store: Store, member: Member) -> dict[str, Any]:
    try:
        user = await store.get_user(member.user_id)
        login, name = user.login, user.name
    except UserNotFound:
        login, name = None, None
    return {
        "user_id": member.user_id,
        "login": login,
        "name": name,
        "role": member.role,
        "added_at": member.added_at.isoformat(),
    }


def _problems(handler: Handler) -> Handler:
    """Wrap a handler so ApiProblem and storage refusals become problem responses."""

    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiProblem as problem:
            return problem.response()
        except LastOwner:
            return ApiProblem(409, "the workspace must keep at least one owner").response()
        except WorkspaceNotFound:
            return ApiProblem(404, "no such workspace").response()
        except MemberNotFound:
            return ApiProblem(404, "no such member").response()
        except Conflict as exc:
            return ApiProblem(409, str(exc)).response()

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


class AuthApi:
    """The session and workspace routes under one token configuration."""

    def __init__(self, config: TokenConfig, *, clock: Clock = time.time) -> None:
        self._config = config
        self._clock = clock
        self._access = AccessTokens(config, clock=clock)

    def __repr__(self) -> str:
        return f"AuthApi(access_tokens={self._access!r})"

    def routes(self) -> list[BaseRoute]:
        """Return the routes to mount."""
        p = _problems
        base = "/api/workspaces/{workspace_id}"
        return [
            Route("/auth/refresh", p(self.refresh), methods=["POST"]),
            Route("/auth/logout", p(self.logout), methods=["POST"]),
            Route("/api/me", p(self.me), methods=["GET"]),
            Route("/api/workspaces", p(self.list_workspaces), methods=["GET"]),
            Route("/api/workspaces", p(self.create_workspace), methods=["POST"]),
            Route(base, p(self.get_workspace), methods=["GET"]),
            Route(base, p(self.rename_workspace), methods=["PATCH"]),
            Route(base, p(self.delete_workspace), methods=["DELETE"]),
            Route(base + "/members", p(self.list_members), methods=["GET"]),
            Route(base + "/members", p(self.invite_member), methods=["POST"]),
            Route(base + "/members/{user_id}", p(self.change_role), methods=["PATCH"]),
            Route(base + "/members/{user_id}", p(self.remove_member), methods=["DELETE"]),
        ]

    # -- sessions -------------------------------------------------------------------------

    async def _presented_refresh(self, request: Request) -> tuple[str | None, bool]:
        """Return the refresh token from the body or the cookie, and whether it was the cookie."""
        raw = await request.body()
        if raw.strip():
            return _decode(raw, RefreshBody).refresh_token, False
        cookie = request.cookies.get(REFRESH_COOKIE)
        return (cookie, True) if cookie else (None, False)

    def _set_cookie(self, response: Response, token: str) -> None:
        set_refresh_cookie(response, token, max_age=self._config.refresh_ttl_seconds)

    @staticmethod
    def _clear_cookie(response: Response) -> None:
        clear_refresh_cookie(response)

    def _refused(self, detail: str, from_cookie: bool) -> Response:
        response = unauthorized(detail).response()
        if from_cookie:
            self._clear_cookie(response)
        return response

    async def refresh(self, request: Request) -> Response:
        """Rotate a refresh token and answer a new access token (POST /auth/refresh)."""
        token, from_cookie = await self._presented_refresh(request)
        if token is None:
            raise unauthorized("no refresh token: send it in the body or the taskly_refresh cookie")
        store: Store = request.state.store
        issued = new_refresh_token(self._config, clock=self._clock)
        assert issued.expires_at is not None
        now = self._clock()
        try:
            result = await store.rotate_refresh_token(
                refresh_hash(token),
                refresh_hash(issued.token),
                _utc(issued.expires_at),
                at=_utc(now),
            )
        except TokenNotFound:
            return self._refused("the refresh token is not known", from_cookie)
        if result.status == "reused":
            return self._refused(
                "the refresh token was already used; its session has been revoked", from_cookie
            )
        if result.status == "revoked":
            return self._refused("the refresh token was revoked", from_cookie)
        if result.status == "expired":
            return self._refused("the refresh token has expired", from_cookie)
        access = self._access.issue(result.old.user_id, session_id=result.old.family_id)
        body: dict[str, Any] = {
            "access_token": access.token,
            "token_type": "bearer",
            "expires_in": max(0, int(access.expires_at - now)),
        }
        if not from_cookie:
            body["refresh_token"] = issued.token
        response = JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})
        if from_cookie:
            self._set_cookie(response, issued.token)
        return response

    async def logout(self, request: Request) -> Response:
        """Revoke the presented refresh token's whole family and clear the cookie (204)."""
        token, _ = await self._presented_refresh(request)
        if token is not None:
            store: Store = request.state.store
            try:
                record = await store.get_refresh_token(refresh_hash(token))
            except TokenNotFound:
                pass  # Logging out twice, or with a forgotten token, is not an error.
            else:
                await store.revoke_refresh_family(record.family_id, at=_utc(self._clock()))
        response = Response(status_code=204)
        self._clear_cookie(response)
        return response

    # -- workspaces -----------------------------------------------------------------------

    async def _caller(self, request: Request) -> str:
        return await caller_id(request, self._access, self._clock)

    async def _membership(self, request: Request) -> tuple[Store, str, str, Role]:
        """Return the store, caller, workspace id and caller's role; 404 if not a member."""
        user_id = await self._caller(request)
        store: Store = request.state.store
        workspace_id = str(request.path_params["workspace_id"])
        role = await store.get_member_role(workspace_id, user_id)
        if role is None:
            raise ApiProblem(404, "no such workspace")
        return store, user_id, workspace_id, Role(role)

    @staticmethod
    def _require(role: Role, action: Action) -> None:
        if not allowed(role, action):
            raise ApiProblem(403, f"your role ({role}) may not {action}", action=str(action))

    async def me(self, request: Request) -> Response:
        """Who the bearer token belongs to (a script holding a PAT learns its user id here)."""
        user_id = await self._caller(request)
        store: Store = request.state.store
        try:
            user = await store.get_user(user_id)
        except UserNotFound:
            raise unauthorized("the token's user does not exist") from None
        return JSONResponse(user_json(user))

    async def list_workspaces(self, request: Request) -> Response:
        """List the caller's workspaces with their role."""
        user_id = await self._caller(request)
        store: Store = request.state.store
        mine = await store.list_user_workspaces(user_id)
        return JSONResponse(
            {"workspaces": [_workspace_json(workspace, role) for workspace, role in mine]}
        )

    async def create_workspace(self, request: Request) -> Response:
        """Create a workspace whose owner is the caller (201)."""
        user_id = await self._caller(request)
        body = _decode(await request.body(), WorkspaceBody)
        store: Store = request.state.store
        workspace = await store.create_workspace(_strip_name(body.name))
        try:
            await store.add_member(workspace.id, user_id, Role.OWNER.value)
        except Exception:
            await store.delete_workspace(workspace.id)
            raise
        return JSONResponse(_workspace_json(workspace, Role.OWNER.value), status_code=201)

    async def get_workspace(self, request: Request) -> Response:
        """Return one workspace with the caller's role."""
        store, _, workspace_id, role = await self._membership(request)
        self._require(role, Action.WORKSPACE_READ)
        workspace = await store.get_workspace(workspace_id)
        return JSONResponse(_workspace_json(workspace, role.value))

    async def rename_workspace(self, request: Request) -> Response:
        """Rename a workspace."""
        store, _, workspace_id, role = await self._membership(request)
        self._require(role, Action.WORKSPACE_RENAME)
        body = _decode(await request.body(), WorkspaceBody)
        workspace = await store.rename_workspace(workspace_id, _strip_name(body.name))
        return JSONResponse(_workspace_json(workspace, role.value))

    async def delete_workspace(self, request: Request) -> Response:
        """Delete a workspace with its boards and memberships (204)."""
        store, _, workspace_id, role = await self._membership(request)
        self._require(role, Action.WORKSPACE_DELETE)
        await store.delete_workspace(workspace_id)
        return Response(status_code=204)

    # -- members --------------------------------------------------------------------------

    async def list_members(self, request: Request) -> Response:
        """List a workspace's members with their roles."""
        store, _, workspace_id, role = await self._membership(request)
        self._require(role, Action.MEMBER_LIST)
        members = await store.list_members(workspace_id)
        return JSONResponse({"members": [await _member_json(store, m) for m in members]})

    async def invite_member(self, request: Request) -> Response:
        """Add a user, found by local user name or GitHub login, with a role (201)."""
        store, _, workspace_id, role = await self._membership(request)
        self._require(role, Action.MEMBER_INVITE)
        body = _decode(await request.body(), InviteBody)
        if not may_invite(role, body.role):
            raise ApiProblem(403, f"your role ({role}) may not grant {body.role}")
        try:
            user = await store.get_user_by_login(body.login)
        except UserNotFound:
            raise ApiProblem(422, "no user has this login", field="login") from None
        if await store.get_member_role(workspace_id, user.id) is not None:
            raise ApiProblem(409, "this user is already a member")
        member = await store.add_member(workspace_id, user.id, body.role.value)
        return JSONResponse(await _member_json(store, member), status_code=201)

    async def _target_role(self, store: Store, workspace_id: str, user_id: str) -> Role:
        role = await store.get_member_role(workspace_id, user_id)
        if role is None:
            raise ApiProblem(404, "no such member")
        return Role(role)

    async def change_role(self, request: Request) -> Response:
        """Change a member's role."""
        store, _, workspace_id, role = await self._membership(request)
        self._require(role, Action.MEMBER_CHANGE_ROLE)
        body = _decode(await request.body(), RoleBody)
        target_id = str(request.path_params["user_id"])
        target_role = await self._target_role(store, workspace_id, target_id)
        if not may_change_role(role, target_role, body.role):
            raise ApiProblem(403, f"your role ({role}) may not make a {target_role} a {body.role}")
        member = await store.set_member_role(workspace_id, target_id, body.role.value)
        return JSONResponse(await _member_json(store, member))

    async def remove_member(self, request: Request) -> Response:
        """Remove a member, or leave when the member is the caller (204)."""
        store, user_id, workspace_id, role = await self._membership(request)
        target_id = str(request.path_params["user_id"])
        if target_id == user_id:
            self._require(role, Action.MEMBER_LEAVE)
        else:
            self._require(role, Action.MEMBER_REMOVE)
            target_role = await self._target_role(store, workspace_id, target_id)
            if not may_remove(role, target_role):
                raise ApiProblem(403, f"your role ({role}) may not remove a {target_role}")
        await store.remove_member(workspace_id, target_id)
        return Response(status_code=204)


def auth_api_routes(config: TokenConfig, *, clock: Clock = time.time) -> list[BaseRoute]:
    """Return the session and workspace routes for `config`."""
    return AuthApi(config, clock=clock).routes()
