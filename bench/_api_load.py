"""Closed-loop HTTP load on the REST API: C clients for a fixed time, from this one process.

Each client holds one keep-alive HTTP/1.1 connection and the benchmark's bearer token; all C
run as asyncio tasks on one uvloop event loop in this process (pinned to the core the server
does not use). Two client implementations: `RawClient`, a minimal GET client on asyncio
streams (~0.1 ms of CPU per request), and `HttpxClient`, an `httpx.AsyncClient` (~1.5 ms:
enough to saturate the client core on cheap requests). A client sends a request, reads the
whole body, and sends the next: closed loop, so requests/s is what the server sustains with C
requests always outstanding. The clients share one cursor over the scenario's paths (every
board, every assignee, ...) so that consecutive requests ask for different things.

Timing: `warmup` seconds first (connections opened, caches warm), not counted; then the
window of `duration` seconds. Latency = response body read - request start (perf_counter),
for every request started inside the window (those still running at its end are awaited and
counted); requests/s = requests completed inside the window ÷ its length. CpuWatch measures
the CPU of this process, of the server's process tree, of the Postgres backends serving the
benchmark's database and of everything else over the same time, and SpeedProbe the host's
speed: a client near 100 % of its core would be setting the pace, and CPU taken by other
processes or a slow host make a figure suspect.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import uvloop
from _api_speed import SpeedProbe

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Scenario:
    """One kind of request: its name in the report and the paths the clients cycle through."""

    name: str
    label: str
    paths: list[str]


@dataclass
class _Tally:
    latencies: list[float] = field(default_factory=list)  # seconds
    statuses: Counter[int] = field(default_factory=Counter)
    completed_in_window: int = 0
    body_bytes: int = 0
    next_path: int = 0


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list (as bench/loadgen/stats.mjs computes it)."""
    rank = max(1, min(len(sorted_values), -(-len(sorted_values) * p // 100)))
    return sorted_values[int(rank) - 1]


def summarize_ms(seconds: list[float]) -> dict[str, Any]:
    """n, p50, p99, max and mean of samples given in seconds, in milliseconds."""
    if not seconds:
        return {"n": 0, "p50_ms": None, "p99_ms": None, "max_ms": None, "mean_ms": None}
    ordered = sorted(seconds)
    return {
        "n": len(ordered),
        "p50_ms": round(percentile(ordered, 50) * 1000, 2),
        "p99_ms": round(percentile(ordered, 99) * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 2),
    }


def jiffies(pids: list[int]) -> int:
    """utime + stime of `pids` (clock ticks); processes that are gone count 0."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total


def _machine_busy() -> int:
    """Busy jiffies of the whole machine (every CPU; all but idle and iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields) - fields[3] - fields[4]


class CpuWatch:
    """CPU use over an interval, in percent of one core: ours by group, and everybody else's.

    `groups()` names the processes that are part of the measurement (the server's tree, the
    Postgres backends serving our database, the Node generator); it is asked at the start and
    at the end, and a process that appeared meanwhile counts from zero. This process is
    `client`. `other` is the machine's busy time minus all of those: another session's test
    suite on this 2-core machine shows up there, and a figure taken with tens of percent of
    `other` is not comparable.
    """

    def __init__(self, groups: Callable[[], dict[str, list[int]]]) -> None:
        self.groups = groups
        self.wall = time.monotonic()
        self.busy = _machine_busy()
        self.start = {pid: jiffies([pid]) for pids in groups().values() for pid in pids}
        self.own = jiffies([os.getpid()])

    def stop(self) -> dict[str, float]:
        elapsed = max(1e-6, time.monotonic() - self.wall) * _TICKS
        out: dict[str, float] = {}
        accounted = 0
        for name, pids in self.groups().items():
            used = sum(jiffies([pid]) - self.start.get(pid, 0) for pid in set(pids))
            accounted += used
            out[f"{name}_cpu_percent"] = round(100 * used / elapsed, 1)
        own = jiffies([os.getpid()]) - self.own
        out["client_cpu_percent"] = round(100 * own / elapsed, 1)
        other = _machine_busy() - self.busy - accounted - own
        out["other_cpu_percent"] = round(max(0.0, 100 * other / elapsed), 1)
        return out


class RawClient:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams: GET only, Content-Length bodies.

    uvicorn answers every API response with Content-Length. httpx (h11, pure Python) spends
    about 1.5 ms of CPU per request here; this spends a small fraction of that, so the one
    client core is not what sets the pace for the cheap requests.
    """

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port = host, port
        self.head = f"Host: {host}:{port}\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, bytes]:
        """GET `path`; return (status, body). Reconnects once if the server closed the socket."""
        for attempt in (1, 2):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            assert self.reader is not None
            try:
                self.writer.write(b"GET " + path.encode() + b" HTTP/1.1\r\n" + self.head)
                head = await self.reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                await self.aclose()
                if attempt == 2:
                    raise
                continue
            lines = head.split(b"\r\n")
            status = int(lines[0].split(b" ", 2)[1])
            length = None
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if length is None:
                raise RuntimeError(f"GET {path}: no Content-Length in {head[:200]!r}")
            return status, await self.reader.readexactly(length)
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except ConnectionError:
                pass
        self.reader = self.writer = None


class HttpxClient:
    """One `httpx.AsyncClient` with a single keep-alive connection."""

    def __init__(self, base_url: str, token: str) -> None:
        self.client = httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}"},
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            timeout=120.0,
        )

    async def get(self, path: str) -> tuple[int, bytes]:
        response = await self.client.get(path)
        return response.status_code, response.content

    async def aclose(self) -> None:
        await self.client.aclose()


Client = RawClient | HttpxClient
CLIENT_KINDS = ("raw", "httpx")


async def _client(
    client: Client,
    scenario: Scenario,
    tally: _Tally,
    window: tuple[float, float],
) -> None:
    begin, end = window
    paths = scenario.paths
    while True:
        started = time.perf_counter()
        if started >= end:
            return
        path = paths[tally.next_path % len(paths)]
        tally.next_path += 1
        status, body = await client.get(path)
        done = time.perf_counter()
        if started >= begin:
            tally.latencies.append(done - started)
            tally.statuses[status] += 1
            tally.body_bytes += len(body)
            if done <= end:
                tally.completed_in_window += 1


async def _run(
    base_url: str,
    token: str,
    scenario: Scenario,
    clients: int,
    warmup: float,
    duration: float,
    kind: str,
) -> tuple[_Tally, float]:
    parts = urlsplit(base_url)
    assert parts.hostname is not None and parts.port is not None
    pool: list[Client] = [
        RawClient(parts.hostname, parts.port, token)
        if kind == "raw"
        else HttpxClient(base_url, token)
        for _ in range(clients)
    ]
    tally = _Tally()
    try:
        now = time.perf_counter()
        window = (now + warmup, now + warmup + duration)
        await asyncio.gather(*(_client(c, scenario, tally, window) for c in pool))
    finally:
        await asyncio.gather(*(c.aclose() for c in pool))
    return tally, duration


def run_scenario(
    base_url: str,
    token: str,
    scenario: Scenario,
    *,
    clients: int,
    warmup: float,
    duration: float,
    groups: Callable[[], dict[str, list[int]]],
    client_kind: str = "raw",
    probe_cpus: list[int] | None = None,
) -> dict[str, Any]:
    """Drive `scenario` with `clients` concurrent clients; return latency, rate and CPU use.

    The CPU figures and the host speed (`SpeedProbe` on `probe_cpus`) cover the warm-up and
    the window alike (seconds more of the same load).
    """
    probe = SpeedProbe(probe_cpus or [0, 1])
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            watch = CpuWatch(lambda: {**groups(), "probe": probe.pids})
            tally, seconds = runner.run(
                _run(base_url, token, scenario, clients, warmup, duration, client_kind)
            )
            cpu = watch.stop()
    finally:
        speed = probe.stop()
    return {
        "label": scenario.label,
        "clients": clients,
        "client": client_kind,
        "window_s": duration,
        "requests": len(tally.latencies),
        "requests_per_s": round(tally.completed_in_window / seconds, 1),
        "latency": summarize_ms(tally.latencies),
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        "mean_body_bytes": round(tally.body_bytes / max(1, len(tally.latencies))),
        **cpu,
        "host_loop_ms": speed,
    }
