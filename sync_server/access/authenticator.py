"""The token Authenticator of `/sync`: who connects (JWT or PAT) and what their role allows.

The token comes from the `token` query parameter (what y-websocket's `params` option sends) or
from the WebSocket subprotocol list in its two-entry form `["bearer", "<token>"]`. The server
then accepts the subprotocol `bearer` (see `accepted_subprotocol`), never the token entry:
browsers fail a handshake that offered subprotocols unless one is echoed, and echoing only the
fixed word keeps the token out of the response headers. The single-entry form `bearer.<token>`
is not supported because its only echo would be the token itself.

Refusals: no or bad token 4401 (`AuthRequired`), an access token whose session was ended
(logout, refresh-token reuse) 4401, unknown board 4404, not a member 4403 (`Forbidden`).
Reasons are fixed sentences that never contain the token. A viewer (a role without
`board.write` in the permission matrix) gets a read-only Principal.

The Principal also names the board's workspace, the credential (PAT record or session) and
the store's access epoch read before any check, so that the access watcher can re-check the
connection when memberships or revocations change (`sync_server.access.watcher`).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import msgspec
from starlette.types import Scope

from storage import BoardNotFound, Store, TokenNotFound, UserNotFound
from sync_server.auth import Credential, Principal
from sync_server.errors import AuthRequired, Forbidden

from .permissions import Action, Role, allowed
from .tokens import AccessTokens, Clock, InvalidToken, hash_token, is_personal_access_token

BEARER_SUBPROTOCOL = "bearer"
TOKEN_QUERY_PARAMETER = "token"
MAX_BOARD_ID_CHARS = 200
#: A token's `last_used_at` is rewritten at most this often.
TOUCH_INTERVAL = timedelta(minutes=1)


def pat_hash(token: str) -> bytes:
    """Return the stored form of a personal access token: its hex SHA-256 as ASCII bytes."""
    return hash_token(token).encode("ascii")


def offered_subprotocols(scope: Scope) -> list[str]:
    """Return the subprotocols the client offered, in order."""
    return [str(entry) for entry in scope.get("subprotocols") or ()]


def accepted_subprotocol(scope: Scope) -> str | None:
    """Return the subprotocol to echo on accept: `bearer` if the client offered it, else None."""
    return BEARER_SUBPROTOCOL if BEARER_SUBPROTOCOL in offered_subprotocols(scope) else None


def token_from_scope(scope: Scope) -> str | None:
    """Return the token the client presented, None if none; raise AuthRequired if ambiguous."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    found = set(query.get(TOKEN_QUERY_PARAMETER, []))
    offered = offered_subprotocols(scope)
    for index, entry in enumerate(offered[:-1]):
        if entry == BEARER_SUBPROTOCOL:
            found.add(offered[index + 1])
    found.discard("")
    if len(found) > 1:
        raise AuthRequired("more than one token was presented")
    return found.pop() if found else None


class Identity(msgspec.Struct, frozen=True):
    """Who a token identifies and the revocable credential behind it (None: nothing to revoke)."""

    user_id: str
    credential: Credential | None


class TokenAuthenticator:
    """An Authenticator admitting members of the board's workspace by access token or PAT."""

    def __init__(
        self, store: Store, access_tokens: AccessTokens, *, clock: Clock = time.time
    ) -> None:
        self._store = store
        self._access_tokens = access_tokens
        self._clock = clock

    def __repr__(self) -> str:
        return f"TokenAuthenticator(access_tokens={self._access_tokens!r})"

    async def __call__(self, scope: Scope) -> Principal:
        """Return the connecting user's Principal for the board in the path, or raise."""
        token = token_from_scope(scope)
        if token is None:
            raise AuthRequired("authentication required: pass ?token= or the bearer subprotocol")
        # Read before every check: a change committed after this read moves the epoch past
        # it, so the watcher re-checks this connection even if the checks below missed it.
        epoch = await self._store.access_epoch()
        identity = await self.identify(token)
        credential = identity.credential
        board_id = str(scope.get("path_params", {}).get("board_id", ""))
        if len(board_id) > MAX_BOARD_ID_CHARS or not board_id.isprintable():
            raise BoardNotFound(board_id[:MAX_BOARD_ID_CHARS])  # no such id can exist
        board = await self._store.get_board(board_id)  # BoardNotFound: 4404
        role = await self._store.get_member_role(board.workspace_id, identity.user_id)
        if role is None or not allowed(Role(role), Action.BOARD_READ):
            raise Forbidden("you are not a member of this board's workspace")
        return Principal(
            user_id=identity.user_id,
            read_only=not allowed(Role(role), Action.BOARD_WRITE),
            workspace_id=board.workspace_id,
            credential=credential,
            access_epoch=epoch,
        )

    async def user_for(self, token: str) -> str:
        """Return the id of the user a token identifies; raise AuthRequired if it does not."""
        return (await self.identify(token)).user_id

    async def identify(self, token: str) -> Identity:
        """Return the user a token identifies and its credential; raise AuthRequired if none.

        An access token whose session ended (logout, refresh-token reuse) is refused, on /sync
        and on the HTTP API alike, though the token itself has not expired yet.
        """
        if is_personal_access_token(token):
            return await self._pat_identity(token)
        try:
            claims = self._access_tokens.verify(token)
        except InvalidToken as exc:
            raise AuthRequired(exc.reason) from None
        try:
            await self._store.get_user(claims.sub)
        except UserNotFound:
            raise AuthRequired("the token's user does not exist") from None
        session = None if claims.sid is None else Credential("session", claims.sid)
        if session is not None and not await self._store.is_refresh_family_active(session.id):
            raise AuthRequired("the token's session has ended; sign in again")
        return Identity(claims.sub, session)

    async def _pat_identity(self, token: str) -> Identity:
        """Return the user of a live personal access token and record its use."""
        now = datetime.fromtimestamp(self._clock(), UTC)
        try:
            record = await self._store.get_token_by_hash(pat_hash(token))
        except TokenNotFound:
            raise AuthRequired("the personal access token is not known") from None
        if record.revoked_at is not None:
            raise AuthRequired("the personal access token was revoked")
        if not record.is_valid_at(now):
            raise AuthRequired("the personal access token has expired")
        # `last used` is for people auditing their tokens (`taskly token list`): minute
        # precision is plenty, and a durable write on every request was a third of the
        # per-request store time of a script's GET (bench/README.md, the floor).
        last = record.last_used_at
        if last is None or now - last >= TOUCH_INTERVAL:
            try:
                await self._store.touch_token(record.id, now)
            except TokenNotFound:
                raise AuthRequired("the personal access token is not known") from None
        return Identity(record.user_id, Credential("pat", record.id))
