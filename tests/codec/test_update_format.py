"""The v1 update check: real updates pass, anything else is a typed refusal, never a crash."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pycrdt import Array, Doc, Map, Text

from crdt_model import UnsupportedUpdateFormat, UpdateDecodeError, apply_update, load_doc
from crdt_model._update_format import check_update_v1

REPO = Path(__file__).resolve().parents[2]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)


def _doc_with(values: list[object], text: str) -> Doc[Any]:
    # A fixed client id keeps the encoded length a function of the drawn values alone.
    doc: Doc[Any] = Doc(client_id=7)
    root = doc.get("root", type=Map)
    with doc.transaction():
        root["text"] = Text(text)
        root["list"] = Array(values)
        for i, value in enumerate(values):
            root[f"k{i}"] = value
    if values:
        del root["k0"]
    return doc


@given(st.lists(json_values, max_size=6), st.text(max_size=40))
def test_every_pycrdt_update_passes_the_check(values: list[object], text: str) -> None:
    doc = _doc_with(values, text)
    update = doc.get_update()
    check_update_v1(update)
    copy = load_doc(update)
    assert copy.get_state() == doc.get_state()
    assert copy.get("root", type=Map).to_py() == doc.get("root", type=Map).to_py()


@given(st.lists(json_values, min_size=1, max_size=4), st.data())
def test_a_truncated_update_is_refused(values: list[object], data: st.DataObject) -> None:
    update = _doc_with(values, "t").get_update()
    cut = data.draw(st.integers(0, len(update) - 1))
    with pytest.raises(UpdateDecodeError):
        check_update_v1(update[:cut])


@given(st.binary(max_size=200))
def test_random_bytes_never_escape_as_anything_but_a_typed_error(data: bytes) -> None:
    doc: Doc[Any] = Doc()
    try:
        apply_update(doc, data)
    except UpdateDecodeError:
        pass


@given(st.lists(json_values, min_size=1, max_size=4), st.data())
def test_flipped_bytes_never_escape_as_anything_but_a_typed_error(
    values: list[object], data: st.DataObject
) -> None:
    update = bytearray(_doc_with(values, "flip").get_update())
    index = data.draw(st.integers(0, len(update) - 1))
    update[index] = data.draw(st.integers(0, 255))
    try:
        apply_update(Doc(), bytes(update))
    except UpdateDecodeError:
        pass


def test_trailing_bytes_are_refused() -> None:
    update = _doc_with([1], "x").get_update()
    with pytest.raises(UpdateDecodeError, match="left over"):
        check_update_v1(update + b"\x00")


def test_non_bytes_are_refused() -> None:
    with pytest.raises(UpdateDecodeError, match="must be bytes"):
        check_update_v1("not bytes")  # type: ignore[arg-type]


def test_apply_under_an_origin_reaches_observers() -> None:
    source = _doc_with(["a"], "x")
    target: Doc[Any] = Doc()
    seen: list[object] = []
    # pycrdt drops an observer when its subscription object is garbage collected: keep it.
    _subscription = target.get("root", type=Map).observe(
        lambda event: seen.append(event.transaction.origin)
    )
    apply_update(target, source.get_update(), origin="remote")
    assert seen == ["remote"]


@pytest.mark.node
def test_yjs_v2_updates_are_refused_and_v1_accepted() -> None:
    script = REPO / "tests" / "js" / "v2_update.mjs"
    result = subprocess.run(
        ["node", str(script)], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    v1, v2 = bytes.fromhex(out["v1"]), bytes.fromhex(out["v2"])
    doc = load_doc(v1)
    assert str(doc.get("cards", type=Map)["c1"]["title"]) == "ünïcödé 🚀"
    with pytest.raises(UnsupportedUpdateFormat, match="format v2"):
        apply_update(Doc(), v2)
    with pytest.raises(UnsupportedUpdateFormat):
        apply_update(Doc(), bytes.fromhex(out["v2_empty"]))
