"""InMemoryStore's half of AuthStore: users, tokens, refresh families, members (a mixin).

No method awaits between its reads and writes, so each one is atomic on the event loop.
The access epoch is bumped by the methods that make the changes the SQL triggers of migration
0003 count (the database backends bump it in the database, for every writer).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

import msgspec

from storage._auth_records import (
    AccessToken,
    Member,
    RefreshToken,
    Role,
    RotationResult,
    User,
    check_role,
    github_fallback_login,
    login_key,
    rotation_verdict,
)
from storage._base import new_id, resolve_time
from storage._records import Workspace
from storage.errors import (
    Conflict,
    LastOwner,
    MemberNotFound,
    TokenNotFound,
    UserNotFound,
    WorkspaceNotFound,
)

_S = TypeVar("_S", bound=msgspec.Struct)


class MemoryAuthMixin:
    """AuthStore over dicts; the host class provides `_check_open`, `_workspaces`, `_boards`."""

    _workspaces: dict[str, Workspace]
    _boards: dict[str, Any]

    def _check_open(self) -> None:
        """Raise StorageUnavailable unless open (provided by InMemoryStore)."""
        raise NotImplementedError

    def _init_auth(self) -> None:
        """Create the empty tables."""
        self._users: dict[str, User] = {}
        self._tokens: dict[str, AccessToken] = {}
        self._refresh: dict[str, RefreshToken] = {}
        self._members: dict[tuple[str, str], Member] = {}
        self._access_epoch = 0

    def _bump_access_epoch(self, changes: int = 1) -> None:
        """Count `changes` access changes (one per row, as the SQL triggers do)."""
        self._access_epoch += changes

    # -- workspaces ------------------------------------------------------------------------

    async def rename_workspace(self, workspace_id: str, name: str) -> Workspace:
        """Rename a workspace and return it; raise WorkspaceNotFound."""
        ws = self._workspace(workspace_id)
        self._workspaces[workspace_id] = renamed = Workspace(ws.id, name, ws.created_at)
        return renamed

    async def delete_workspace(self, workspace_id: str) -> None:
        """Delete a workspace with its boards and memberships; raise WorkspaceNotFound."""
        self._workspace(workspace_id)
        del self._workspaces[workspace_id]
        for board_id in [
            b for b, d in self._boards.items() if d.board.workspace_id == workspace_id
        ]:
            del self._boards[board_id]
        doomed = [k for k in self._members if k[0] == workspace_id]
        for key in doomed:
            del self._members[key]
        self._bump_access_epoch(1 + len(doomed))

    async def list_unowned_workspaces(self) -> list[Workspace]:
        """Return the workspaces that have no member at all, oldest first."""
        self._check_open()
        owned = {workspace_id for workspace_id, _ in self._members}
        unowned = [w for w in self._workspaces.values() if w.id not in owned]
        return sorted(unowned, key=lambda w: (w.created_at, w.id))

    def _workspace(self, workspace_id: str) -> Workspace:
        self._check_open()
        ws = self._workspaces.get(workspace_id)
        if ws is None:
            raise WorkspaceNotFound(workspace_id)
        return ws

    # -- users -----------------------------------------------------------------------------

    async def create_user(
        self,
        login: str,
        name: str,
        *,
        email: str | None = None,
        is_local: bool = True,
        id: str | None = None,
        at: datetime | None = None,
    ) -> User:
        """Create a user; raise Conflict if the login (case-insensitive) or id is taken."""
        when = resolve_time(at)
        user = User(id or new_id(), login, name, email, None, None, None, is_local, when, when)
        self._insert_user(user)
        return user

    def _insert_user(self, user: User) -> None:
        self._check_open()
        if self._find_login(user.login) is not None:
            raise Conflict(f"login {user.login!r} is taken")
        if user.id in self._users:
            raise Conflict(f"user {user.id!r} exists")
        self._users[user.id] = user

    def _find_login(self, login: str) -> User | None:
        key = login_key(login)
        return next((u for u in self._users.values() if login_key(u.login) == key), None)

    def _user(self, user_id: str) -> User:
        self._check_open()
        user = self._users.get(user_id)
        if user is None:
            raise UserNotFound(user_id)
        return user

    async def get_user(self, user_id: str) -> User:
        """Return a user by id; raise UserNotFound."""
        return self._user(user_id)

    async def get_user_by_login(self, login: str) -> User:
        """Return a user by login, case-insensitively; raise UserNotFound."""
        self._check_open()
        user = self._find_login(login)
        if user is None:
            raise UserNotFound(login)
        return user

    async def get_user_by_github_id(self, github_id: int) -> User:
        """Return the user linked to a GitHub account id; raise UserNotFound."""
        self._check_open()
        user = next((u for u in self._users.values() if u.github_id == github_id), None)
        if user is None:
            raise UserNotFound(f"github:{github_id}")
        return user

    async def upsert_github_user(
        self,
        github_id: int,
        github_login: str,
        name: str,
        email: str | None,
        token_encrypted: bytes | None,
        *,
        at: datetime | None = None,
    ) -> User:
        """Create or update (atomically) the user of a GitHub account; see github_fallback_login."""
        when = resolve_time(at)
        self._check_open()
        found = next((u for u in self._users.values() if u.github_id == github_id), None)
        if found is not None:
            self._users[found.id] = user = User(
                found.id, found.login, name, email, github_id, github_login, token_encrypted,
                found.is_local, found.created_at, when,
            )  # fmt: skip
            return user
        login = github_login
        if self._find_login(login) is not None:
            login = github_fallback_login(github_login, github_id)
        user = User(
            new_id(),
            login,
            name,
            email,
            github_id,
            github_login,
            token_encrypted,
            False,
            when,
            when,
        )
        self._insert_user(user)
        return user

    async def list_users(self) -> list[User]:
        """Return every user, oldest first."""
        self._check_open()
        return sorted(self._users.values(), key=lambda u: (u.created_at, u.id))

    async def count_users(self) -> int:
        """Return the number of users (0 on a first start)."""
        self._check_open()
        return len(self._users)

    # -- personal access tokens ------------------------------------------------------------

    async def create_token(
        self,
        user_id: str,
        name: str,
        token_hash: bytes,
        *,
        expires_at: datetime | None = None,
        id: str | None = None,
        at: datetime | None = None,
    ) -> AccessToken:
        """Store a token's hash; raise UserNotFound, or Conflict if the hash or id exists."""
        token = AccessToken(
            id or new_id(), user_id, name, bytes(token_hash), resolve_time(at),
            None if expires_at is None else resolve_time(expires_at),
        )  # fmt: skip
        self._user(user_id)
        if token.id in self._tokens or any(
            t.token_hash == token.token_hash for t in self._tokens.values()
        ):
            raise Conflict("access token id or hash exists")
        self._tokens[token.id] = token
        return token

    async def get_token_by_hash(self, token_hash: bytes) -> AccessToken:
        """Return a token by hash, revoked or expired ones included; raise TokenNotFound."""
        self._check_open()
        found = next((t for t in self._tokens.values() if t.token_hash == token_hash), None)
        if found is None:
            raise TokenNotFound("no access token has this hash")
        return found

    async def list_tokens(self, user_id: str) -> list[AccessToken]:
        """Return a user's tokens, oldest first, revoked and expired ones included."""
        self._check_open()
        mine = [t for t in self._tokens.values() if t.user_id == user_id]
        return sorted(mine, key=lambda t: (t.created_at, t.id))

    def _token(self, token_id: str) -> AccessToken:
        self._check_open()
        token = self._tokens.get(token_id)
        if token is None:
            raise TokenNotFound(f"access token {token_id!r} does not exist")
        return token

    async def revoke_token(self, token_id: str, *, at: datetime | None = None) -> AccessToken:
        """Revoke a token (idempotent: the first revocation time stays); raise TokenNotFound."""
        when = resolve_time(at)
        token = self._token(token_id)
        if token.revoked_at is None:
            self._tokens[token_id] = token = _replace(token, revoked_at=when)
            self._bump_access_epoch()
        return token

    async def touch_token(self, token_id: str, at: datetime | None = None) -> None:
        """Record that a token was used at `at`; raise TokenNotFound."""
        when = resolve_time(at)
        self._tokens[token_id] = _replace(self._token(token_id), last_used_at=when)

    # -- refresh tokens --------------------------------------------------------------------

    async def create_refresh_token(
        self,
        user_id: str,
        token_hash: bytes,
        expires_at: datetime,
        *,
        family_id: str | None = None,
        id: str | None = None,
        at: datetime | None = None,
    ) -> RefreshToken:
        """Store a refresh token's hash (in a new family unless given); raise UserNotFound."""
        token = RefreshToken(
            id or new_id(), family_id or new_id(), user_id, bytes(token_hash),
            resolve_time(at), resolve_time(expires_at),
        )  # fmt: skip
        self._user(user_id)
        self._insert_refresh(token)
        return token

    def _insert_refresh(self, token: RefreshToken) -> None:
        if token.id in self._refresh or self._find_refresh(token.token_hash) is not None:
            raise Conflict("refresh token id or hash exists")
        self._refresh[token.id] = token

    def _find_refresh(self, token_hash: bytes) -> RefreshToken | None:
        return next((t for t in self._refresh.values() if t.token_hash == token_hash), None)

    async def get_refresh_token(self, token_hash: bytes) -> RefreshToken:
        """Return a refresh token by hash, whatever its state; raise TokenNotFound."""
        self._check_open()
        found = self._find_refresh(bytes(token_hash))
        if found is None:
            raise TokenNotFound("no refresh token has this hash")
        return found

    async def rotate_refresh_token(
        self,
        old_hash: bytes,
        new_hash: bytes,
        expires_at: datetime,
        *,
        at: datetime | None = None,
    ) -> RotationResult:
        """Atomically replace a refresh token by a new one of its family; see RotationResult."""
        when = resolve_time(at)
        expires = resolve_time(expires_at)
        old = await self.get_refresh_token(old_hash)
        status = rotation_verdict(old, when)
        if status == "reused":
            self._revoke_where(lambda t: t.family_id == old.family_id, when)
        if status != "rotated":
            return RotationResult(status, old)
        new = RefreshToken(new_id(), old.family_id, old.user_id, bytes(new_hash), when, expires)
        self._insert_refresh(new)
        self._refresh[old.id] = _replace(old, used_at=when)
        return RotationResult("rotated", old, new)

    def _revoke_where(self, pick: Any, at: datetime) -> int:
        doomed = [t for t in self._refresh.values() if pick(t) and t.revoked_at is None]
        for token in doomed:
            self._refresh[token.id] = _replace(token, revoked_at=at)
        self._bump_access_epoch(len(doomed))
        return len(doomed)

    async def revoke_refresh_family(self, family_id: str, *, at: datetime | None = None) -> int:
        """Revoke every live token of a family; return how many were revoked now."""
        when = resolve_time(at)
        self._check_open()
        return self._revoke_where(lambda t: t.family_id == family_id, when)

    async def revoke_user_sessions(self, user_id: str, *, at: datetime | None = None) -> int:
        """Revoke every live refresh token of a user (not their PATs); return the count."""
        when = resolve_time(at)
        self._check_open()
        return self._revoke_where(lambda t: t.user_id == user_id, when)

    async def is_refresh_family_active(self, family_id: str) -> bool:
        """Return True while at least one token of the family is not revoked."""
        self._check_open()
        return any(
            t.family_id == family_id and t.revoked_at is None for t in self._refresh.values()
        )

    # -- workspace members -----------------------------------------------------------------

    async def add_member(
        self, workspace_id: str, user_id: str, role: Role, *, at: datetime | None = None
    ) -> Member:
        """Add a member; raise WorkspaceNotFound, UserNotFound, InvalidRole or Conflict."""
        member = Member(workspace_id, user_id, check_role(role), resolve_time(at))
        self._workspace(workspace_id)
        self._user(user_id)
        if (workspace_id, user_id) in self._members:
            raise Conflict(f"user {user_id!r} is already a member of {workspace_id!r}")
        self._members[workspace_id, user_id] = member
        self._bump_access_epoch()
        return member

    def _guard_last_owner(self, workspace_id: str, user_id: str, new_role: Role | None) -> Member:
        self._check_open()
        member = self._members.get((workspace_id, user_id))
        if member is None:
            raise MemberNotFound(workspace_id, user_id)
        if member.role == "owner" and new_role != "owner":
            owners = [m for m in self._members.values() if m.workspace_id == workspace_id]
            if sum(m.role == "owner" for m in owners) <= 1:
                raise LastOwner(f"user {user_id!r} is the last owner of workspace {workspace_id!r}")
        return member

    async def set_member_role(self, workspace_id: str, user_id: str, role: Role) -> Member:
        """Change a member's role; raise MemberNotFound, or LastOwner for the last owner."""
        new_role = check_role(role)
        member = self._guard_last_owner(workspace_id, user_id, new_role)
        self._members[workspace_id, user_id] = changed = _replace(member, role=new_role)
        self._bump_access_epoch()
        return changed

    async def remove_member(self, workspace_id: str, user_id: str) -> None:
        """Remove a member; raise MemberNotFound, or LastOwner for the last owner."""
        self._guard_last_owner(workspace_id, user_id, None)
        del self._members[workspace_id, user_id]
        self._bump_access_epoch()

    async def get_member_role(self, workspace_id: str, user_id: str) -> Role | None:
        """Return the user's role in the workspace, or None if not a member."""
        self._check_open()
        member = self._members.get((workspace_id, user_id))
        return None if member is None else member.role

    async def list_members(self, workspace_id: str) -> list[Member]:
        """Return a workspace's members, by the time they were added."""
        self._check_open()
        found = [m for m in self._members.values() if m.workspace_id == workspace_id]
        return sorted(found, key=lambda m: (m.added_at, m.user_id))

    async def list_user_workspaces(self, user_id: str) -> list[tuple[Workspace, Role]]:
        """Return the workspaces the user belongs to with their role, oldest first."""
        self._check_open()
        found = [
            (self._workspaces[m.workspace_id], m.role)
            for m in self._members.values()
            if m.user_id == user_id
        ]
        return sorted(found, key=lambda p: (p[0].created_at, p[0].id))

    # -- access changes --------------------------------------------------------------------

    async def access_epoch(self) -> int:
        """Return a counter that grows whenever memberships, token or session revocations change."""
        self._check_open()
        return self._access_epoch


def _replace(record: _S, **changes: Any) -> _S:
    """Return a copy of a frozen Struct with `changes` applied."""
    return msgspec.structs.replace(record, **changes)
