"""A strict structural check of Yjs update format v1, without applying anything.

pycrdt applies only format v1 and silently ignores anything else (a v2 update leaves the doc
unchanged and raises nothing), so bytes from the outside are parsed here first: the whole
buffer must decode as one v1 update (structs, then the delete set) with no byte left over.
The layout follows Yjs's `UpdateDecoderV1` and lib0's `decoding` module.
"""

from __future__ import annotations

from typing import Final

from crdt_model._errors import UnsupportedUpdateFormat, UpdateDecodeError

# Item content refs (the low five bits of a struct's info byte), as numbered by Yjs.
_GC: Final = 0
_DELETED: Final = 1
_JSON: Final = 2
_BINARY: Final = 3
_STRING: Final = 4
_EMBED: Final = 5
_FORMAT: Final = 6
_TYPE: Final = 7
_ANY: Final = 8
_DOC: Final = 9
_SKIP: Final = 10

_HAS_ORIGIN: Final = 0x80
_HAS_RIGHT_ORIGIN: Final = 0x40
_HAS_PARENT_SUB: Final = 0x20

# Shared type refs whose content carries a node name (XmlElement, XmlHook).
_TYPE_REFS_WITH_NAME: Final = frozenset({3, 5})
_MAX_TYPE_REF: Final = 6
# Nesting depth of lib0 `any` values we accept; real documents stay far below it.
_MAX_ANY_DEPTH: Final = 64
# The number of length-prefixed buffers that follow the feature flag in a v2 update.
_V2_BUFFERS: Final = 9


class _Reader:
    """A cursor over the update bytes with lib0's primitive readers."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def fail(self, what: str) -> UpdateDecodeError:
        return UpdateDecodeError(f"not a Yjs v1 update: {what} at byte {self.pos}")

    def u8(self) -> int:
        if self.pos >= len(self.data):
            raise self.fail("unexpected end of data")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def var_uint(self) -> int:
        data, pos, end = self.data, self.pos, len(self.data)
        value = 0
        shift = 0
        while True:
            if pos >= end:
                self.pos = pos
                raise self.fail("unexpected end of data in a number")
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                self.pos = pos
                return value
            shift += 7
            if shift > 53:  # lib0 refuses numbers beyond JavaScript's safe integers
                self.pos = pos
                raise self.fail("number out of range")

    def var_int(self) -> None:
        first = self.u8()
        if first & 0x80:
            self.var_uint()

    def skip(self, length: int) -> None:
        if length > len(self.data) - self.pos:
            raise self.fail(f"length {length} runs past the end")
        self.pos += length

    def buf(self) -> bytes:
        length = self.var_uint()
        start = self.pos
        self.skip(length)
        return self.data[start : self.pos]

    def string(self) -> None:
        raw = self.buf()
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self.fail(f"invalid UTF-8 in a string ({exc.reason})") from None

    def any_value(self, depth: int = 0) -> None:
        if depth > _MAX_ANY_DEPTH:
            raise self.fail("value nested too deeply")
        tag = self.u8()
        if tag in (127, 126, 121, 120):  # undefined, null, false, true
            return
        if tag == 125:
            self.var_int()
        elif tag == 124:
            self.skip(4)
        elif tag == 123 or tag == 122:  # float64, bigint64
            self.skip(8)
        elif tag == 119:
            self.string()
        elif tag == 118:
            for _ in range(self.var_uint()):
                self.string()
                self.any_value(depth + 1)
        elif tag == 117:
            for _ in range(self.var_uint()):
                self.any_value(depth + 1)
        elif tag == 116:
            self.buf()
        else:
            raise self.fail(f"unknown value tag {tag}")


def _read_content(reader: _Reader, ref: int) -> None:
    if ref == _DELETED:
        reader.var_uint()
    elif ref == _JSON:
        for _ in range(reader.var_uint()):
            reader.string()
    elif ref == _BINARY:
        reader.buf()
    elif ref == _STRING or ref == _EMBED:
        reader.string()
    elif ref == _FORMAT:
        reader.string()
        reader.string()
    elif ref == _TYPE:
        type_ref = reader.var_uint()
        if type_ref > _MAX_TYPE_REF:
            raise reader.fail(f"unknown shared type {type_ref}")
        if type_ref in _TYPE_REFS_WITH_NAME:
            reader.string()
    elif ref == _ANY:
        for _ in range(reader.var_uint()):
            reader.any_value()
    elif ref == _DOC:
        reader.string()
        reader.any_value()
    else:
        raise reader.fail(f"unknown content type {ref}")


def _read_structs(reader: _Reader) -> None:
    for _ in range(reader.var_uint()):
        count = reader.var_uint()
        reader.var_uint()  # client id
        reader.var_uint()  # first clock
        for _ in range(count):
            info = reader.u8()
            ref = info & 0x1F
            if ref == _GC or ref == _SKIP:
                reader.var_uint()
                continue
            if info & _HAS_ORIGIN:
                reader.var_uint()
                reader.var_uint()
            if info & _HAS_RIGHT_ORIGIN:
                reader.var_uint()
                reader.var_uint()
            if not info & (_HAS_ORIGIN | _HAS_RIGHT_ORIGIN):
                parent_is_root = reader.var_uint() == 1
                if parent_is_root:
                    reader.string()
                else:
                    reader.var_uint()
                    reader.var_uint()
                if info & _HAS_PARENT_SUB:
                    reader.string()
            _read_content(reader, ref)


def _read_delete_set(reader: _Reader) -> None:
    for _ in range(reader.var_uint()):
        reader.var_uint()  # client id
        for _ in range(reader.var_uint()):
            reader.var_uint()  # clock
            reader.var_uint()  # length


def _looks_like_v2(data: bytes) -> bool:
    """Whether `data` has the outer framing of a v2 update: flag 0, then nine buffers."""
    reader = _Reader(data)
    try:
        if reader.var_uint() != 0:
            return False
        for _ in range(_V2_BUFFERS):
            reader.buf()
    except UpdateDecodeError:
        return False
    return True


def check_update_v1(data: bytes) -> None:
    """Raise UpdateDecodeError unless `data` is exactly one well-formed Yjs v1 update."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise UpdateDecodeError(f"an update must be bytes, not {type(data).__name__}")
    reader = _Reader(bytes(data))
    try:
        _read_structs(reader)
        _read_delete_set(reader)
        if reader.pos != len(reader.data):
            raise reader.fail(f"{len(reader.data) - reader.pos} bytes left over")
    except UpdateDecodeError as exc:
        if _looks_like_v2(reader.data):
            raise UnsupportedUpdateFormat(
                "this looks like a Yjs update in format v2; Taskly accepts format v1 only "
                "(Y.encodeStateAsUpdate, not Y.encodeStateAsUpdateV2)"
            ) from exc
        raise
