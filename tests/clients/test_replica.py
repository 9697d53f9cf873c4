"""BoardReplica without a server: durable edits, reopening, compaction, pending counts and two
processes sharing one replica file."""

from __future__ import annotations

from pathlib import Path

import pytest

from clients.python import BoardReplica, ReplicaError
from clients.python._replica import COMPACT_AFTER_ROWS
from crdt_model import new_board, new_id

USER = "01900000-0000-7000-8000-000000000001"


def seeded(path: Path) -> tuple[str, BoardReplica]:
    """A replica holding a board with the standard columns, as if synced once."""
    board_id = new_id()
    replica = BoardReplica.open(path, board_id)
    base = new_board(board_id, "Test", new_id(), standard_columns=True)
    replica.apply_remote(base.get_update())
    replica.confirm(replica.watermark(), replica.doc.get_state())
    return board_id, replica


def test_edits_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite3"
    board_id, replica = seeded(path)
    cards = [replica.board.create_card(f"card {i}", created_by=USER) for i in range(5)]
    replica.board.move_card(cards[0], column_id=replica.board.columns()[2].id)
    assert replica.pending_edits() == 6
    replica.close()
    with BoardReplica.open(path, board_id) as again:
        assert [c.title for c in again.board.cards()] == [f"card {i}" for i in range(1, 5)] + [
            "card 0"
        ]
        assert again.pending_edits() == 6
        # A new opening writes as a new Yjs client: clocks are never reused.
        assert again.doc.client_id != replica.doc.client_id


def test_confirm_moves_the_watermark_and_compaction_keeps_pending_rows(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite3"
    board_id, replica = seeded(path)
    first = [replica.board.create_card(f"a{i}", created_by=USER) for i in range(3)]
    replica.confirm(replica.watermark(), replica.doc.get_state())
    later = replica.board.create_card("later", created_by=USER)
    assert replica.pending_edits() == 1
    replica.compact()
    assert replica.file.count_rows() == 1  # only the unconfirmed edit stays a row
    replica.close()
    with BoardReplica.open(path, board_id) as again:
        assert {c.id for c in again.board.cards()} == {*first, later}
        assert again.pending_edits() == 1


def test_open_compacts_a_long_confirmed_log(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite3"
    board_id, replica = seeded(path)
    card = replica.board.create_card("busy", created_by=USER)
    for i in range(COMPACT_AFTER_ROWS + 10):
        replica.board.set_points(card, i % 100)
    replica.confirm(replica.watermark(), replica.doc.get_state())
    replica.close()
    with BoardReplica.open(path, board_id) as again:
        assert again.file.count_rows() == 0
        assert again.board.card(card).points == (COMPACT_AFTER_ROWS + 9) % 100


def test_two_processes_share_a_file(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite3"
    board_id, one = seeded(path)
    two = BoardReplica.open(path, board_id)
    seen: list[bytes] = []
    one.add_sink(seen.append)
    card = two.board.create_card("from two", created_by=USER)
    assert one.refresh() == 1 and one.board.card(card).title == "from two"
    assert len(seen) == 1  # offered to the sync session, which sends it
    assert one.refresh() == 0
    # Compaction by one never loses what two wrote, even rows one had not read yet.
    one.confirm(one.watermark(), one.doc.get_state())
    late = two.board.create_card("late", created_by=USER)
    two.confirm(two.watermark(), two.doc.get_state())
    one.compact()
    one.close()
    two.close()
    with BoardReplica.open(path, board_id) as again:
        assert {c.title for c in again.board.cards()} == {"from two", "late"}
        assert late in {c.id for c in again.board.cards()}


def test_wrong_board_and_garbage_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite3"
    _, replica = seeded(path)
    replica.close()
    with pytest.raises(ReplicaError, match="holds board"):
        BoardReplica.open(path, new_id())
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(ReplicaError):
        BoardReplica.open(junk, new_id())
