"""Editing a Y.Text by character index, and replacing it by a minimal diff.

pycrdt indexes Y.Text by UTF-8 *byte* offset, and an offset inside a multi-byte character
silently appends at the end instead, so every index is converted here from characters
(code points, like Python strings) to bytes.
"""

from __future__ import annotations

from pycrdt import Text


def _byte_offset(value: str, index: int) -> int:
    return len(value[:index].encode("utf-8"))


def common_affixes(old: str, new: str) -> tuple[int, int]:
    """Return the lengths of the common prefix and (non-overlapping) common suffix."""
    limit = min(len(old), len(new))
    prefix = 0
    while prefix < limit and old[prefix] == new[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and old[-1 - suffix] == new[-1 - suffix]:
        suffix += 1
    return prefix, suffix


def replace_text(text: Text, new: str) -> None:
    """Make `text` read `new`, touching only the span between the common prefix and suffix.

    Rewriting only the changed span keeps concurrent edits elsewhere in the text intact:
    they interleave instead of one whole-text replace discarding the other.
    """
    old = str(text)
    if old == new:
        return
    prefix, suffix = common_affixes(old, new)
    start = _byte_offset(old, prefix)
    removed = old[prefix : len(old) - suffix]
    inserted = new[prefix : len(new) - suffix]
    if removed:
        del text[start : start + len(removed.encode("utf-8"))]
    if inserted:
        text.insert(start, inserted)


def insert_text(text: Text, index: int, value: str) -> None:
    """Insert `value` at character `index` (0..len)."""
    current = str(text)
    text.insert(_byte_offset(current, index), value)


def delete_text(text: Text, index: int, length: int) -> None:
    """Delete `length` characters from character `index`."""
    current = str(text)
    start = _byte_offset(current, index)
    stop = _byte_offset(current, index + length)
    if stop > start:
        del text[start:stop]
