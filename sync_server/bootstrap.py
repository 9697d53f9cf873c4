"""The first start: a local owner, a home for pre-auth workspaces, and one-time sign-in links.

Decisions:
- On a start with no users at all, `taskly serve` creates a local user named after the OS
  account (or `owner`), and prints a one-time sign-in link, as Jupyter does.
- The *instance owner* is the oldest local user. Any workspace without members (made by
  `taskly board create` into a new workspace, or by a store from before sign-in existed) is
  given to the instance owner as `owner` on every start, so no board is ever unreachable.
  With no workspace at all, a `Default` workspace is created for the owner.
- A sign-in link carries a fresh refresh token of its own session family, valid for
  `LINK_TTL_SECONDS`. Opening it rotates that token (so it works exactly once) and sets the
  browser's session cookie; a second use is refresh-token reuse and ends that session.
"""

from __future__ import annotations

import getpass
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Final
from urllib.parse import quote

import msgspec

from storage import Conflict, Store, User, UserNotFound
from sync_server.access.permissions import Role
from sync_server.access.tokens import Clock, TokenConfig, hash_token, new_refresh_token

log = logging.getLogger("taskly.auth")

DEFAULT_OWNER_LOGIN: Final = "owner"
DEFAULT_WORKSPACE: Final = "Default"
LINK_PATH: Final = "/auth/link"
LINK_TTL_SECONDS: Final = 24 * 60 * 60
MAX_LOGIN_CHARS: Final = 100


class FirstStart(msgspec.Struct, frozen=True, kw_only=True):
    """What `prepare_access` did: the instance owner, and a sign-in code if one was created."""

    owner: User | None
    created_owner: bool
    adopted_workspaces: int
    sign_in_code: str | None = None

    def __repr__(self) -> str:
        return (
            f"FirstStart(owner={self.owner.login if self.owner else None!r}, "
            f"created_owner={self.created_owner}, adopted_workspaces={self.adopted_workspaces})"
        )


def default_owner_login() -> str:
    """Return the OS account name if it makes a valid login, else `owner`."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        return DEFAULT_OWNER_LOGIN
    ok = 0 < len(name) <= MAX_LOGIN_CHARS and name.isprintable() and name == name.strip()
    return name if ok else DEFAULT_OWNER_LOGIN


async def instance_owner(store: Store) -> User | None:
    """Return the oldest local user, or None when there is none."""
    for user in await store.list_users():  # oldest first
        if user.is_local:
            return user
    return None


async def prepare_access(
    store: Store, config: TokenConfig, *, clock: Clock = time.time
) -> FirstStart:
    """Create the local owner on an empty store, and give member-less workspaces to the owner."""
    created = False
    owner: User | None
    if await store.count_users() == 0:
        login = default_owner_login()
        try:
            owner = await store.create_user(login, login)
            created = True
        except Conflict:  # another process created it at the same moment
            owner = await store.get_user_by_login(login)
    else:
        owner = await instance_owner(store)
    adopted = 0
    if owner is not None:
        if not await store.list_workspaces():
            await store.create_workspace(DEFAULT_WORKSPACE)
        for workspace in await store.list_unowned_workspaces():
            try:
                await store.add_member(workspace.id, owner.id, Role.OWNER.value)
            except Conflict:
                continue  # someone joined it meanwhile
            adopted += 1
            log.info("workspace %r given to the instance owner %s", workspace.name, owner.login)
    code = None
    if created and owner is not None:
        code = await new_sign_in_code(store, config, owner.id, clock=clock)
    return FirstStart(
        owner=owner, created_owner=created, adopted_workspaces=adopted, sign_in_code=code
    )


async def new_sign_in_code(
    store: Store, config: TokenConfig, user_id: str, *, clock: Clock = time.time
) -> str:
    """Store a one-time sign-in code for `user_id` (a fresh session family); return it."""
    code = new_refresh_token(config, clock=clock).token
    now = datetime.fromtimestamp(clock(), UTC)
    await store.create_refresh_token(
        user_id,
        hash_token(code).encode("ascii"),
        now + timedelta(seconds=LINK_TTL_SECONDS),
        at=now,
    )
    return code


async def sign_in_code_for(
    store: Store, config: TokenConfig, login: str | None, *, clock: Clock = time.time
) -> tuple[User, str]:
    """Return a user (by login, default the instance owner) and a new one-time code; raise
    UserNotFound."""
    if login is None:
        user = await instance_owner(store)
        if user is None:
            raise UserNotFound("there is no local user yet: start `taskly serve` once")
    else:
        user = await store.get_user_by_login(login)
    return user, await new_sign_in_code(store, config, user.id, clock=clock)


def sign_in_url(base_url: str, code: str) -> str:
    """Return the sign-in link for `code` under `base_url` (http://host:port)."""
    return f"{base_url.rstrip('/')}{LINK_PATH}?code={quote(code, safe='')}"
