"""The client's exception hierarchy: every refusal is a ClientError with a one-line message.

The CLI prints `taskly: {error}` for any of these, so each message must read well alone.
"""

from __future__ import annotations


class ClientError(Exception):
    """Root of every error the Python client raises on purpose."""


class NotLoggedIn(ClientError):
    """No server or credentials are stored in the client home."""

    def __init__(self) -> None:
        super().__init__("not logged in: run `taskly login SERVER_URL --token TOKEN` first")


class OfflineError(ClientError):
    """The server could not be reached (refused, unreachable, timed out)."""

    def __init__(self, server: str, cause: str) -> None:
        super().__init__(f"cannot reach {server}: {cause}")
        self.server = server
        self.cause = cause


class ApiError(ClientError):
    """The server answered an HTTP error (RFC 7807 problem JSON when it could)."""

    def __init__(self, status: int, title: str, detail: str | None, url: str) -> None:
        text = f"{detail}" if detail else title
        super().__init__(f"{url}: {status} {text}")
        self.status = status
        self.title = title
        self.detail = detail
        self.url = url


class AuthError(ApiError):
    """401: the token is missing, bad, expired or revoked, or the refresh token was refused."""


class ForbiddenError(ApiError):
    """403: the user's role does not allow the action."""


class NotFoundError(ApiError):
    """404: not there, or not visible to this user."""


class SyncRefused(ClientError):
    """The sync server closed the connection with a code that means "do not retry" (44xx)."""

    def __init__(self, code: int, reason: str, board_id: str) -> None:
        super().__init__(f"{_explain(code)} (board {board_id}, close code {code}: {reason})")
        self.code = code
        self.reason = reason
        self.board_id = board_id


def _explain(code: int) -> str:
    if code == 4401:
        return "the server refused the token: run `taskly login` again"
    if code == 4403:
        return "you are not a member of this board's workspace"
    if code == 4404:
        return "the server has no such board"
    return "the server refused the connection"


class ReplicaError(ClientError):
    """The local replica file is unusable or does not hold the board asked for."""


class LookupFailed(ClientError):
    """A board, card or column named on the command line does not exist or is ambiguous."""
