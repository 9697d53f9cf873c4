"""y-websocket framing for the e2e clients and probes: lib0 var-ints, messages, state vectors.

Written out here rather than taken from pycrdt so that the tests do not share the server's
decoder (a bug in a shared decoder would hide on both sides), and so that probes can build
deliberately broken frames.
"""

from __future__ import annotations

MSG_SYNC = 0
MSG_AWARENESS = 1
MSG_AUTH = 2
MSG_QUERY_AWARENESS = 3
SYNC_STEP1 = 0
SYNC_STEP2 = 1
SYNC_UPDATE = 2


class WireError(ValueError):
    """Bytes that are not a well-formed y-websocket message."""


def var_uint(value: int) -> bytes:
    """Encode a lib0 unsigned var-int."""
    out = bytearray()
    while value > 0x7F:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    out.append(value)
    return bytes(out)


def var_bytes(data: bytes) -> bytes:
    """Encode a lib0 var-uint8array (length, then the bytes)."""
    return var_uint(len(data)) + data


def sync_message(step: int, payload: bytes) -> bytes:
    """A type-0 message: sync step 1 (state vector), step 2 or update (v1 update)."""
    return bytes([MSG_SYNC, step]) + var_bytes(payload)


def awareness_message(payload: bytes) -> bytes:
    """A type-1 message carrying an encoded awareness update."""
    return bytes([MSG_AWARENESS]) + var_bytes(payload)


class Reader:
    """A cursor over one message."""

    def __init__(self, data: bytes) -> None:
        """Read `data` from its start."""
        self.data = data
        self.pos = 0

    def var_uint(self) -> int:
        """Read a var-uint."""
        value = shift = 0
        while True:
            if self.pos >= len(self.data):
                raise WireError("truncated var-uint")
            byte = self.data[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
            shift += 7

    def var_bytes(self) -> bytes:
        """Read a var-uint8array."""
        length = self.var_uint()
        if length > len(self.data) - self.pos:
            raise WireError("truncated var-uint8array")
        chunk = self.data[self.pos : self.pos + length]
        self.pos += length
        return chunk


def parse_message(data: bytes) -> tuple[int, int | None, bytes]:
    """Split a message into (type, sync step or None, payload); unknown types keep the rest."""
    reader = Reader(data)
    kind = reader.var_uint()
    if kind == MSG_SYNC:
        step = reader.var_uint()
        return kind, step, reader.var_bytes()
    if kind == MSG_AWARENESS:
        return kind, None, reader.var_bytes()
    return kind, None, data[reader.pos :]


def decode_state_vector(data: bytes) -> dict[int, int]:
    """Decode a Yjs state vector into {client id: clock}."""
    reader = Reader(data)
    return {reader.var_uint(): reader.var_uint() for _ in range(reader.var_uint())}


def encode_state_vector(clocks: dict[int, int]) -> bytes:
    """Encode {client id: clock} as a Yjs state vector."""
    out = var_uint(len(clocks))
    for client, clock in sorted(clocks.items()):
        out += var_uint(client) + var_uint(clock)
    return out


def missing(have: bytes, want: bytes) -> dict[int, tuple[int, int]]:
    """The clients whose clock in `have` is behind `want`: {client: (have, want)}."""
    mine = decode_state_vector(have)
    return {
        client: (mine.get(client, 0), clock)
        for client, clock in decode_state_vector(want).items()
        if mine.get(client, 0) < clock
    }


def union(*vectors: bytes) -> bytes:
    """The state vector that covers every one of `vectors`."""
    clocks: dict[int, int] = {}
    for vector in vectors:
        for client, clock in decode_state_vector(vector).items():
            clocks[client] = max(clock, clocks.get(client, 0))
    return encode_state_vector(clocks)


def decode_awareness(payload: bytes) -> dict[int, tuple[int, str]]:
    """Decode an awareness update into {client id: (clock, state JSON)}."""
    reader = Reader(payload)
    out = {}
    for _ in range(reader.var_uint()):
        client, clock = reader.var_uint(), reader.var_uint()
        out[client] = (clock, reader.var_bytes().decode())
    return out
