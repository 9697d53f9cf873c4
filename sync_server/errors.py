"""The sync server's exception root and the one place that maps failures to close codes.

Every refusal the server makes to a WebSocket client is a `SyncError` carrying its close code
and a reason for humans; `close_for` turns any exception (ours, crdt_model's, storage's) into
the (code, reason) pair that ends the connection. The codes are the contract in docs/sync.md.
"""

from __future__ import annotations

from typing import Final

from crdt_model import UnsupportedUpdateFormat, UpdateDecodeError
from storage import BoardNotFound

GOING_AWAY: Final = 1001
INTERNAL_ERROR: Final = 1011
TRY_AGAIN_LATER: Final = 1013
MALFORMED: Final = 4400
AUTH_REQUIRED: Final = 4401
FORBIDDEN: Final = 4403
NOT_FOUND: Final = 4404
TOO_LARGE: Final = 4413
UNSUPPORTED_FORMAT: Final = 4415

# RFC 6455: a close frame's payload is at most 125 bytes, 2 of them the code.
_MAX_REASON_BYTES: Final = 123


class SyncError(Exception):
    """Root of every refusal the sync server sends to one client (and only to that client)."""

    close_code: int = INTERNAL_ERROR
    http_status: int = 500

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MalformedMessage(SyncError):
    """Bad framing, a text frame, an empty frame, or an update that is not valid Yjs v1."""

    close_code = MALFORMED
    http_status = 400


class AuthRequired(SyncError):
    """No token, or one that is malformed, expired, revoked or not ours (never names the token)."""

    close_code = AUTH_REQUIRED
    http_status = 401


class Forbidden(SyncError):
    """A valid user who may not open this board (not a member of its workspace)."""

    close_code = FORBIDDEN
    http_status = 403


class BoardUnknown(SyncError):
    """No board with this id."""

    close_code = NOT_FOUND
    http_status = 404


class MessageTooLarge(SyncError):
    """A message larger than TASKLY_MAX_MESSAGE_BYTES."""

    close_code = TOO_LARGE
    http_status = 413


class UnsupportedFormat(SyncError):
    """A Yjs update in format v2."""

    close_code = UNSUPPORTED_FORMAT
    http_status = 415


class SlowConsumer(SyncError):
    """The client does not read fast enough: its outgoing queue overflowed (it may reconnect)."""

    close_code = TRY_AGAIN_LATER
    http_status = 503


class ShuttingDown(SyncError):
    """The server is shutting down; reconnect later."""

    close_code = GOING_AWAY
    http_status = 503


def clip_reason(reason: str) -> str:
    """Return `reason` cut to fit a WebSocket close frame (123 UTF-8 bytes)."""
    raw = reason.encode("utf-8")
    if len(raw) <= _MAX_REASON_BYTES:
        return reason
    return raw[: _MAX_REASON_BYTES - 3].decode("utf-8", errors="ignore") + "..."


def close_for(exc: BaseException) -> tuple[int, str]:
    """Return the close code and reason that end a connection because of `exc`."""
    if isinstance(exc, SyncError):
        code, reason = exc.close_code, exc.reason
    elif isinstance(exc, UnsupportedUpdateFormat):
        code, reason = UNSUPPORTED_FORMAT, str(exc)
    elif isinstance(exc, UpdateDecodeError):
        code, reason = MALFORMED, str(exc)
    elif isinstance(exc, BoardNotFound):
        code, reason = NOT_FOUND, f"no board with id {exc.board_id!r}"
    else:
        code, reason = INTERNAL_ERROR, "internal error; reconnect later"
    return code, clip_reason(reason)
