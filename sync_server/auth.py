"""The authentication seam: who is connecting, and may they write to the board?

`authenticate` admits everyone read-write (and `taskly serve` binds to 127.0.0.1 by default
while it is the default); `sync_server.access.authenticator.TokenAuthenticator` is the real
check. The app factory takes any `Authenticator`; raising a SyncError refuses the connection
with its code.

A Principal also records what the access watcher (`sync_server.access.watcher`) needs to
re-check a live connection later: the board's workspace, the credential that opened it, and
the store's access epoch when those were checked.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal

import msgspec
from starlette.types import Scope


class Credential(msgspec.Struct, frozen=True):
    """What a connection authenticated with, so that revoking it ends the connection.

    `kind` "pat": `id` is the personal access token's record id. `kind` "session": `id` is the
    refresh-token family (the `sid` claim) of the session the access token was issued to.
    """

    kind: Literal["pat", "session"]
    id: str


class Principal(msgspec.Struct, frozen=True):
    """The connecting user (None while anonymous) and their role on the board."""

    user_id: str | None = None
    read_only: bool = False
    # The workspace of the board the connection is for (None: not re-checked later).
    workspace_id: str | None = None
    # None: a token that names no revocable credential (an access token without `sid`).
    credential: Credential | None = None
    # The store's access epoch read before the checks; a later epoch means "check again".
    access_epoch: int | None = None


Authenticator = Callable[[Scope], Awaitable[Principal]]


async def authenticate(scope: Scope) -> Principal:
    """Admit everyone read-write (no auth yet)."""
    return Principal(user_id=None, read_only=False)
