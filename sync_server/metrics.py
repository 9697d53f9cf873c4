"""Process metrics, rendered in the Prometheus text exposition format (version 0.0.4).

- `taskly_boards_loaded` (gauge): boards whose document is in memory;
- `taskly_connections` (gauge): open sync connections;
- `taskly_updates_total` (counter): document updates stored by this process;
- `taskly_updates_per_second` (gauge): updates stored per second over the last 10 seconds;
- `taskly_board_bytes{board}` (gauge): estimated memory held per loaded board (see rooms.py);
- `taskly_store_append_seconds` (summary): duration of each store append transaction, with
  0.5/0.9/0.99 quantiles over the last 1,024 appends, `_sum` and `_count` since start;
- `taskly_materialization_lag_seconds` (summary): per projected update, from its log row's
  `created_at` (stamped when the append starts) to the commit of the batch that projected it
  (rows visible to REST reads), quantiles over the last 1,024 updates; updates projected by a
  catch-up after a restart count too, so a lag after downtime shows here;
- `taskly_materializer_batches_total` (counter): projection batches written;
- `taskly_materializer_failing_boards` (gauge): boards whose store reads or writes are failing
  (being retried).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Final

RATE_WINDOW_SECONDS: Final = 10
QUANTILE_WINDOW: Final = 1024
QUANTILES: Final = (0.5, 0.9, 0.99)


class Metrics:
    """Counters the server updates as it works."""

    def __init__(self) -> None:
        self.connections = 0
        self.updates_total = 0
        self.store_failures = 0
        self.append_count = 0
        self.append_sum = 0.0
        self._append_recent: deque[float] = deque(maxlen=QUANTILE_WINDOW)
        self.lag_count = 0
        self.lag_sum = 0.0
        self._lag_recent: deque[float] = deque(maxlen=QUANTILE_WINDOW)
        self.batches_total = 0
        self.failing_boards = 0
        # per-second buckets: (second, count)
        self._rate: deque[list[int]] = deque()

    def observe_append(self, seconds: float, updates: int) -> None:
        """Record one append transaction of `updates` updates that took `seconds`."""
        self.append_count += 1
        self.append_sum += seconds
        self._append_recent.append(seconds)
        self.updates_total += updates
        now = int(time.monotonic())
        if self._rate and self._rate[-1][0] == now:
            self._rate[-1][1] += updates
        else:
            self._rate.append([now, updates])
        self._trim(now)

    def observe_projection(self, lags: Iterable[float]) -> None:
        """Record one projection batch whose updates waited `lags` seconds each."""
        self.batches_total += 1
        for lag in lags:
            self.lag_count += 1
            self.lag_sum += lag
            self._lag_recent.append(lag)

    def _trim(self, now: int) -> None:
        while self._rate and self._rate[0][0] <= now - RATE_WINDOW_SECONDS:
            self._rate.popleft()

    def updates_per_second(self) -> float:
        """Return the stored updates per second over the last 10 seconds."""
        now = int(time.monotonic())
        self._trim(now)
        return sum(count for _, count in self._rate) / RATE_WINDOW_SECONDS

    def append_quantiles(self) -> list[tuple[float, float]]:
        """Return (quantile, seconds) over the recent appends (NaN when there were none)."""
        return _quantiles(self._append_recent)

    def lag_quantiles(self) -> list[tuple[float, float]]:
        """Return (quantile, seconds) of the recent materialization lags (NaN: none yet)."""
        return _quantiles(self._lag_recent)

    def render(self, boards_loaded: int, board_bytes: Mapping[str, int]) -> str:
        """Return the metrics in the Prometheus text format."""
        lines: list[str] = []
        lines += _metric(
            "taskly_boards_loaded", "gauge", "Boards loaded in memory.", [("", boards_loaded)]
        )
        lines += _metric(
            "taskly_connections", "gauge", "Open sync connections.", [("", self.connections)]
        )
        lines += _metric(
            "taskly_updates_total",
            "counter",
            "Document updates stored.",
            [("", self.updates_total)],
        )
        lines += _metric(
            "taskly_updates_per_second",
            "gauge",
            f"Updates stored per second over the last {RATE_WINDOW_SECONDS} seconds.",
            [("", self.updates_per_second())],
        )
        lines += _metric(
            "taskly_board_bytes",
            "gauge",
            "Estimated memory held per loaded board, in bytes.",
            [(f'{{board="{_escape(board)}"}}', size) for board, size in board_bytes.items()],
        )
        samples: list[tuple[str, float]] = [
            (f'{{quantile="{q}"}}', value) for q, value in self.append_quantiles()
        ]
        lines += _metric(
            "taskly_store_append_seconds",
            "summary",
            "Duration of store append transactions.",
            samples,
        )
        lines.append(f"taskly_store_append_seconds_sum {_value(self.append_sum)}")
        lines.append(f"taskly_store_append_seconds_count {self.append_count}")
        lines += _metric(
            "taskly_materialization_lag_seconds",
            "summary",
            "From an update stored to its rows visible in the query tables.",
            [(f'{{quantile="{q}"}}', value) for q, value in self.lag_quantiles()],
        )
        lines.append(f"taskly_materialization_lag_seconds_sum {_value(self.lag_sum)}")
        lines.append(f"taskly_materialization_lag_seconds_count {self.lag_count}")
        lines += _metric(
            "taskly_materializer_batches_total",
            "counter",
            "Projection batches written.",
            [("", self.batches_total)],
        )
        lines += _metric(
            "taskly_materializer_failing_boards",
            "gauge",
            "Boards whose projection store calls are failing and being retried.",
            [("", self.failing_boards)],
        )
        return "\n".join(lines) + "\n"


def _quantiles(window: Iterable[float]) -> list[tuple[float, float]]:
    recent = sorted(window)
    if not recent:
        return [(q, math.nan) for q in QUANTILES]
    return [(q, recent[min(len(recent) - 1, int(q * len(recent)))]) for q in QUANTILES]


def _metric(
    name: str, kind: str, help_text: str, samples: Iterable[tuple[str, float]]
) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    lines += [f"{name}{labels} {_value(value)}" for labels, value in samples]
    return lines


def _value(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    return repr(float(value))


def _escape(label: str) -> str:
    return label.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
