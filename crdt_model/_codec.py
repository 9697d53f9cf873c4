"""Applying and encoding Yjs updates (format v1 only), with errors made typed.

STUB: the signatures are final; the v1 validator lands in this module.
"""

from __future__ import annotations

from pycrdt import Doc

from crdt_model._errors import UpdateDecodeError


def apply_update(doc: Doc, update: bytes, origin: object = None) -> None:
    """Apply a Yjs v1 update to `doc` under `origin`; raise UpdateDecodeError if it is not one."""
    try:
        if origin is None:
            doc.apply_update(update)
        else:
            with doc.transaction(origin=origin):
                doc.apply_update(update)
    except Exception as exc:  # noqa: BLE001 - translated at the boundary
        raise UpdateDecodeError(str(exc)) from exc


def encode_state(doc: Doc) -> bytes:
    """Return the whole state of `doc` as one v1 update."""
    return doc.get_update()


def load_doc(*updates: bytes) -> Doc:
    """Return a new Doc with every update in `updates` applied, in order."""
    doc: Doc = Doc()
    for update in updates:
        apply_update(doc, update)
    return doc
