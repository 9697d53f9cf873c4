"""SQLiteStore's half of AuthStore: users, tokens, refresh families, members (a mixin).

Every write runs in one BEGIN IMMEDIATE transaction, which holds the database write lock from
its first statement: a refresh-token rotation or a last-owner check reads and writes with no
other writer in between, in this process or any other.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Literal

import aiosqlite

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
from storage._columns import REFRESH_COLS, TOKEN_COLS, USER_COLS
from storage._records import Workspace
from storage._time import from_micros, to_micros
from storage.errors import (
    Conflict,
    LastOwner,
    MemberNotFound,
    StorageError,
    TokenNotFound,
    UserNotFound,
    WorkspaceNotFound,
)

Row = sqlite3.Row | tuple[Any, ...]
Mode = Literal["IMMEDIATE", "DEFERRED"]


def _time(value: int | None) -> datetime | None:
    return None if value is None else from_micros(value)


def _micros(value: datetime | None) -> int | None:
    return None if value is None else to_micros(value)


def _user(r: Row) -> User:
    return User(
        id=r[0], login=r[1], name=r[2], email=r[3], github_id=r[4], github_login=r[5],
        github_token_encrypted=None if r[6] is None else bytes(r[6]), is_local=bool(r[7]),
        created_at=from_micros(r[8]), updated_at=from_micros(r[9]),
    )  # fmt: skip


def _token(r: Row) -> AccessToken:
    return AccessToken(
        id=r[0], user_id=r[1], name=r[2], token_hash=bytes(r[3]), created_at=from_micros(r[4]),
        expires_at=_time(r[5]), revoked_at=_time(r[6]), last_used_at=_time(r[7]),
    )  # fmt: skip


def _refresh(r: Row) -> RefreshToken:
    return RefreshToken(
        id=r[0], family_id=r[1], user_id=r[2], token_hash=bytes(r[3]),
        created_at=from_micros(r[4]), expires_at=from_micros(r[5]), used_at=_time(r[6]),
        revoked_at=_time(r[7]),
    )  # fmt: skip


async def _one(conn: aiosqlite.Connection, sql: str, params: tuple[Any, ...]) -> Row | None:
    rows = list(await conn.execute_fetchall(sql, params))
    return rows[0] if rows else None


async def _require_user(conn: aiosqlite.Connection, user_id: str) -> None:
    if await _one(conn, "SELECT 1 FROM users WHERE id = ?", (user_id,)) is None:
        raise UserNotFound(user_id)


class SQLiteAuthMixin:
    """AuthStore on SQLite; the host class provides `_tx`."""

    def _tx(self, mode: Mode) -> AbstractAsyncContextManager[aiosqlite.Connection]:
        """Run the block in one transaction (provided by SQLiteStore)."""
        raise NotImplementedError

    # -- workspaces ------------------------------------------------------------------------

    async def rename_workspace(self, workspace_id: str, name: str) -> Workspace:
        """Rename a workspace and return it; raise WorkspaceNotFound."""
        async with self._tx("IMMEDIATE") as conn:
            row = await _one(
                conn,
                "UPDATE workspaces SET name = ? WHERE id = ? RETURNING id, name, created_at",
                (name, workspace_id),
            )
        if row is None:
            raise WorkspaceNotFound(workspace_id)
        return Workspace(id=row[0], name=row[1], created_at=from_micros(row[2]))

    async def delete_workspace(self, workspace_id: str) -> None:
        """Delete a workspace with its boards and memberships; raise WorkspaceNotFound."""
        async with self._tx("IMMEDIATE") as conn:
            async with conn.execute("DELETE FROM workspaces WHERE id = ?", (workspace_id,)) as c:
                if c.rowcount == 0:
                    raise WorkspaceNotFound(workspace_id)

    async def list_unowned_workspaces(self) -> list[Workspace]:
        """Return the workspaces that have no member at all, oldest first."""
        async with self._tx("DEFERRED") as conn:
            rows = await conn.execute_fetchall(
                "SELECT id, name, created_at FROM workspaces w WHERE NOT EXISTS"
                " (SELECT 1 FROM workspace_members m WHERE m.workspace_id = w.id)"
                " ORDER BY created_at, id"
            )
        return [Workspace(r[0], r[1], from_micros(r[2])) for r in rows]

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
        async with self._tx("IMMEDIATE") as conn:
            await self._insert_user(conn, user)
        return user

    async def _insert_user(self, conn: aiosqlite.Connection, user: User) -> None:
        """Insert a user row; raise Conflict naming the login if it is taken."""
        key = login_key(user.login)
        if await _one(conn, "SELECT 1 FROM users WHERE login_key = ?", (key,)) is not None:
            raise Conflict(f"login {user.login!r} is taken")
        await conn.execute(
            f"INSERT INTO users ({USER_COLS}, login_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (user.id, user.login, user.name, user.email, user.github_id, user.github_login,
             user.github_token_encrypted, int(user.is_local), to_micros(user.created_at),
             to_micros(user.updated_at), key),
        )  # fmt: skip

    async def _user_where(self, column: str, value: object, label: str) -> User:
        """Return the user whose `column` equals `value`; raise UserNotFound(label)."""
        async with self._tx("DEFERRED") as conn:
            row = await _one(conn, f"SELECT {USER_COLS} FROM users WHERE {column} = ?", (value,))
        if row is None:
            raise UserNotFound(label)
        return _user(row)

    async def get_user(self, user_id: str) -> User:
        """Return a user by id; raise UserNotFound."""
        return await self._user_where("id", user_id, user_id)

    async def get_user_by_login(self, login: str) -> User:
        """Return a user by login, case-insensitively; raise UserNotFound."""
        return await self._user_where("login_key", login_key(login), login)

    async def get_user_by_github_id(self, github_id: int) -> User:
        """Return the user linked to a GitHub account id; raise UserNotFound."""
        return await self._user_where("github_id", github_id, f"github:{github_id}")

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
        async with self._tx("IMMEDIATE") as conn:
            row = await _one(
                conn,
                "UPDATE users SET github_login = ?, name = ?, email = ?,"
                " github_token_encrypted = ?, updated_at = ? WHERE github_id = ?"
                f" RETURNING {USER_COLS}",
                (github_login, name, email, token_encrypted, to_micros(when), github_id),
            )
            if row is not None:
                return _user(row)
            login = github_login
            taken = "SELECT 1 FROM users WHERE login_key = ?"
            if await _one(conn, taken, (login_key(login),)) is not None:
                login = github_fallback_login(github_login, github_id)
            user = User(
                new_id(), login, name, email, github_id, github_login, token_encrypted,
                False, when, when,
            )  # fmt: skip
            await self._insert_user(conn, user)
        return user

    async def list_users(self) -> list[User]:
        """Return every user, oldest first."""
        async with self._tx("DEFERRED") as conn:
            rows = await conn.execute_fetchall(
                f"SELECT {USER_COLS} FROM users ORDER BY created_at, id"
            )
        return [_user(r) for r in rows]

    async def count_users(self) -> int:
        """Return the number of users (0 on a first start)."""
        async with self._tx("DEFERRED") as conn:
            row = await _one(conn, "SELECT count(*) FROM users", ())
        return 0 if row is None else int(row[0])

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
        async with self._tx("IMMEDIATE") as conn:
            await _require_user(conn, user_id)
            await conn.execute(
                f"INSERT INTO access_tokens ({TOKEN_COLS}) VALUES (?, ?, ?, ?, ?, ?, NULL, NULL)",
                (token.id, user_id, name, token.token_hash, to_micros(token.created_at),
                 _micros(token.expires_at)),
            )  # fmt: skip
        return token

    async def get_token_by_hash(self, token_hash: bytes) -> AccessToken:
        """Return a token by hash, revoked or expired ones included; raise TokenNotFound."""
        async with self._tx("DEFERRED") as conn:
            row = await _one(
                conn,
                f"SELECT {TOKEN_COLS} FROM access_tokens WHERE token_hash = ?",
                (bytes(token_hash),),
            )
        if row is None:
            raise TokenNotFound("no access token has this hash")
        return _token(row)

    async def list_tokens(self, user_id: str) -> list[AccessToken]:
        """Return a user's tokens, oldest first, revoked and expired ones included."""
        async with self._tx("DEFERRED") as conn:
            rows = await conn.execute_fetchall(
                f"SELECT {TOKEN_COLS} FROM access_tokens WHERE user_id = ? ORDER BY created_at, id",
                (user_id,),
            )
        return [_token(r) for r in rows]

    async def revoke_token(self, token_id: str, *, at: datetime | None = None) -> AccessToken:
        """Revoke a token (idempotent: the first revocation time stays); raise TokenNotFound."""
        async with self._tx("IMMEDIATE") as conn:
            row = await _one(
                conn,
                "UPDATE access_tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?"
                f" RETURNING {TOKEN_COLS}",
                (to_micros(resolve_time(at)), token_id),
            )
        if row is None:
            raise TokenNotFound(f"access token {token_id!r} does not exist")
        return _token(row)

    async def touch_token(self, token_id: str, at: datetime | None = None) -> None:
        """Record that a token was used at `at`; raise TokenNotFound."""
        async with self._tx("IMMEDIATE") as conn:
            async with conn.execute(
                "UPDATE access_tokens SET last_used_at = ? WHERE id = ?",
                (to_micros(resolve_time(at)), token_id),
            ) as cur:
                if cur.rowcount == 0:
                    raise TokenNotFound(f"access token {token_id!r} does not exist")

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
        async with self._tx("IMMEDIATE") as conn:
            await _require_user(conn, user_id)
            await _insert_refresh(conn, token)
        return token

    async def get_refresh_token(self, token_hash: bytes) -> RefreshToken:
        """Return a refresh token by hash, whatever its state; raise TokenNotFound."""
        async with self._tx("DEFERRED") as conn:
            row = await _one(
                conn,
                f"SELECT {REFRESH_COLS} FROM refresh_tokens WHERE token_hash = ?",
                (bytes(token_hash),),
            )
        if row is None:
            raise TokenNotFound("no refresh token has this hash")
        return _refresh(row)

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
        # BEGIN IMMEDIATE: no other writer runs between the read and the writes below.
        async with self._tx("IMMEDIATE") as conn:
            row = await _one(
                conn,
                f"SELECT {REFRESH_COLS} FROM refresh_tokens WHERE token_hash = ?",
                (bytes(old_hash),),
            )
            if row is None:
                raise TokenNotFound("no refresh token has this hash")
            old = _refresh(row)
            status = rotation_verdict(old, when)
            if status == "reused":
                await _revoke_family(conn, old.family_id, when)
            if status != "rotated":
                return RotationResult(status, old)
            await conn.execute(
                "UPDATE refresh_tokens SET used_at = ? WHERE id = ?", (to_micros(when), old.id)
            )
            new = RefreshToken(new_id(), old.family_id, old.user_id, bytes(new_hash), when, expires)
            await _insert_refresh(conn, new)
        return RotationResult("rotated", old, new)

    async def revoke_refresh_family(self, family_id: str, *, at: datetime | None = None) -> int:
        """Revoke every live token of a family; return how many were revoked now."""
        async with self._tx("IMMEDIATE") as conn:
            return await _revoke_family(conn, family_id, resolve_time(at))

    async def revoke_user_sessions(self, user_id: str, *, at: datetime | None = None) -> int:
        """Revoke every live refresh token of a user (not their PATs); return the count."""
        async with self._tx("IMMEDIATE") as conn:
            async with conn.execute(
                "UPDATE refresh_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                (to_micros(resolve_time(at)), user_id),
            ) as cur:
                return int(cur.rowcount)

    async def is_refresh_family_active(self, family_id: str) -> bool:
        """Return True while at least one token of the family is not revoked."""
        async with self._tx("DEFERRED") as conn:
            row = await _one(
                conn,
                "SELECT 1 FROM refresh_tokens WHERE family_id = ? AND revoked_at IS NULL LIMIT 1",
                (family_id,),
            )
        return row is not None

    # -- workspace members -----------------------------------------------------------------

    async def add_member(
        self, workspace_id: str, user_id: str, role: Role, *, at: datetime | None = None
    ) -> Member:
        """Add a member; raise WorkspaceNotFound, UserNotFound, InvalidRole or Conflict."""
        member = Member(workspace_id, user_id, check_role(role), resolve_time(at))
        async with self._tx("IMMEDIATE") as conn:
            if await _one(conn, "SELECT 1 FROM workspaces WHERE id = ?", (workspace_id,)) is None:
                raise WorkspaceNotFound(workspace_id)
            await _require_user(conn, user_id)
            if await _member_role(conn, workspace_id, user_id) is not None:
                raise Conflict(f"user {user_id!r} is already a member of {workspace_id!r}")
            await conn.execute(
                "INSERT INTO workspace_members (workspace_id, user_id, role, added_at)"
                " VALUES (?, ?, ?, ?)",
                (workspace_id, user_id, member.role, to_micros(member.added_at)),
            )
        return member

    async def set_member_role(self, workspace_id: str, user_id: str, role: Role) -> Member:
        """Change a member's role; raise MemberNotFound, or LastOwner for the last owner."""
        new_role = check_role(role)
        async with self._tx("IMMEDIATE") as conn:
            await _guard_last_owner(conn, workspace_id, user_id, new_role)
            row = await _one(
                conn,
                "UPDATE workspace_members SET role = ? WHERE workspace_id = ? AND user_id = ?"
                " RETURNING added_at",
                (new_role, workspace_id, user_id),
            )
        assert row is not None  # the guard found the member in this transaction
        return Member(workspace_id, user_id, new_role, from_micros(row[0]))

    async def remove_member(self, workspace_id: str, user_id: str) -> None:
        """Remove a member; raise MemberNotFound, or LastOwner for the last owner."""
        async with self._tx("IMMEDIATE") as conn:
            await _guard_last_owner(conn, workspace_id, user_id, None)
            await conn.execute(
                "DELETE FROM workspace_members WHERE workspace_id = ? AND user_id = ?",
                (workspace_id, user_id),
            )

    async def get_member_role(self, workspace_id: str, user_id: str) -> Role | None:
        """Return the user's role in the workspace, or None if not a member."""
        async with self._tx("DEFERRED") as conn:
            return await _member_role(conn, workspace_id, user_id)

    async def list_members(self, workspace_id: str) -> list[Member]:
        """Return a workspace's members, by the time they were added."""
        async with self._tx("DEFERRED") as conn:
            rows = await conn.execute_fetchall(
                "SELECT user_id, role, added_at FROM workspace_members WHERE workspace_id = ?"
                " ORDER BY added_at, user_id",
                (workspace_id,),
            )
        return [Member(workspace_id, r[0], r[1], from_micros(r[2])) for r in rows]

    async def list_user_workspaces(self, user_id: str) -> list[tuple[Workspace, Role]]:
        """Return the workspaces the user belongs to with their role, oldest first."""
        async with self._tx("DEFERRED") as conn:
            rows = await conn.execute_fetchall(
                "SELECT w.id, w.name, w.created_at, m.role FROM workspace_members m"
                " JOIN workspaces w ON w.id = m.workspace_id WHERE m.user_id = ?"
                " ORDER BY w.created_at, w.id",
                (user_id,),
            )
        return [(Workspace(r[0], r[1], from_micros(r[2])), r[3]) for r in rows]

    # -- access changes --------------------------------------------------------------------

    async def access_epoch(self) -> int:
        """Return a counter that grows whenever memberships, token or session revocations change."""
        async with self._tx("DEFERRED") as conn:
            row = await _one(conn, "SELECT epoch FROM access_epoch", ())
        if row is None:  # the migration inserts the row; only a hand-edited database lacks it
            raise StorageError("the access_epoch row is missing")
        return int(row[0])


async def _insert_refresh(conn: aiosqlite.Connection, t: RefreshToken) -> None:
    await conn.execute(
        f"INSERT INTO refresh_tokens ({REFRESH_COLS}) VALUES (?, ?, ?, ?, ?, ?, NULL, NULL)",
        (t.id, t.family_id, t.user_id, t.token_hash, to_micros(t.created_at),
         to_micros(t.expires_at)),
    )  # fmt: skip


async def _revoke_family(conn: aiosqlite.Connection, family_id: str, at: datetime) -> int:
    async with conn.execute(
        "UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL",
        (to_micros(at), family_id),
    ) as cur:
        return int(cur.rowcount)


async def _member_role(conn: aiosqlite.Connection, workspace_id: str, user_id: str) -> Role | None:
    row = await _one(
        conn,
        "SELECT role FROM workspace_members WHERE workspace_id = ? AND user_id = ?",
        (workspace_id, user_id),
    )
    return None if row is None else check_role(row[0])


async def _guard_last_owner(
    conn: aiosqlite.Connection, workspace_id: str, user_id: str, new_role: Role | None
) -> None:
    """Raise MemberNotFound, or LastOwner if the change leaves the workspace without owner."""
    current = await _member_role(conn, workspace_id, user_id)
    if current is None:
        raise MemberNotFound(workspace_id, user_id)
    if current != "owner" or new_role == "owner":
        return
    row = await _one(
        conn,
        "SELECT count(*) FROM workspace_members WHERE workspace_id = ? AND role = 'owner'",
        (workspace_id,),
    )
    if row is None or int(row[0]) <= 1:
        raise LastOwner(f"user {user_id!r} is the last owner of workspace {workspace_id!r}")
