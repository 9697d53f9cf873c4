"""The materialized-tables part of the Store protocol: projection writes and card queries."""

from __future__ import annotations

from typing import Protocol

from crdt_model import CommentRow
from storage._materialized_records import (
    CardActivity,
    CardHit,
    CardPage,
    CardQuery,
    MaterializedBoard,
    ProjectionBatch,
)


class MaterializedStore(Protocol):
    """Relational copies of the boards' documents, written only by the materializer.

    Activity paging: pass the last entry's seq and field as before_seq and before_field to get
    the next page (before_seq alone skips the rest of that seq's entries). `limit` is
    1..MAX_PAGE_LIMIT. Methods raise ValueError on a malformed argument (a batch whose parts
    disagree, a naive datetime, a bad limit or cursor).
    """

    async def apply_projection(self, board_id: str, batch: ProjectionBatch) -> bool:
        """Write `batch` and move the watermark from batch.from_seq to batch.projected_seq in
        one transaction, only if the watermark is batch.from_seq; else write nothing and return
        False (another writer projected the board meanwhile)."""
        ...

    async def read_materialized(self, board_id: str, *, cards: bool = True) -> MaterializedBoard:
        """Return the board as the tables hold it (no cards or comments unless `cards`);
        raise BoardNotFound."""
        ...

    async def list_comments(self, board_id: str, card_id: str) -> list[CommentRow]:
        """Return one card's comments, oldest first (none for an unknown card)."""
        ...

    async def get_card_row(self, board_id: str, card_id: str) -> CardHit:
        """Return one materialized card; raise CardNotFound."""
        ...

    async def query_cards(self, query: CardQuery) -> CardPage:
        """Return one page of the cards matching `query`; ValueError on a bad query or cursor."""
        ...

    async def list_card_activity(
        self,
        board_id: str,
        card_id: str,
        *,
        limit: int = 50,
        before_seq: int | None = None,
        before_field: str | None = None,
    ) -> list[CardActivity]:
        """Return a card's activity by (seq desc, field), after (before_seq, before_field)."""
        ...

    async def sprint_committed_points(self, board_id: str, sprint_id: str) -> int:
        """Return the sum of points of the sprint's unarchived cards; raise BoardNotFound."""
        ...
