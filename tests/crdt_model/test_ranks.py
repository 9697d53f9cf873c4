"""Fractional ranks: ordering, validation and properties."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crdt_model import ValidationError
from crdt_model.ranks import DIGITS, is_valid_rank, rank_between, ranks_between


def test_alphabet_is_ascii_sorted() -> None:
    assert list(DIGITS) == sorted(DIGITS)
    assert len(DIGITS) == 62


def test_first_rank_and_open_ends() -> None:
    rng = random.Random(0)
    first = rank_between(None, None, rng=rng)
    assert is_valid_rank(first)
    assert rank_between(None, first, rng=rng) < first
    assert rank_between(first, None, rng=rng) > first


def test_between_neighbours() -> None:
    rng = random.Random(0)
    assert "a0" < rank_between("a0", "a1", rng=rng) < "a1"
    assert "a0V" < rank_between("a0V", "a0W", rng=rng) < "a0W"


def test_prefix_upper_bound_is_never_overtaken() -> None:
    # Greenspan's midpoint("a0", "a1V") is "a1", a prefix of the upper bound; a suffix on it
    # would sort above "a1V". Every rng must stay below.
    for seed in range(200):
        rank = rank_between("a0", "a1V", rng=random.Random(seed))
        assert "a0" < rank < "a1V"


def test_foreign_fractional_indexing_keys_are_accepted() -> None:
    # Keys made by the npm `fractional-indexing` package (integer-only keys end in 0).
    for key in ["a0", "a1", "Zz", "b00", "a0V"]:
        assert is_valid_rank(key)
    assert "a0" < rank_between("a0", "a1") < "a1"


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("a1", "a0"),
        ("a1", "a1"),
        ("", None),
        ("a0-", None),
        (None, "a00"),  # fraction ending in the smallest digit
        ("é", None),
        ("A" + "0" * 26, None),  # the smallest integer is reserved
        ("b0", None),  # integer part too short for its head
        (None, "x" * 2000),
    ],
)
def test_invalid_inputs_are_refused(before: str | None, after: str | None) -> None:
    with pytest.raises(ValidationError):
        rank_between(before, after)


def test_non_string_is_refused() -> None:
    with pytest.raises(ValidationError):
        rank_between(5, None)  # type: ignore[arg-type]


def test_ranks_between_many_stay_short_and_sorted() -> None:
    ranks = ranks_between(None, None, 10_000, rng=random.Random(3))
    assert ranks == sorted(ranks)
    assert len(set(ranks)) == 10_000
    assert max(len(r) for r in ranks) <= 16


def test_ranks_between_bounds_and_refusals() -> None:
    ranks = ranks_between("a0", "a1", 50, rng=random.Random(4))
    assert all("a0" < r < "a1" for r in ranks)
    assert ranks == sorted(ranks)
    assert ranks_between(None, None, 0) == []
    with pytest.raises(ValidationError):
        ranks_between(None, None, -1)
    with pytest.raises(ValidationError):
        ranks_between(None, None, True)
    with pytest.raises(ValidationError):
        ranks_between("a1", "a0", 3)


def test_appending_and_prepending_stay_short() -> None:
    rng = random.Random(5)
    last = first = rank_between(None, None, rng=rng)
    for _ in range(2000):
        last = rank_between(last, None, rng=rng)
        first = rank_between(None, first, rng=rng)
    assert len(last) < 12 and len(first) < 12


valid_ranks = (
    st.lists(st.sampled_from(DIGITS), min_size=1, max_size=8)
    .map("".join)
    .map(lambda frac: "a" + DIGITS[1] + frac.rstrip("0") + "V")
)
generated = st.builds(
    lambda n, seed: ranks_between(None, None, n, rng=random.Random(seed)),
    st.integers(1, 30),
    st.integers(0, 2**32),
)


@given(st.data())
def test_between_any_two_valid_ranks(data: st.DataObject) -> None:
    pool = data.draw(generated) + [data.draw(valid_ranks), data.draw(valid_ranks)]
    a, b = sorted(data.draw(st.lists(st.sampled_from(pool), min_size=2, max_size=2, unique=True)))
    if a == b:
        return
    rank = rank_between(a, b, rng=random.Random(data.draw(st.integers(0, 2**32))))
    assert a < rank < b
    assert is_valid_rank(rank)
    assert rank[-1] != DIGITS[0]


@given(st.lists(st.floats(0, 1), min_size=1, max_size=150), st.integers(0, 2**32))
def test_random_insert_sequences_stay_sorted_and_distinct(
    positions: list[float], seed: int
) -> None:
    rng = random.Random(seed)
    ranks: list[str] = []
    for fraction in positions:
        index = round(fraction * len(ranks))
        before = ranks[index - 1] if index > 0 else None
        after = ranks[index] if index < len(ranks) else None
        rank = rank_between(before, after, rng=rng)
        assert (before is None or before < rank) and (after is None or rank < after)
        assert not rank.endswith(DIGITS[0])
        ranks.insert(index, rank)
    assert ranks == sorted(ranks)
    assert len(set(ranks)) == len(ranks)


@given(st.integers(0, 60), st.integers(0, 2**32), st.sampled_from([None, "a0", "Zz"]))
def test_ranks_between_property(count: int, seed: int, low: str | None) -> None:
    ranks = ranks_between(low, None, count, rng=random.Random(seed))
    assert len(ranks) == count
    assert ranks == sorted(ranks) and len(set(ranks)) == count
    assert all(is_valid_rank(r) and (low is None or r > low) for r in ranks)
    assert not any(r.endswith(DIGITS[0]) for r in ranks)
