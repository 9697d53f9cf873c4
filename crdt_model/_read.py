"""Tolerant readers: each returns the schema value or its default, recording why.

Nothing here raises on document content: any client may write any shape, and one bad value
must never hide the rest of the board. Numbers are cast here because pycrdt reads every
number back as a float (even ints written from Python).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, Final, TypeAlias, TypeVar

from pycrdt import Array, Doc, Map, Text

from crdt_model._ids import is_canonical_id
from crdt_model._rows import ProjectionWarning
from crdt_model._schema import MAX_SAFE_INTEGER
from crdt_model._time import parse_date, parse_timestamp

YMap: TypeAlias = Map[Any]
YDoc: TypeAlias = Doc[Any]


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: Final = _Missing()
"""Marks a key that is absent (as opposed to present with the value null)."""

T = TypeVar("T")
D = TypeVar("D")


def as_int(value: object, low: int, high: int) -> int | None:
    """Return `value` as an int if it is an integral, finite, in-range number (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            return None
        if abs(value) > MAX_SAFE_INTEGER:
            return None
        value = int(value)
    if abs(value) > MAX_SAFE_INTEGER or not low <= value <= high:
        return None
    return value


def describe(value: object) -> str:
    """Return a short description of `value` for a warning message."""
    if isinstance(value, Map | Array | Text | Doc):
        return f"a Y.{type(value).__name__}"
    if value is None:
        return "null"
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'…' if len(text) > 60 else ''}"


def entry(container: YMap, key: str) -> object:
    """Return `container[key]`, or MISSING when the key is absent."""
    if key not in container:
        return MISSING
    return container[key]


def as_map(value: object) -> YMap | None:
    """Return `value` if it is a Y.Map, else None."""
    return value if isinstance(value, Map) else None


class Reader:
    """Collects warnings while reading; every method returns a schema-valid value."""

    def __init__(self) -> None:
        self.warnings: list[ProjectionWarning] = []

    def warn(self, path: str, message: str) -> None:
        """Record that the value at `path` was not read as written."""
        self.warnings.append(ProjectionWarning(path=path, message=message))

    def _bad(self, path: str, value: object, expected: str, default: object) -> None:
        if value is MISSING:
            self.warn(path, f"missing; read as {describe(default)}")
        else:
            self.warn(path, f"expected {expected}, found {describe(value)}; read as default")

    def field(
        self,
        container: YMap,
        key: str,
        path: str,
        default: D,
        convert: Callable[[object], T | None],
        expected: str,
        *,
        nullable: bool = False,
    ) -> T | D | None:
        """Read `container[key]` through `convert` (None = invalid); null allowed if nullable."""
        value = entry(container, key)
        if value is None and nullable:
            return None
        if value is not MISSING and value is not None:
            converted = convert(value)
            if converted is not None:
                return converted
        self._bad(f"{path}/{key}", value, expected, default)
        return default

    def string(
        self,
        container: YMap,
        key: str,
        path: str,
        default: str,
        check: Callable[[str], bool] | None = None,
        expected: str = "a string",
    ) -> str:
        """Read a required string that passes `check`."""
        result = self.field(container, key, path, default, _string_with(check), expected)
        return default if result is None else result

    def opt_string(
        self,
        container: YMap,
        key: str,
        path: str,
        check: Callable[[str], bool] | None = None,
        expected: str = "a string or null",
    ) -> str | None:
        """Read a nullable string that passes `check`."""
        return self.field(container, key, path, None, _string_with(check), expected, nullable=True)

    def text(self, container: YMap, key: str, path: str, default: str) -> str:
        """Read a Y.Text as a string."""
        result = self.field(
            container,
            key,
            path,
            default,
            lambda v: str(v) if isinstance(v, Text) else None,
            "a Y.Text",
        )
        return default if result is None else result

    def integer(
        self, container: YMap, key: str, path: str, default: int, low: int, high: int
    ) -> int:
        """Read a required integer in low..high."""
        result = self.field(
            container,
            key,
            path,
            default,
            lambda v: as_int(v, low, high),
            f"an integer {low}..{high}",
        )
        return default if result is None else result

    def opt_integer(self, container: YMap, key: str, path: str, low: int, high: int) -> int | None:
        """Read a nullable integer in low..high."""
        return self.field(
            container,
            key,
            path,
            None,
            lambda v: as_int(v, low, high),
            f"an integer {low}..{high} or null",
            nullable=True,
        )

    def boolean(self, container: YMap, key: str, path: str, default: bool) -> bool:
        """Read a required boolean."""
        result = self.field(
            container, key, path, default, lambda v: v if isinstance(v, bool) else None, "a boolean"
        )
        return default if result is None else result

    def opt_date(self, container: YMap, key: str, path: str) -> date | None:
        """Read a nullable `YYYY-MM-DD` date."""
        return self.field(
            container,
            key,
            path,
            None,
            lambda v: parse_date(v) if isinstance(v, str) else None,
            "a YYYY-MM-DD date or null",
            nullable=True,
        )

    def opt_timestamp(self, container: YMap, key: str, path: str) -> datetime | None:
        """Read a timestamp; null and malformed both read as None (malformed is reported)."""
        return self.field(
            container,
            key,
            path,
            None,
            lambda v: parse_timestamp(v) if isinstance(v, str) else None,
            "an ISO-8601 UTC timestamp",
            nullable=True,
        )

    def opt_id(self, container: YMap, key: str, path: str) -> str | None:
        """Read a nullable lower-case canonical UUID."""
        return self.opt_string(container, key, path, is_canonical_id, "a lower-case UUID or null")

    def map(self, container: YMap, key: str, path: str) -> YMap | None:
        """Read a nested Y.Map; anything else is reported and read as empty (None)."""
        value = entry(container, key)
        if isinstance(value, Map):
            return value
        self._bad(f"{path}/{key}", value, "a Y.Map", "an empty map")
        return None

    def id_set(self, container: YMap, key: str, path: str) -> list[str]:
        """Read a Y.Map used as a set (`id -> true`) as its sorted ids."""
        members = self.map(container, key, path)
        if members is None:
            return []
        result: list[str] = []
        for member in members.keys():
            value = members[member]
            if not is_canonical_id(member):
                self.warn(f"{path}/{key}/{member}", "key is not a lower-case UUID; ignored")
            elif value is not True:
                self.warn(f"{path}/{key}/{member}", f"expected true, found {describe(value)}")
            else:
                result.append(member)
        result.sort()
        return result


def _string_with(check: Callable[[str], bool] | None) -> Callable[[object], str | None]:
    def convert(value: object) -> str | None:
        """Return `value` if it is a string passing `check`, else None."""
        if not isinstance(value, str):
            return None
        if check is not None and not check(value):
            return None
        return value

    return convert
