"""Live revocation: re-check open `/sync` connections when access changes in the store.

Removing a member, lowering a role, revoking a token or ending a session must reach the
connections already open, within seconds, whoever made the change: this server's HTTP API,
the `taskly` CLI writing straight to the database, or another server on the same Postgres.
So the watcher asks the store, not this process: it polls `store.access_epoch()` (a counter
the database's own triggers bump on every such change, migration 0003) every `poll_seconds`,
and when it moved, re-checks each connection whose access was last checked at an older epoch.
Every `full_check_seconds` it re-checks every connection anyway, which is what catches a
personal access token reaching its expiry time (no write happens then, so no epoch moves).

A re-check batches the store reads: one role lookup per distinct (workspace, user), one token
list per user holding a PAT connection, one lookup per distinct session. Then, per connection:

- PAT revoked, deleted or expired: closed 4401 ("your token was revoked" / "... expired");
- session (the refresh-token family behind the access token's `sid`) ended by logout, reuse
  detection or "sign out everywhere": closed 4401 ("your session ended");
- no longer a member of the board's workspace (or the workspace is gone): closed 4403;
- a role without `board.write` now: downgraded to read-only. Its next document updates are
  dropped as a viewer's are; nothing is sent to it. A role with `board.write` again: upgraded.

An access token (JWT) simply reaching its `exp` during a live connection does not close it.
The handshake authenticated it, the token itself cannot be revoked, and everything that can
end its authority early (its session, the membership) is re-checked here; closing at `exp`
would only drop every browser tab every few minutes until it refreshed and reconnected. An
access token without `sid` (not issued for a session) is re-checked for membership only.

Store failures are logged and retried on the next tick; the watcher never stops on its own.
Connections whose Principal has no user or no workspace (no authentication) are skipped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

import msgspec

from storage import AccessToken, StorageError, Store
from sync_server.auth import Credential
from sync_server.connection import Connection
from sync_server.errors import AUTH_REQUIRED, FORBIDDEN
from sync_server.rooms import Rooms

from .permissions import Action, Role, allowed
from .tokens import Clock

log = logging.getLogger("taskly.access")

DEFAULT_POLL_SECONDS: Final = 1.0
DEFAULT_FULL_CHECK_SECONDS: Final = 30.0

TOKEN_REVOKED: Final = "your token was revoked"
TOKEN_EXPIRED: Final = "your token expired"
SESSION_ENDED: Final = "your session ended"
NOT_A_MEMBER: Final = "you are no longer a member of this board's workspace"


@dataclass
class _Facts:
    """What the store says now about the credentials and memberships of some connections."""

    roles: dict[tuple[str, str], str | None] = field(default_factory=dict)
    tokens: dict[str, AccessToken] = field(default_factory=dict)  # PAT record id -> record
    sessions: dict[str, bool] = field(default_factory=dict)  # family id -> still active


class AccessWatcher:
    """Polls the store's access epoch and re-checks the live connections of `rooms`."""

    def __init__(
        self,
        store: Store,
        rooms: Rooms,
        *,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
        full_check_seconds: float = DEFAULT_FULL_CHECK_SECONDS,
        clock: Clock = time.time,
    ) -> None:
        if poll_seconds <= 0 or full_check_seconds <= 0:
            raise ValueError("the watcher's intervals must be positive")
        self._store = store
        self._rooms = rooms
        self._poll_seconds = poll_seconds
        self._full_check_seconds = full_check_seconds
        self._clock = clock
        # Connection id -> the epoch its access was last found valid at.
        self._checked_at: dict[int, int] = {}
        self._next_full_check = time.monotonic() + full_check_seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start polling in a background task."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="taskly-access-watcher")

    async def aclose(self) -> None:
        """Stop polling (idempotent)."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            if not task.cancelled():
                raise  # we were cancelled ourselves, not just the task

    async def _run(self) -> None:
        failing = False
        while True:
            try:
                await self.check()
            except StorageError as exc:
                # Once per outage, not once per tick: /readyz and the writers report it too.
                if not failing:
                    log.warning(
                        "cannot re-check live connections, the store fails (%s); retrying", exc
                    )
                failing = True
            except Exception:
                log.exception("re-checking live connections failed; retrying")
            else:
                if failing:
                    log.info("re-checking live connections again: the store answers")
                failing = False
            await asyncio.sleep(self._poll_seconds)

    async def check(self, *, full: bool = False) -> None:
        """Re-check the connections due (all of them if `full` or a full check is due).

        The background task calls this every `poll_seconds`; a store failure propagates
        before anything is changed.
        """
        full = full or time.monotonic() >= self._next_full_check
        epoch = await self._store.access_epoch()
        live = [conn for conn in self._rooms.connections() if _watched(conn)]
        self._checked_at = {c.id: self._checked_at[c.id] for c in live if c.id in self._checked_at}
        due = [conn for conn in live if full or self._last_checked(conn) != epoch]
        if due:
            # All reads first: if one fails, nothing is decided and the next tick retries.
            facts = await self._gather(due)
            now = datetime.fromtimestamp(self._clock(), UTC)
            for conn in due:
                if self._apply(conn, facts, now):
                    self._checked_at[conn.id] = epoch
        if full:
            self._next_full_check = time.monotonic() + self._full_check_seconds

    def _last_checked(self, conn: Connection) -> int | None:
        return self._checked_at.get(conn.id, conn.principal.access_epoch)

    async def _gather(self, due: Iterable[Connection]) -> _Facts:
        """Read, once each, the roles, PATs and sessions the connections depend on."""
        facts = _Facts()
        pat_users: set[str] = set()
        for conn in due:
            principal = conn.principal
            assert principal.user_id is not None and principal.workspace_id is not None
            facts.roles[principal.workspace_id, principal.user_id] = None
            credential = principal.credential
            if credential is None:
                continue
            if credential.kind == "pat":
                pat_users.add(principal.user_id)
            else:
                facts.sessions[credential.id] = False
        for workspace_id, user_id in list(facts.roles):
            role = await self._store.get_member_role(workspace_id, user_id)
            facts.roles[workspace_id, user_id] = role
        for user_id in pat_users:
            # By user, not by id: one query covers every PAT of theirs, and a deleted token
            # (or user) is simply absent.
            for token in await self._store.list_tokens(user_id):
                facts.tokens[token.id] = token
        for family_id in list(facts.sessions):
            facts.sessions[family_id] = await self._store.is_refresh_family_active(family_id)
        return facts

    def _apply(self, conn: Connection, facts: _Facts, now: datetime) -> bool:
        """Close, narrow or widen one connection; return whether it stays open."""
        principal = conn.principal
        assert principal.user_id is not None and principal.workspace_id is not None
        refusal = _credential_refusal(principal.credential, principal.user_id, facts, now)
        if refusal is not None:
            return self._close(conn, AUTH_REQUIRED, refusal)
        role = facts.roles[principal.workspace_id, principal.user_id]
        if role is None or not allowed(Role(role), Action.BOARD_READ):
            return self._close(conn, FORBIDDEN, NOT_A_MEMBER)
        read_only = not allowed(Role(role), Action.BOARD_WRITE)
        if read_only != principal.read_only:
            conn.set_principal(msgspec.structs.replace(principal, read_only=read_only))
            log.info(
                "access changed board=%s conn=%d user=%s role=%s read_only=%s",
                conn.board_id,
                conn.id,
                principal.user_id,
                role,
                read_only,
            )
        return True

    @staticmethod
    def _close(conn: Connection, code: int, reason: str) -> bool:
        log.info(
            "access revoked board=%s conn=%d user=%s code=%d reason=%s",
            conn.board_id,
            conn.id,
            conn.principal.user_id,
            code,
            reason,
        )
        conn.close(code, reason)
        return False


def _watched(conn: Connection) -> bool:
    """Whether a connection is open and authenticated as a user of a workspace."""
    principal = conn.principal
    return (
        conn.closing is None
        and principal.user_id is not None
        and principal.workspace_id is not None
    )


def _credential_refusal(
    credential: Credential | None, user_id: str, facts: _Facts, now: datetime
) -> str | None:
    """Return why the credential no longer admits its user, or None if it still does."""
    if credential is None:
        return None
    if credential.kind == "session":
        return None if facts.sessions[credential.id] else SESSION_ENDED
    token = facts.tokens.get(credential.id)
    if token is None or token.user_id != user_id or token.revoked_at is not None:
        return TOKEN_REVOKED
    if not token.is_valid_at(now):
        return TOKEN_EXPIRED
    return None
