"""Materialization lag under the sync benchmark's W2: update stored → its rows visible.

W2 is bench/loadgen's `w2` command, unchanged (see bench/README.md): 50 y-websocket clients
in one board each add 20 cards (one update each), then all move their own cards, interleaved,
as fast as the generator can: 1,000 card moves, one update each, in a burst. It runs against a
real `taskly serve` on a board made with `taskly board create`, once per board, `runs` boards.

Timing, without touching the server:
- "update received" is the log row's `created_at`: the server stamps it when the room's
  writer starts the append (after the update was applied to the room's document, before its
  commit and broadcast). It is a wall-clock time in microseconds.
- "rows visible" is the first time a poller on its own connection to the database sees the
  board's watermark (`projection_watermarks.projected_seq`) at or beyond the row's seq. The
  materializer moves the watermark in the transaction that writes the rows, so from that
  instant every reader (the REST API included) sees them. The poller reads one row every
  POLL_INTERVAL (about 1 ms; the mean period is reported), in a thread of this process, on the
  core of the load generator.
Why not poll `GET /api/boards/{id}/cards/{card}`: the server is one event loop on one core;
hundreds of requests a second would compete with the very W2 traffic and projection being
measured, and would add the API's own latency to every sample. The tables are read instead,
and once afterwards every card's (column, rank) in them is compared with the writers' final
positions, and one card is read over REST.

Lag samples are the 1,000 card moves of each run (found by the `~Q<seq>~` marker their rank
carries in the stored update bytes); the seeds (one update of 20 cards per writer) are
reported apart.
"""

from __future__ import annotations

import bisect
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from _api_load import CpuWatch, summarize_ms
from _api_setup import Backend, Probe
from _api_speed import SpeedProbe
from _loadgen import LoadGen
from _servers import Server

POLL_INTERVAL = 0.001
SETTLE_TIMEOUT = 120.0
SEED_SEQ = 1_000_000  # bench/loadgen/workloads.mjs: seed markers are numbered from here
_MARKER = re.compile(rb"~Q(\d+)~(\d+)~")


class WatermarkPoller(threading.Thread):
    """Records (wall time, watermark) each time the board's watermark is seen to move."""

    def __init__(self, connect: Callable[[], Probe], board_id: str) -> None:
        super().__init__(daemon=True, name="watermark-poller")
        self.connect = connect
        self.board_id = board_id
        self.times: list[float] = []
        self.marks: list[int] = []
        self.polls = 0
        self.error: BaseException | None = None
        self._halting = threading.Event()
        self._polled = threading.Event()
        self._span = (0.0, 0.0)

    def run(self) -> None:
        try:
            probe = self.connect()
        except BaseException as exc:
            self.error = exc
            self._polled.set()
            return
        try:
            last = -1
            first = time.monotonic()
            while not self._halting.is_set():
                mark = probe.watermark(self.board_id)
                seen = time.time()
                self.polls += 1
                if mark != last:
                    self.times.append(seen)
                    self.marks.append(mark)
                    last = mark
                self._polled.set()
                time.sleep(POLL_INTERVAL)
            self._span = (first, time.monotonic())
        except BaseException as exc:
            self.error = exc
        finally:
            self._polled.set()
            probe.close()

    def wait_started(self, timeout: float = 10.0) -> None:
        """Wait until the first poll is done (raise what the poller raised)."""
        self._polled.wait(timeout)
        if self.error is not None:
            raise self.error

    def wait_for(self, seq: int, timeout: float) -> bool:
        """Wait until the watermark has been seen at or beyond `seq`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.error is not None:
                raise self.error
            if self.marks and self.marks[-1] >= seq:
                return True
            time.sleep(0.01)
        return False

    def halt(self) -> None:
        self._halting.set()
        self.join(10)

    @property
    def mean_period_ms(self) -> float:
        first, last = self._span
        return round(1000 * (last - first) / max(1, self.polls), 3)

    def visible_at(self, seq: int) -> float | None:
        """The first poll time at which the watermark was >= seq (watermarks only grow)."""
        index = bisect.bisect_left(self.marks, seq)
        return self.times[index] if index < len(self.marks) else None


def _classify(
    rows: list[tuple[int, int, bytes]],
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Split log rows into (seq, created_at µs) of card moves and of seeds, by their marker."""
    moves: list[tuple[int, int]] = []
    seeds: list[tuple[int, int]] = []
    for seq, created, data in rows:
        found = _MARKER.search(data)
        if found is None:
            continue
        (seeds if int(found.group(1)) >= SEED_SEQ else moves).append((seq, created))
    return moves, seeds


def _lags(poller: WatermarkPoller, rows: list[tuple[int, int]]) -> tuple[list[float], int]:
    lags, unseen = [], 0
    for seq, created in rows:
        seen = poller.visible_at(seq)
        if seen is None:
            unseen += 1
        else:
            lags.append(seen - created / 1_000_000)
    return lags, unseen


def _rest_card(server: Server, token: str, board_id: str, card_id: str) -> str | None:
    """One card's rank over REST (GET /api/boards/{id}/cards/{card}), None if not 200."""
    url = f"http://{server.host}:{server.port}/api/boards/{board_id}/cards/{card_id}"
    response = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    return response.json()["rank"] if response.status_code == 200 else None


def _one_run(
    backend: Backend,
    server: Server,
    token: str,
    loadgen: LoadGen,
    board_id: str,
    writers: int,
    edits: int,
) -> dict[str, Any]:
    probe = backend.probe()
    poller = WatermarkPoller(backend.probe, board_id)
    speed = None
    try:
        head_before = probe.head(board_id)
        poller.start()
        poller.wait_started()
        speed = SpeedProbe([0, 1])
        pids = speed.pids
        watch = CpuWatch(
            lambda: {
                "server": server.pids(),
                "postgres": probe.backend_pids(),
                "loadgen": [loadgen.proc.pid],
                "probe": pids,
            }
        )
        result = loadgen.call(
            "w2",
            url=server.url(board_id),
            room=board_id,
            writers=writers,
            editsPerClient=edits,
            deflate=False,
        )
        head = probe.head(board_id)  # every update is stored before it is broadcast
        settled = poller.wait_for(head, SETTLE_TIMEOUT)
        cpu = watch.stop()  # client = this process: the poller (and the idle HTTP side)
        host = speed.stop()
        rows = probe.log(board_id, head_before)
        positions = probe.positions(board_id)
    finally:
        if speed is not None:
            speed.stop()
        if poller.is_alive():
            poller.halt()
        probe.close()
    expected: dict[str, list[str]] = result["expected_positions"]
    mismatches = sum(
        1 for card, (column, rank) in expected.items() if positions.get(card) != (column, rank)
    )
    sample_card, (_, sample_rank) = next(iter(expected.items()))
    rest_ok = _rest_card(server, token, board_id, sample_card) == sample_rank
    moves, seeds = _classify(rows)
    move_lags, moves_unseen = _lags(poller, moves)
    seed_lags, _ = _lags(poller, seeds)
    return {
        "board_id": board_id,
        "log_rows": len(rows),
        "moves": len(moves),
        "seeds": len(seeds),
        "lag_moves": summarize_ms(move_lags),
        "lag_seeds": summarize_ms(seed_lags),
        "moves_not_seen_projected": moves_unseen,
        "settled": settled,
        "first_to_last_move_stored_ms": round((moves[-1][1] - moves[0][1]) / 1000, 1)
        if moves
        else None,
        "poll_mean_period_ms": poller.mean_period_ms,
        "polls": poller.polls,
        "cpu_until_projected": cpu,
        "host_loop_ms": host,
        "w2_converge_ms": result["converge_ms"],
        "w2_delivery_latency": result["latency"],
        "w2_check": result["check"],
        "rows_check": {
            "cards_expected": len(expected),
            "cards_in_table_mismatching": mismatches,
            "rest_card_matches": rest_ok,
        },
        "_lags": move_lags,
    }


def run_lag(
    backend: Backend,
    loadgen: LoadGen,
    log_dir: Path,
    *,
    runs: int,
    writers: int,
    edits: int,
    server_cpus: set[int] | None,
) -> dict[str, Any]:
    """`runs` W2 runs on fresh boards of one `taskly serve`; lag p50/p99 over all moves."""
    boards = [backend.cli("board", "create", f"bench w2 {i}").strip() for i in range(runs)]
    token = backend.provision_token("Default")
    server = backend.start(log_dir, token, server_cpus)
    out: dict[str, Any] = {"runs": []}
    try:
        for board_id in boards:
            out["runs"].append(_one_run(backend, server, token, loadgen, board_id, writers, edits))
            time.sleep(0.5)
    finally:
        out["exit_code"] = server.stop()
        out["server_log_tail"] = server.log_tail(5)
    every = [lag for run in out["runs"] for lag in run.pop("_lags")]
    out["lag_moves"] = summarize_ms(every)
    out["writers"], out["edits_per_writer"] = writers, edits
    return out
