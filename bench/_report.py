"""The one markdown table (Taskly beside each baseline, with ratios and targets) and checks."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from _servers import NODE, PYCRDT, TASKLY

Getter = Callable[[dict[str, Any]], float | None]


def _dig(result: dict[str, Any], *path: str) -> Any:
    for key in path:
        if not isinstance(result, dict) or key not in result:
            return None
        result = result[key]
    return result


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit in ("/s", "n"):
        return f"{value:,.0f}"
    if unit == "x":
        return f"{value:.2f}"
    return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.2f}"


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a is not None and b else "—"


Peers = dict[str, float | None]
Check = Callable[[float, Peers], bool]


class _NoPeer(Exception):
    """The target compares with a figure this run did not measure."""


def _peer(peers: Peers, key: str) -> float:
    value = peers.get(key)
    if value is None:
        raise _NoPeer(key)
    return value


def _at_most(factor: float, key: str) -> Check:
    return lambda t, peers: t <= factor * _peer(peers, key)


def _at_least(factor: float, key: str) -> Check:
    return lambda t, peers: t >= factor * _peer(peers, key)


def _below(limit: float) -> Check:
    return lambda t, peers: t <= limit


class Row:
    """One metric: how to read it from a server's results, and the target if there is one."""

    def __init__(
        self, label: str, unit: str, get: Getter, target: str = "", met: Check | None = None
    ) -> None:
        self.label, self.unit, self.get, self.target, self.met = label, unit, get, target, met


def _w1_rows(plan: Any) -> list[Row]:
    out: list[Row] = []
    top = str(max(plan.receivers))
    rate = f"{1000 / plan.paced_interval_ms:.0f} edits/s"

    def latency(k: str, p: str) -> Getter:
        return lambda r: _dig(r, "w1", k, "paced", "latency", f"{p}_ms")

    def burst(k: str) -> Getter:
        return lambda r: _dig(r, "w1", k, "burst", "deliveries_per_s")

    for c in map(str, plan.receivers):
        out.append(Row(f"W1 fan-out C={c}: latency p50 (ms, {rate})", "ms", latency(c, "p50")))
        label = f"W1 fan-out C={c}: latency p99 (ms, {rate})"
        if c == top:
            out.append(Row(label, "ms", latency(c, "p99"), "≤ 0.5x pycrdt", _at_most(0.5, PYCRDT)))
        else:
            out.append(Row(label, "ms", latency(c, "p99")))
    for c in map(str, plan.receivers):
        label = f"W1 burst C={c}: deliveries/s ({plan.burst_edits} edits back to back)"
        if c == top:
            target = "≥ 2x pycrdt (stretch: Node)"
            out.append(Row(label, "/s", burst(c), target, _at_least(2, PYCRDT)))
        else:
            out.append(Row(label, "/s", burst(c)))
    return out


def rows(plan: Any) -> list[Row]:
    """Every metric of the table, in order, with the issue's targets."""
    boards = f"W3 {plan.w3_boards} boards"
    return [
        *_w1_rows(plan),
        Row(
            f"W2 {plan.w2_writers} writers × {plan.w2_edits} edits: time to converge (ms)",
            "ms",
            lambda r: _dig(r, "w2", "converge_ms"),
            "≤ pycrdt",
            _at_most(1, PYCRDT),
        ),
        Row(
            "W2 lost + duplicated deliveries",
            "n",
            lambda r: _sum_or_none(
                _dig(r, "w2", "check", "lost_deliveries"),
                _dig(r, "w2", "check", "duplicate_deliveries"),
            ),
            "0",
            _below(0),
        ),
        Row(
            f"{boards}: server memory per loaded board (KiB)",
            "KiB",
            lambda r: _dig(r, "w3", "kib_per_board"),
            "≤ 100 KiB",
            _below(100),
        ),
        Row(
            f"{boards}: connect+sync p50 (ms)",
            "ms",
            lambda r: _dig(r, "w3", "connect_and_sync", "p50_ms"),
        ),
        Row(
            f"{boards}: connect+sync p99 (ms)",
            "ms",
            lambda r: _dig(r, "w3", "connect_and_sync", "p99_ms"),
            "≤ pycrdt",
            _at_most(1, PYCRDT),
        ),
        Row(
            f"W3 {plan.w3_cycles} load/idle-unload cycles: RSS last ÷ first",
            "x",
            lambda r: _dig(r, "w3", "cycles", "last_over_first"),
            "≤ 1.10",
            _below(1.10),
        ),
        Row(
            f"W4 {plan.w4_cards:,}-card board to synced pycrdt client, median (ms)",
            "ms",
            lambda r: _dig(r, "w4", "synced_ms_median"),
            "≤ 1.5x floor",
            _at_most(1.5, "floor"),
        ),
        Row(
            "W4 of which: connect → sync step 2 received, median (ms)",
            "ms",
            lambda r: _dig(r, "w4", "step2_received_ms_median"),
        ),
    ]


def _sum_or_none(*values: float | None) -> float | None:
    return None if any(v is None for v in values) else sum(v for v in values if v is not None)


NOISY_PERCENT = 10.0


def _noisy(result: dict[str, Any], label: str) -> bool:
    """Did other processes take > NOISY_PERCENT of a core during this row's workload?"""
    match = re.match(r"W(\d)[^C]*(?:C=(\d+))?", label)
    if match is None:
        return False
    workload = result.get(f"w{match.group(1)}") or {}
    if match.group(2) is not None:
        workload = workload.get(match.group(2)) or {}
    found = workload.get("interference") or {}
    return any(v > NOISY_PERCENT for v in found.values())


def table(results: dict[str, dict[str, Any]], plan: Any, floor_ms: float | None) -> str:
    head = (
        "| metric | Taskly (persists every update) | pycrdt-websocket (in memory) | "
        "Taskly ÷ pycrdt | Node @y/websocket-server (in memory) | Taskly ÷ Node | target | met |"
    )
    lines = [head, "|" + "---|" * 8]
    for row in rows(plan):
        values = {k: row.get(results[k]) if k in results else None for k in (TASKLY, PYCRDT, NODE)}
        t = values[TASKLY]
        met = "—"
        if row.met is not None:
            if t is None:
                met = "pending"
            else:
                try:
                    met = "yes" if row.met(t, {**values, "floor": floor_ms}) else "**no**"
                except _NoPeer:
                    met = "n/a (peer not run)"
        cells = {
            k: _fmt(values[k], row.unit)
            + (" †" if k in results and _noisy(results[k], row.label) else "")
            for k in (TASKLY, PYCRDT, NODE)
        }
        lines.append(
            f"| {row.label} | {cells[TASKLY]} | {cells[PYCRDT]} | "
            f"{_ratio(t, values[PYCRDT])} | {cells[NODE]} | "
            f"{_ratio(t, values[NODE])} | {row.target} | {met} |"
        )
    floor = _fmt(floor_ms, "ms")
    lines.append(
        f"| W4 floor: compacted state into a fresh pycrdt Doc, one process (ms) | {floor} "
        "| | | | | | |"
    )
    lines.append(
        f"\n† other processes took more than {NOISY_PERCENT:.0f}% of a core during that "
        "workload (`interference` in the JSON): not a clean figure."
    )
    return "\n".join(lines)


def count_checks(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, bool]]:
    """Per server and workload: every edit made is in every client (and in Taskly's store)."""
    out: dict[str, dict[str, bool]] = {}
    for kind, res in results.items():
        checks: dict[str, bool] = {}
        for c, w1 in (res.get("w1") or {}).items():
            checks[f"w1 C={c}"] = _clean(w1["check"]) and bool(w1["complete"])
        if "w2" in res:
            checks["w2"] = _clean(res["w2"]["check"]) and bool(res["w2"]["complete"])
        if "w3" in res:
            w3 = res["w3"]
            ok = w3["synced"] == w3["boards"] == w3["with_board"]
            if "stored_boards_ok" in w3:
                ok = ok and w3["stored_boards_ok"] == w3["boards"]
            checks["w3"] = ok
        if "w4" in res:
            checks["w4"] = bool(res["w4"]["check"]["every_card_and_edit_synced"])
        out[kind] = checks
    return out


def _clean(check: dict[str, Any]) -> bool:
    bad_keys = (
        "lost_deliveries",
        "duplicate_deliveries",
        "doc_card_mismatches",
        "clients_missing_writer_updates",
        "stored_writers_missing_updates",
        "stored_card_mismatches",
    )
    return all(check.get(k, 0) == 0 for k in bad_keys)


def worst_interference(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per server, the highest share of each core other processes took during a workload."""
    out: dict[str, dict[str, float]] = {}
    for kind, res in results.items():
        found: list[dict[str, float]] = []
        found += [w["interference"] for w in (res.get("w1") or {}).values() if "interference" in w]
        for key in ("w2", "w3", "w4"):
            if isinstance(res.get(key), dict) and "interference" in res[key]:
                found.append(res[key]["interference"])
        worst: dict[str, float] = {}
        for item in found:
            for cpu, value in item.items():
                worst[cpu] = max(worst.get(cpu, 0.0), value)
        out[kind] = worst
    return out
