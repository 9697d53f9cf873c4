"""The Taskly board schema over pycrdt: typed access, operations, ranks and projection.

Pure: nothing here does I/O.
"""

from crdt_model._codec import apply_update, encode_state, load_doc
from crdt_model._errors import (
    ModelError,
    NotFoundError,
    UnsupportedUpdateFormat,
    UpdateDecodeError,
    ValidationError,
)

__all__ = [
    "ModelError",
    "NotFoundError",
    "UnsupportedUpdateFormat",
    "UpdateDecodeError",
    "ValidationError",
    "apply_update",
    "encode_state",
    "load_doc",
]
