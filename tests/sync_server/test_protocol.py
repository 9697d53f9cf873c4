"""The y-websocket wire format: round trips and refusals, without a server."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pycrdt import Awareness as PycrdtAwareness
from pycrdt import Doc, Map, create_sync_message, handle_sync_message, write_var_uint

from sync_server import protocol as p
from sync_server.errors import MalformedMessage

uints = st.integers(min_value=0, max_value=2**53 - 1)
payloads = st.binary(max_size=300)
json_states = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**31), 2**31) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
).map(lambda v: json.dumps(v, ensure_ascii=False))
entries = st.builds(p.AwarenessEntry, uints, uints, json_states)
messages = st.one_of(
    st.builds(
        p.SyncStep1,
        st.lists(st.tuples(uints, uints), max_size=5).map(
            lambda pairs: (
                write_var_uint(len(pairs))
                + b"".join(write_var_uint(a) + write_var_uint(b) for a, b in pairs)
            )
        ),
    ),
    st.builds(p.SyncStep2, payloads),
    st.builds(p.SyncUpdate, payloads),
    st.lists(entries, max_size=5).map(
        lambda es: p.Awareness(p.encode_awareness_update(es), tuple(es))
    ),
    st.just(p.QueryAwareness()),
    st.builds(
        p.Ignored, st.integers(min_value=2, max_value=2**20).filter(lambda t: t not in (0, 1, 3))
    ),
)


@given(messages)
def test_every_message_round_trips(message: p.Message) -> None:
    assert p.decode_message(p.encode_message(message)) == message


@given(st.lists(entries, max_size=8))
def test_awareness_updates_round_trip_with_utf8_lengths(items: list[p.AwarenessEntry]) -> None:
    assert p.decode_awareness_update(p.encode_awareness_update(items)) == tuple(items)


@given(st.binary(max_size=64))
def test_decoding_arbitrary_bytes_returns_a_message_or_refuses(data: bytes) -> None:
    try:
        message = p.decode_message(data)
    except MalformedMessage as exc:
        assert exc.close_code == 4400
        assert exc.reason.startswith(("malformed message", "bad state vector", "bad awareness"))
    else:
        assert isinstance(
            message,
            p.SyncStep1 | p.SyncStep2 | p.SyncUpdate | p.Awareness | p.QueryAwareness | p.Ignored,
        )


@given(messages)
def test_truncated_known_messages_are_refused(message: p.Message) -> None:
    data = p.encode_message(message)
    if isinstance(message, p.QueryAwareness | p.Ignored):
        return
    for cut in range(len(data)):
        with pytest.raises(MalformedMessage):
            p.decode_message(data[:cut])


def test_compatible_with_pycrdt_sync_helpers() -> None:
    doc: Doc[Any] = Doc()
    doc.get("m", type=Map)["k"] = "v"
    step1 = p.decode_message(create_sync_message(doc))
    assert isinstance(step1, p.SyncStep1) and step1.state_vector == doc.get_state()
    reply = handle_sync_message(p.encode_sync_step1(b"\x00")[1:], doc)
    assert reply is not None
    step2 = p.decode_message(reply)
    assert isinstance(step2, p.SyncStep2) and step2.update == doc.get_update()


def test_compatible_with_pycrdt_awareness() -> None:
    doc: Doc[Any] = Doc()
    awareness = PycrdtAwareness(doc)
    awareness.set_local_state({"user": {"name": "Ünï"}, "card": None})
    decoded = p.decode_awareness_update(awareness.encode_awareness_update([doc.client_id]))
    assert decoded[0].client_id == doc.client_id
    assert json.loads(decoded[0].state) == {"user": {"name": "Ünï"}, "card": None}
    other = PycrdtAwareness(Doc())
    other.apply_awareness_update(p.encode_awareness_update(list(decoded)), "test")
    assert other.states[doc.client_id] == {"user": {"name": "Ünï"}, "card": None}


def test_query_awareness_is_one_byte() -> None:
    assert p.encode_query_awareness() == b"\x03"
    assert p.decode_message(b"\x03") == p.QueryAwareness()


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00",
        b"\x00\x00",
        b"\x00\x03\x00",
        b"\x00\x02\x05ab",
        b"\x01",
        b"\x01\x02\x01",
        b"\x00\x00\x02\x01\x01",
        b"\x80",
    ],
)
def test_malformed_frames(data: bytes) -> None:
    with pytest.raises(MalformedMessage):
        p.decode_message(data)
