"""Applying and encoding Yjs updates (format v1 only), with every failure made typed."""

from __future__ import annotations

from typing import Any

from pycrdt import Doc

from crdt_model._errors import UpdateDecodeError
from crdt_model._update_format import check_update_v1

# pycrdt reports Rust panics as pyo3_runtime.PanicException, a BaseException subclass that
# `except Exception` misses. These are the BaseExceptions that must keep propagating.
_PROPAGATE = (KeyboardInterrupt, SystemExit, GeneratorExit)


def apply_update(
    doc: Doc[Any], update: bytes, origin: object = None, *, checked: bool = True
) -> None:
    """Apply one Yjs v1 update to `doc` under `origin`; raise UpdateDecodeError on bad bytes.

    `checked=False` skips the structural v1 check for bytes this process already checked (for
    example, updates read back from Taskly's own store); decode failures and pycrdt panics are
    still turned into UpdateDecodeError.
    """
    if checked:
        check_update_v1(update)
    try:
        if origin is None:
            doc.apply_update(bytes(update))
        else:
            with doc.transaction(origin=origin):
                doc.apply_update(bytes(update))
    except _PROPAGATE:
        raise
    except BaseException as exc:  # pycrdt panics are BaseExceptions, not Exceptions
        raise UpdateDecodeError(f"pycrdt could not apply the update: {exc}") from exc


def encode_state(doc: Doc[Any]) -> bytes:
    """Return the whole state of `doc` as one v1 update."""
    return doc.get_update()


def load_doc(*updates: bytes, checked: bool = True) -> Doc[Any]:
    """Return a new Doc with every update in `updates` applied, in order."""
    doc: Doc[Any] = Doc()
    for update in updates:
        apply_update(doc, update, checked=checked)
    return doc
