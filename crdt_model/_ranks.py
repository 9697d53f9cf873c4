"""Fractional ranks: strings compared byte-wise, generated between two neighbours.

The key format is David Greenspan's fractional indexing over base 62 (the one the npm
`fractional-indexing` package uses, so web clients can share it): a variable-length integer
part whose first character encodes its length (`a0`, `a1`, … `az`, `b00`, …; `Z…` below), then
a fraction that never ends in `0`. Appending or prepending steps the integer part, so ranks
stay short however many cards are added at either end.

Two changes make the random suffix safe:
* a generated key is never a prefix of the upper neighbour, so `key + suffix` stays below it;
* every generated rank ends in the random suffix, whose last digit is never `0`, so there is
  always room before any rank.
"""

from __future__ import annotations

import random

from crdt_model._errors import ValidationError

DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
"""The rank alphabet, in ASCII (hence byte-wise and code-point) order."""

SUFFIX_LENGTH = 4
"""Random digits appended to each new rank: 62**4 ≈ 1.5e7 ways to keep concurrent inserts apart."""
MAX_RANK_LENGTH = 1024
"""Longest rank accepted as input: far above what a real board reaches, it bounds abuse."""

_ZERO = DIGITS[0]
_LAST = DIGITS[-1]
_BASE = len(DIGITS)
_INDEX = {c: i for i, c in enumerate(DIGITS)}
_SMALLEST_INTEGER = "A" + _ZERO * 26
_system_random = random.SystemRandom()


def _integer_length(head: str) -> int:
    if "a" <= head <= "z":
        return ord(head) - ord("a") + 2
    if "A" <= head <= "Z":
        return ord("Z") - ord(head) + 2
    return 0


def is_valid_rank(rank: object) -> bool:
    """True if `rank` is a well-formed fractional-indexing key over DIGITS."""
    if not isinstance(rank, str) or not 0 < len(rank) <= MAX_RANK_LENGTH:
        return False
    size = _integer_length(rank[0])
    if size == 0 or size > len(rank) or rank[:size] == _SMALLEST_INTEGER:
        return False
    if any(c not in _INDEX for c in rank[1:]):
        return False
    return not rank[size:].endswith(_ZERO)


def _check(field: str, rank: str | None) -> None:
    if rank is not None and not is_valid_rank(rank):
        raise ValidationError(field, f"{rank!r} is not a rank (a fractional-indexing key)")


def _midpoint(a: str, b: str | None) -> str:
    """Return a fraction strictly between `a` and `b` (None = 1), never a prefix of `b`."""
    if b is not None:
        # Skip the common prefix; `a` is padded with zeros (it is a fraction).
        n = 0
        while (a[n] if n < len(a) else _ZERO) == b[n]:
            n += 1
        if n > 0:
            return b[:n] + _midpoint(a[n:], b[n:])
    digit_a = _INDEX[a[0]] if a else 0
    digit_b = _INDEX[b[0]] if b is not None else _BASE
    if digit_b - digit_a > 1:
        return DIGITS[(digit_a + digit_b + 1) // 2]
    # Consecutive first digits: keep a's digit and go one level deeper above a's tail.
    # (Greenspan returns b[0] when b is longer, but that is a prefix of b, and a suffix
    # appended to it could overtake b.)
    return DIGITS[digit_a] + _midpoint(a[1:], None)


def _step_integer(integer: str, up: bool) -> str | None:
    """Return the next (or previous) integer part, or None past the end of the key space."""
    head, digits = integer[0], list(integer[1:])
    edge, restart = (_LAST, _ZERO) if up else (_ZERO, _LAST)
    for i in reversed(range(len(digits))):
        if digits[i] != edge:
            digits[i] = DIGITS[_INDEX[digits[i]] + (1 if up else -1)]
            return head + "".join(digits)
        digits[i] = restart
    # Every digit carried: change the head, which changes the integer's length.
    if up:
        if head == "Z":
            return "a" + _ZERO
        if head == "z":
            return None
        new_head = chr(ord(head) + 1)
        return new_head + "".join(digits + [_ZERO] if new_head > "a" else digits[:-1])
    if head == "a":
        return "Z" + _LAST
    if head == "A":
        return None
    new_head = chr(ord(head) - 1)
    return new_head + "".join(digits + [_LAST] if new_head < "Z" else digits[:-1])


def _split(rank: str) -> tuple[str, str]:
    size = _integer_length(rank[0])
    return rank[:size], rank[size:]


def _key_between(a: str | None, b: str | None) -> str:
    """Return a key strictly between `a` and `b` that is not a prefix of `b`."""
    if a is None:
        if b is None:
            return "a" + _ZERO
        int_b, frac_b = _split(b)
        lower = _step_integer(int_b, up=False)
        # The previous integer is below b and never its prefix (integers are self-delimiting).
        return lower if lower is not None else int_b + _midpoint("", frac_b)
    int_a, frac_a = _split(a)
    if b is None:
        upper = _step_integer(int_a, up=True)
        return upper if upper is not None else int_a + _midpoint(frac_a, None)
    int_b, frac_b = _split(b)
    if int_a == int_b:
        return int_a + _midpoint(frac_a, frac_b)
    upper = _step_integer(int_a, up=True)
    if upper is not None and upper < b and not b.startswith(upper):
        return upper
    return int_a + _midpoint(frac_a, None)


def _suffix(rng: random.Random) -> str:
    body = "".join(rng.choice(DIGITS) for _ in range(SUFFIX_LENGTH - 1))
    return body + rng.choice(DIGITS[1:])


def _check_pair(before: str | None, after: str | None) -> None:
    _check("before", before)
    _check("after", after)
    if before is not None and after is not None and not before < after:
        raise ValidationError("after", f"{after!r} must sort after {before!r}")


def rank_between(before: str | None, after: str | None, *, rng: random.Random | None = None) -> str:
    """Return a new rank strictly between `before` and `after` (None = open end)."""
    _check_pair(before, after)
    return _key_between(before, after) + _suffix(rng or _system_random)


def ranks_between(
    before: str | None, after: str | None, count: int, *, rng: random.Random | None = None
) -> list[str]:
    """Return `count` increasing ranks strictly between `before` and `after`."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValidationError("count", "must be a non-negative integer")
    _check_pair(before, after)
    generator = rng or _system_random
    result: list[str] = []
    # Bisect: each rank is made between its two final neighbours, so lengths grow with
    # log(count), where inserting each one after the previous would grow them with count.
    pending: list[tuple[str | None, str | None, int] | str] = [(before, after, count)]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            result.append(item)
            continue
        low, high, n = item
        if n == 0:
            continue
        middle = _key_between(low, high) + _suffix(generator)
        half = (n - 1) // 2
        # Pushed in reverse so the left half is emitted first.
        pending.append((middle, high, n - 1 - half))
        pending.append(middle)
        pending.append((low, middle, half))
    return result
