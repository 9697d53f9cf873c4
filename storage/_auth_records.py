"""Records of sign-in and access (users, tokens, memberships) and the rules every backend shares.

The store never sees a secret: GitHub tokens arrive encrypted by the caller, personal access
tokens and refresh tokens arrive as the caller's hash of them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal, get_args

import msgspec

from storage.errors import InvalidRole

Role = Literal["owner", "admin", "member", "viewer"]
ROLES: Final[tuple[Role, ...]] = get_args(Role)

#: What rotate_refresh_token decided.
RotationStatus = Literal["rotated", "reused", "revoked", "expired"]


class User(msgspec.Struct, frozen=True):
    """A user: local (created by the CLI) or signed in with GitHub."""

    id: str
    login: str
    name: str
    email: str | None
    github_id: int | None
    github_login: str | None
    github_token_encrypted: bytes | None
    is_local: bool
    created_at: datetime
    updated_at: datetime


class AccessToken(msgspec.Struct, frozen=True):
    """A personal access token (only its hash is stored)."""

    id: str
    user_id: str
    name: str
    token_hash: bytes
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None

    def is_valid_at(self, at: datetime) -> bool:
        """Return True if the token is neither revoked nor expired at `at`."""
        return self.revoked_at is None and (self.expires_at is None or at < self.expires_at)


class RefreshToken(msgspec.Struct, frozen=True):
    """One refresh token of a rotation family (only its hash is stored)."""

    id: str
    family_id: str
    user_id: str
    token_hash: bytes
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    revoked_at: datetime | None = None


class RotationResult(msgspec.Struct, frozen=True):
    """The outcome of rotate_refresh_token: `token` is the new token when status is "rotated".

    "reused" means the presented token had already been rotated: the whole family is now
    revoked (RFC 6819 5.2.2.3, OAuth 2.1 4.3.1). "revoked" and "expired" are plain refusals.
    """

    status: RotationStatus
    old: RefreshToken
    token: RefreshToken | None = None

    @property
    def ok(self) -> bool:
        """Return True if a new token was issued."""
        return self.status == "rotated"


class Member(msgspec.Struct, frozen=True):
    """A user's membership of a workspace."""

    workspace_id: str
    user_id: str
    role: Role
    added_at: datetime


def login_key(login: str) -> str:
    """Return the case-insensitive unique key of a login."""
    return login.lower()


def check_role(role: str) -> Role:
    """Return `role` if it is a known role; raise InvalidRole."""
    if role not in ROLES:
        raise InvalidRole(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    return role


def github_fallback_login(github_login: str, github_id: int) -> str:
    """Return the login a new GitHub user gets when their GitHub login is taken locally.

    A GitHub account is never merged into an existing user by name alone (anyone could register
    that name on GitHub); it gets `login-<github id>` instead.
    """
    return f"{github_login}-{github_id}"


def rotation_verdict(old: RefreshToken, at: datetime) -> RotationStatus:
    """Decide what presenting `old` at `at` means; reuse is checked first (theft signal)."""
    if old.used_at is not None:
        return "reused"
    if old.revoked_at is not None:
        return "revoked"
    if old.expires_at <= at:
        return "expired"
    return "rotated"
