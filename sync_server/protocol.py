"""The y-websocket wire format as the server uses it: crdt_model.sync_protocol, with its
decoding errors raised as the server's MalformedMessage (close code 4400, a reason for the
client).

The format itself lives in crdt_model because the Python client speaks it too; this module
only adapts the error, so every refusal the server sends stays a SyncError.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from crdt_model import sync_protocol as _wire
from crdt_model.sync_protocol import (
    AUTH_PERMISSION_DENIED,
    MESSAGE_AUTH,
    MESSAGE_AWARENESS,
    MESSAGE_QUERY_AWARENESS,
    MESSAGE_SYNC,
    SYNC_STEP1,
    SYNC_STEP2,
    SYNC_UPDATE,
    Awareness,
    AwarenessEntry,
    Ignored,
    MalformedSyncMessage,
    Message,
    QueryAwareness,
    SyncStep1,
    SyncStep2,
    SyncUpdate,
    encode_awareness,
    encode_awareness_update,
    encode_message,
    encode_permission_denied,
    encode_query_awareness,
    encode_state_vector,
    encode_sync_step1,
    encode_sync_step2,
    encode_update,
    merge_state_vectors,
)
from sync_server.errors import MalformedMessage

P = ParamSpec("P")
R = TypeVar("R")


def _refusing(decode: Callable[P, R]) -> Callable[P, R]:
    """Return `decode` raising MalformedMessage instead of MalformedSyncMessage."""

    @wraps(decode)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return decode(*args, **kwargs)
        except MalformedSyncMessage as exc:
            raise MalformedMessage(exc.reason) from None

    return wrapper


decode_message = _refusing(_wire.decode_message)
check_state_vector = _refusing(_wire.check_state_vector)
decode_state_vector = _refusing(_wire.decode_state_vector)
decode_awareness_update = _refusing(_wire.decode_awareness_update)

__all__ = [
    "AUTH_PERMISSION_DENIED",
    "MESSAGE_AUTH",
    "MESSAGE_AWARENESS",
    "MESSAGE_QUERY_AWARENESS",
    "MESSAGE_SYNC",
    "SYNC_STEP1",
    "SYNC_STEP2",
    "SYNC_UPDATE",
    "Awareness",
    "AwarenessEntry",
    "Ignored",
    "Message",
    "QueryAwareness",
    "SyncStep1",
    "SyncStep2",
    "SyncUpdate",
    "check_state_vector",
    "decode_awareness_update",
    "decode_message",
    "decode_state_vector",
    "encode_awareness",
    "encode_awareness_update",
    "encode_message",
    "encode_permission_denied",
    "encode_query_awareness",
    "encode_state_vector",
    "encode_sync_step1",
    "encode_sync_step2",
    "encode_update",
    "merge_state_vectors",
]
