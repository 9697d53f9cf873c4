"""The y-websocket wire format, as pure functions: bytes in, typed messages out, and back.

A message is a varuint type followed by its body (lib0 encoding):

- 0 sync: a varuint sync type (0 step 1, 1 step 2, 2 update), then one varuint-length
  buffer (a state vector for step 1, a Yjs v1 update otherwise);
- 1 awareness: one buffer holding an awareness update: a varuint count, then per entry a
  varuint client id, a varuint clock and a varstring JSON state (`null` = removed);
- 3 query awareness: no body;
- anything else (2 = auth, ...) is decoded as `Ignored`.

Decoding is strict for the types we handle (a truncated body, bytes left over, an unknown sync
type, a malformed state vector or awareness update raise MalformedSyncMessage). It never applies
anything: checking an update's Yjs structure is the room's job. Encoding reuses pycrdt's
helpers; only what pycrdt lacks (query awareness, awareness updates with correct UTF-8
lengths) is written here.

It lives in crdt_model, not in the server, because both ends speak it: the sync server and the
Python client (clients/python), which may import only crdt_model (DESIGN.md).
"""

from __future__ import annotations

from typing import Final

import msgspec
from pycrdt import create_awareness_message, create_update_message, write_message, write_var_uint

MESSAGE_SYNC: Final = 0
MESSAGE_AWARENESS: Final = 1
MESSAGE_AUTH: Final = 2
MESSAGE_QUERY_AWARENESS: Final = 3
AUTH_PERMISSION_DENIED: Final = 0  # y-protocols/auth.js: the auth message's only type

SYNC_STEP1: Final = 0
SYNC_STEP2: Final = 1
SYNC_UPDATE: Final = 2

# lib0 reads varuints up to JavaScript's safe integers (53 bits).
_MAX_SHIFT: Final = 53
_json_decoder: Final = msgspec.json.Decoder()


class MalformedSyncMessage(ValueError):
    """A message that is not valid y-websocket wire format; `reason` says what is wrong."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SyncStep1(msgspec.Struct, frozen=True):
    """The sender's state vector: "send me what I lack"."""

    state_vector: bytes


class SyncStep2(msgspec.Struct, frozen=True):
    """The reply to a step 1: every struct and deletion the asker lacks, as one v1 update."""

    update: bytes


class SyncUpdate(msgspec.Struct, frozen=True):
    """One document update (v1)."""

    update: bytes


class Awareness(msgspec.Struct, frozen=True):
    """An awareness update (the raw inner payload) and its decoded entries."""

    payload: bytes
    entries: tuple[AwarenessEntry, ...]


class AwarenessEntry(msgspec.Struct, frozen=True):
    """One client's awareness state; `state` is JSON text, `"null"` when removed."""

    client_id: int
    clock: int
    state: str

    @property
    def removed(self) -> bool:
        """Whether this entry removes the client's state."""
        return self.state == "null"


class QueryAwareness(msgspec.Struct, frozen=True):
    """A request for every awareness state of the room."""


class Ignored(msgspec.Struct, frozen=True):
    """A message of a type the server does not handle (auth, or unknown): ignored."""

    message_type: int


Message = SyncStep1 | SyncStep2 | SyncUpdate | Awareness | QueryAwareness | Ignored


class _Reader:
    """A bounds-checked cursor over a message (lib0 primitives)."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def fail(self, what: str) -> MalformedSyncMessage:
        return MalformedSyncMessage(f"malformed message: {what} at byte {self.pos}")

    def var_uint(self) -> int:
        data, pos = self.data, self.pos
        value = 0
        shift = 0
        while True:
            if pos >= len(data):
                self.pos = pos
                raise self.fail("truncated number")
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                self.pos = pos
                return value
            shift += 7
            if shift > _MAX_SHIFT:
                self.pos = pos
                raise self.fail("number too large")

    def var_bytes(self) -> bytes:
        length = self.var_uint()
        end = self.pos + length
        if end > len(self.data):
            raise self.fail(f"length {length} runs past the end of the message")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def var_string(self) -> str:
        raw = self.var_bytes()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail("invalid UTF-8 in a string") from None

    def at_end(self) -> bool:
        return self.pos == len(self.data)

    def expect_end(self, what: str) -> None:
        if not self.at_end():
            raise self.fail(f"{len(self.data) - self.pos} bytes left over after the {what}")


def decode_message(data: bytes) -> Message:
    """Decode one WebSocket binary message; raise MalformedSyncMessage if it is not one."""
    if not data:
        raise MalformedSyncMessage("malformed message: empty frame")
    reader = _Reader(bytes(data))
    message_type = reader.var_uint()
    if message_type == MESSAGE_SYNC:
        return _decode_sync(reader)
    if message_type == MESSAGE_AWARENESS:
        payload = reader.var_bytes()
        reader.expect_end("awareness message")
        return Awareness(payload, decode_awareness_update(payload))
    if message_type == MESSAGE_QUERY_AWARENESS:
        return QueryAwareness()
    return Ignored(message_type)


def _decode_sync(reader: _Reader) -> Message:
    sync_type = reader.var_uint()
    if sync_type not in (SYNC_STEP1, SYNC_STEP2, SYNC_UPDATE):
        raise reader.fail(f"unknown sync message type {sync_type}")
    body = reader.var_bytes()
    reader.expect_end("sync message")
    if sync_type == SYNC_STEP1:
        check_state_vector(body)
        return SyncStep1(body)
    if sync_type == SYNC_STEP2:
        return SyncStep2(body)
    return SyncUpdate(body)


def check_state_vector(data: bytes) -> None:
    """Raise MalformedSyncMessage unless `data` is a well-formed Yjs state vector."""
    reader = _Reader(data)
    try:
        for _ in range(reader.var_uint()):
            reader.var_uint()  # client id
            reader.var_uint()  # clock
        reader.expect_end("state vector")
    except MalformedSyncMessage as exc:
        raise MalformedSyncMessage(f"bad state vector in sync step 1: {exc.reason}") from None


def decode_state_vector(data: bytes) -> dict[int, int]:
    """Return a Yjs state vector as {client id: clock}; raise MalformedSyncMessage if malformed.

    A client listed twice keeps its highest clock.
    """
    reader = _Reader(data)
    clocks: dict[int, int] = {}
    try:
        for _ in range(reader.var_uint()):
            client = reader.var_uint()
            clock = reader.var_uint()
            clocks[client] = max(clock, clocks.get(client, 0))
        reader.expect_end("state vector")
    except MalformedSyncMessage as exc:
        raise MalformedSyncMessage(f"bad state vector: {exc.reason}") from None
    return clocks


def encode_state_vector(clocks: dict[int, int]) -> bytes:
    """Return the Yjs state vector of {client id: clock} (clients in ascending order)."""
    parts = [write_var_uint(len(clocks))]
    for client in sorted(clocks):
        parts += (write_var_uint(client), write_var_uint(clocks[client]))
    return b"".join(parts)


def merge_state_vectors(first: bytes, second: bytes) -> bytes:
    """Return the state vector covering both: each client's highest clock of the two."""
    merged = decode_state_vector(first)
    for client, clock in decode_state_vector(second).items():
        merged[client] = max(clock, merged.get(client, 0))
    return encode_state_vector(merged)


def decode_awareness_update(payload: bytes) -> tuple[AwarenessEntry, ...]:
    """Decode an awareness update; every state must be valid JSON (other clients parse it)."""
    reader = _Reader(payload)
    entries = []
    try:
        for _ in range(reader.var_uint()):
            client_id = reader.var_uint()
            clock = reader.var_uint()
            state = reader.var_string()
            try:
                _json_decoder.decode(state)
            except msgspec.DecodeError:
                raise reader.fail("awareness state is not JSON") from None
            entries.append(AwarenessEntry(client_id, clock, state))
        reader.expect_end("awareness update")
    except MalformedSyncMessage as exc:
        raise MalformedSyncMessage(f"bad awareness update: {exc.reason}") from None
    return tuple(entries)


# -- encoding ----------------------------------------------------------------------------------


def encode_sync_step1(state_vector: bytes) -> bytes:
    """Return a sync step 1 message carrying `state_vector`."""
    return bytes((MESSAGE_SYNC, SYNC_STEP1)) + write_message(state_vector)


def encode_sync_step2(update: bytes) -> bytes:
    """Return a sync step 2 message carrying `update`."""
    return bytes((MESSAGE_SYNC, SYNC_STEP2)) + write_message(update)


def encode_update(update: bytes) -> bytes:
    """Return a sync update message carrying `update`."""
    frame: bytes = create_update_message(update)
    return frame


def encode_awareness(payload: bytes) -> bytes:
    """Return an awareness message carrying an encoded awareness update."""
    frame: bytes = create_awareness_message(payload)
    return frame


def encode_permission_denied(reason: str) -> bytes:
    """Return y-protocols' auth message "permission denied" with `reason` (y-websocket logs it)."""
    text = reason.encode("utf-8")
    return bytes((MESSAGE_AUTH, AUTH_PERMISSION_DENIED)) + write_var_uint(len(text)) + text


def encode_query_awareness() -> bytes:
    """Return a query-awareness message."""
    return write_var_uint(MESSAGE_QUERY_AWARENESS)


def encode_awareness_update(entries: list[AwarenessEntry] | tuple[AwarenessEntry, ...]) -> bytes:
    """Return the awareness update holding `entries` (string lengths in UTF-8 bytes)."""
    parts = [write_var_uint(len(entries))]
    for entry in entries:
        state = entry.state.encode("utf-8")
        parts += (
            write_var_uint(entry.client_id),
            write_var_uint(entry.clock),
            write_var_uint(len(state)),
            state,
        )
    return b"".join(parts)


def encode_message(message: Message) -> bytes:
    """Return the wire bytes of `message` (the inverse of decode_message)."""
    if isinstance(message, SyncStep1):
        return encode_sync_step1(message.state_vector)
    if isinstance(message, SyncStep2):
        return encode_sync_step2(message.update)
    if isinstance(message, SyncUpdate):
        return encode_update(message.update)
    if isinstance(message, Awareness):
        return encode_awareness(message.payload)
    if isinstance(message, QueryAwareness):
        return encode_query_awareness()
    return write_var_uint(message.message_type)
