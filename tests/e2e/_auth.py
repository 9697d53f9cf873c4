"""Who the e2e clients are: users and personal access tokens made with the real `taskly`
command, and the token that clients of each running server present unless told otherwise.

Every server the harness starts gets an owner of workspace `Default` (user `e2e`) and a PAT
before its first start (`StoreSpec.owner`); `TasklyServer.board_url()` carries that token in
the `token` query parameter and `NodeClient.open()` passes it as y-websocket's
`params: {token}`. To connect as someone else, make them with `StoreSpec.user()` and pass
their `Identity.token`; pass `token=None` to connect with none.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

OWNER_LOGIN = "e2e"
DEFAULT_WORKSPACE = "Default"
TOKEN_PREFIX = "tsk_pat_"


@dataclass(frozen=True)
class Identity:
    """A user made with `taskly user create` and a PAT made with `taskly token create`."""

    login: str
    token: str
    workspace: str | None
    role: str | None


class _Default(enum.Enum):
    TOKEN = "the default token"


#: "Whatever token the harness gives this server's clients" (the owner's PAT).
DEFAULT = _Default.TOKEN
#: A token argument: a token, None for no token at all, or DEFAULT.
TokenChoice = str | None | _Default

# sync URL (ws://HOST:PORT/sync) of a running server -> the token its clients present.
_server_tokens: dict[str, str] = {}


def remember_server(sync_url: str, token: str | None) -> None:
    """Record the default token of the server now listening at `sync_url` (None: none)."""
    if token is None:
        _server_tokens.pop(sync_url, None)
    else:
        _server_tokens[sync_url] = token


def resolve(token: TokenChoice, sync_url: str) -> str | None:
    """The token to present to the server at `sync_url`: DEFAULT means its default one."""
    if token is DEFAULT:
        return _server_tokens.get(sync_url.rstrip("/"))
    assert not isinstance(token, _Default)
    return token


def with_token(url: str, token: str | None) -> str:
    """`url` with its `token` query parameter set to `token` (removed if None)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "token"]
    if token is not None:
        query.append(("token", token))
    return urlunsplit(parts._replace(query=urlencode(query)))
