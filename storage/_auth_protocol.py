"""The sign-in and access half of the Store protocol: users, tokens, workspace members.

Hashes and ciphertexts are the caller's: the store compares and returns bytes, never secrets.
Times default to now (UTC); naive datetimes raise ValueError, like the rest of the Store.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from storage._auth_records import AccessToken, Member, RefreshToken, Role, RotationResult, User
from storage._records import Workspace


class AuthStore(Protocol):
    """Users, personal access tokens, refresh-token families and workspace memberships."""

    # -- workspaces ------------------------------------------------------------------------

    async def rename_workspace(self, workspace_id: str, name: str) -> Workspace:
        """Rename a workspace and return it; raise WorkspaceNotFound."""
        ...

    async def delete_workspace(self, workspace_id: str) -> None:
        """Delete a workspace with its boards and memberships; raise WorkspaceNotFound."""
        ...

    async def list_unowned_workspaces(self) -> list[Workspace]:
        """Return the workspaces that have no member at all, oldest first."""
        ...

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
        ...

    async def get_user(self, user_id: str) -> User:
        """Return a user by id; raise UserNotFound."""
        ...

    async def get_user_by_login(self, login: str) -> User:
        """Return a user by login, case-insensitively; raise UserNotFound."""
        ...

    async def get_user_by_github_id(self, github_id: int) -> User:
        """Return the user linked to a GitHub account id; raise UserNotFound."""
        ...

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
        ...

    async def list_users(self) -> list[User]:
        """Return every user, oldest first."""
        ...

    async def count_users(self) -> int:
        """Return the number of users (0 on a first start)."""
        ...

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
        ...

    async def get_token_by_hash(self, token_hash: bytes) -> AccessToken:
        """Return a token by hash, revoked or expired ones included; raise TokenNotFound."""
        ...

    async def list_tokens(self, user_id: str) -> list[AccessToken]:
        """Return a user's tokens, oldest first, revoked and expired ones included."""
        ...

    async def revoke_token(self, token_id: str, *, at: datetime | None = None) -> AccessToken:
        """Revoke a token (idempotent: the first revocation time stays); raise TokenNotFound."""
        ...

    async def touch_token(self, token_id: str, at: datetime | None = None) -> None:
        """Record that a token was used at `at`; raise TokenNotFound."""
        ...

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
        ...

    async def get_refresh_token(self, token_hash: bytes) -> RefreshToken:
        """Return a refresh token by hash, whatever its state; raise TokenNotFound."""
        ...

    async def rotate_refresh_token(
        self,
        old_hash: bytes,
        new_hash: bytes,
        expires_at: datetime,
        *,
        at: datetime | None = None,
    ) -> RotationResult:
        """Atomically replace a refresh token by a new one of its family; see RotationResult."""
        ...

    async def revoke_refresh_family(self, family_id: str, *, at: datetime | None = None) -> int:
        """Revoke every live token of a family; return how many were revoked now."""
        ...

    async def revoke_user_sessions(self, user_id: str, *, at: datetime | None = None) -> int:
        """Revoke every live refresh token of a user (not their PATs); return the count."""
        ...

    async def is_refresh_family_active(self, family_id: str) -> bool:
        """Return True while at least one token of the family is not revoked."""
        ...

    # -- workspace members -----------------------------------------------------------------

    async def add_member(
        self, workspace_id: str, user_id: str, role: Role, *, at: datetime | None = None
    ) -> Member:
        """Add a member; raise WorkspaceNotFound, UserNotFound, InvalidRole or Conflict."""
        ...

    async def set_member_role(self, workspace_id: str, user_id: str, role: Role) -> Member:
        """Change a member's role; raise MemberNotFound, or LastOwner for the last owner."""
        ...

    async def remove_member(self, workspace_id: str, user_id: str) -> None:
        """Remove a member; raise MemberNotFound, or LastOwner for the last owner."""
        ...

    async def get_member_role(self, workspace_id: str, user_id: str) -> Role | None:
        """Return the user's role in the workspace, or None if not a member."""
        ...

    async def list_members(self, workspace_id: str) -> list[Member]:
        """Return a workspace's members, by the time they were added."""
        ...

    async def list_user_workspaces(self, user_id: str) -> list[tuple[Workspace, Role]]:
        """Return the workspaces the user belongs to with their role, oldest first."""
        ...

    # -- access changes --------------------------------------------------------------------

    # Bumped by the database itself (triggers, migration 0003), so changes made by another
    # process or server on the same database count too. Compare values; the step is arbitrary.
    async def access_epoch(self) -> int:
        """Return a counter that grows whenever memberships, token or session revocations change."""
        ...
