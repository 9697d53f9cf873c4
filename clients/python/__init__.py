"""The Taskly Python client: REST (`TasklyClient`) and offline board replicas (`BoardReplica`).

A replica is a full copy of one board in a local SQLite file, edited with `crdt_model.Board`
operations (`replica.board.create_card(...)`), durable per edit, and synced with the server
over y-websocket by a `SyncSession`. docs/client.md is the contract.
"""

from clients.python._auth import SessionToken, StaticToken, TokenSource, spend_sign_in_link
from clients.python._backoff import Backoff
from clients.python._errors import (
    ApiError,
    AuthError,
    ClientError,
    ForbiddenError,
    LookupFailed,
    NotFoundError,
    NotLoggedIn,
    OfflineError,
    ReplicaError,
    SyncRefused,
)
from clients.python._home import BoardInfo, ClientHome, Config, Credentials
from clients.python._replica import BoardReplica
from clients.python._rest import TasklyClient, sync_url
from clients.python._sync import SyncResult, SyncSession

__all__ = [
    "ApiError",
    "AuthError",
    "Backoff",
    "BoardInfo",
    "BoardReplica",
    "ClientError",
    "ClientHome",
    "Config",
    "Credentials",
    "ForbiddenError",
    "LookupFailed",
    "NotFoundError",
    "NotLoggedIn",
    "OfflineError",
    "ReplicaError",
    "SessionToken",
    "StaticToken",
    "SyncRefused",
    "SyncResult",
    "SyncSession",
    "TasklyClient",
    "TokenSource",
    "spend_sign_in_link",
    "sync_url",
]
