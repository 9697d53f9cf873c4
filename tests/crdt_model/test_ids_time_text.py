"""Ids, timestamps and the Y.Text helpers."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pycrdt import Doc, Map, Text

from crdt_model import is_canonical_id, new_id, uuid7
from crdt_model._text import common_affixes, delete_text, insert_text, replace_text
from crdt_model._time import format_timestamp, now_timestamp, parse_date, parse_timestamp


def test_uuid7_is_canonical_and_versioned() -> None:
    ident = new_id()
    assert is_canonical_id(ident)
    parsed = uuid.UUID(ident)
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert uuid7(unix_ms=1, rand=bytes(10)) < uuid7(unix_ms=2, rand=bytes(10))
    with pytest.raises(ValueError):
        uuid7(rand=b"x")


def test_canonical_id_check() -> None:
    assert is_canonical_id(str(uuid.uuid4()))
    assert not is_canonical_id(str(uuid.uuid4()).upper())
    assert not is_canonical_id("card-1")
    assert not is_canonical_id(5)


def test_timestamps() -> None:
    moment = datetime(2026, 11, 26, 17, 37, 42, 123, tzinfo=timezone(timedelta(hours=1)))
    assert format_timestamp(moment) == "2026-11-26T16:37:42Z"
    with pytest.raises(ValueError):
        format_timestamp(datetime(2026, 1, 1))
    assert parse_timestamp(now_timestamp()) is not None
    assert parse_timestamp("2026-11-26T16:37:42.123Z") == datetime(
        2026, 11, 26, 16, 37, 42, tzinfo=UTC
    )
    for bad in ["2026-11-26 16:37:42Z", "2026-13-01T00:00:00Z", "yesterday", "2026-11-26T16:37:42"]:
        assert parse_timestamp(bad) is None


def test_dates() -> None:
    assert parse_date("2026-02-28") == date(2026, 2, 28)
    for bad in ["2026-02-30", "26-02-01", "2026-2-1", "2026-02-01T00:00:00Z"]:
        assert parse_date(bad) is None


def _text(value: str) -> Text:
    doc: Doc[Any] = Doc()
    root: Map[Any] = Map()
    doc["m"] = root
    root["t"] = text = Text(value)
    return text


def test_text_helpers_count_characters_not_bytes() -> None:
    text = _text("a🚀b ünï")
    insert_text(text, 2, "X")
    assert str(text) == "a🚀Xb ünï"
    delete_text(text, 1, 2)
    assert str(text) == "ab ünï"
    replace_text(text, "ab ÜNÏ!")
    assert str(text) == "ab ÜNÏ!"


def test_common_affixes_do_not_overlap() -> None:
    assert common_affixes("aaa", "aa") == (2, 0)
    assert common_affixes("abc", "abc") == (3, 0)
    assert common_affixes("xbc", "ybc") == (0, 2)


@given(st.text(max_size=30), st.text(max_size=30))
def test_replace_text_reaches_any_target(old: str, new: str) -> None:
    old = old.encode("utf-8", "replace").decode("utf-8", "replace")
    new = new.encode("utf-8", "replace").decode("utf-8", "replace")
    text = _text(old)
    replace_text(text, new)
    assert str(text) == new


def test_concurrent_whole_text_replaces_interleave() -> None:
    base: Doc[Any] = Doc(client_id=1)
    root: Map[Any] = Map()
    base["m"] = root
    root["t"] = Text("The quick fox")
    left: Doc[Any] = Doc(client_id=2)
    right: Doc[Any] = Doc(client_id=3)
    for replica in (left, right):
        replica.apply_update(base.get_update())
    replace_text(left.get("m", type=Map)["t"], "The quick brown fox")
    replace_text(right.get("m", type=Map)["t"], "The quick fox jumps")
    left.apply_update(right.get_update())
    right.apply_update(left.get_update())
    for replica in (left, right):
        assert str(replica.get("m", type=Map)["t"]) == "The quick brown fox jumps"
