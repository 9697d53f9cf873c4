"""Public home of the fractional ranks (see crdt_model._ranks)."""

from crdt_model._ranks import DIGITS, is_valid_rank, rank_between, ranks_between

__all__ = ["DIGITS", "is_valid_rank", "rank_between", "ranks_between"]
