"""The authentication seam: who is connecting, and may they write to the board?

Until the auth issue lands, `authenticate` admits everyone read-write (and `taskly serve`
binds to 127.0.0.1 by default). The app factory takes any `Authenticator`, so tests and the
future token check plug in here; raising a SyncError refuses the connection with its code.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import msgspec
from starlette.types import Scope


class Principal(msgspec.Struct, frozen=True):
    """The connecting user (None while anonymous) and their role on the board."""

    user_id: str | None = None
    read_only: bool = False


Authenticator = Callable[[Scope], Awaitable[Principal]]


async def authenticate(scope: Scope) -> Principal:
    """Admit everyone read-write (no auth yet)."""
    return Principal(user_id=None, read_only=False)
