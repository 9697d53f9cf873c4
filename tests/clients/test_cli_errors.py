"""Every failure of the client commands is one `taskly: …` line on stderr and a non-zero exit:
an empty client home, a missing board or card, bad input, and no network."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e._harness import TasklyServer

from ._cli import free_port, ok, one_line_failure, run_taskly

EMPTY_HOME_COMMANDS = [
    ["boards"],
    ["board", "show", "Demo"],
    ["card", "add", "Demo", "A card"],
    ["card", "move", "Demo", "TSK-1", "Done"],
    ["card", "edit", "Demo", "TSK-1", "--title", "x"],
    ["card", "archive", "Demo", "TSK-1"],
    ["sync"],
    ["sync", "Demo", "--watch"],
]


@pytest.mark.parametrize("args", EMPTY_HOME_COMMANDS, ids=" ".join)
def test_empty_home_says_log_in(home: Path, args: list[str]) -> None:
    line = one_line_failure(run_taskly(home, *args))
    assert "not logged in" in line and "taskly login" in line


def test_no_network(home: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    line = one_line_failure(run_taskly(home, "login", dead, "--token", "tsk_pat_x"))
    assert line == f"taskly: cannot reach {dead}: connection refused"
    assert not (home / "config.json").exists()
    link = one_line_failure(run_taskly(home, "login", f"{dead}/auth/link?code=abc"))
    assert "cannot reach" in link and "refused" in link


def test_refusals_from_a_live_server(server: TasklyServer, home: Path) -> None:
    store = server.store
    store.create_board("Demo")
    bad = one_line_failure(run_taskly(home, "login", server.http_url, "--token", "tsk_pat_nope"))
    assert "401" in bad, bad
    spent = one_line_failure(run_taskly(home, "login", f"{server.http_url}/auth/link?code=bogus"))
    assert "401" in spent and "sign-in link" in spent, spent
    ok(home, "login", server.http_url, "--token", store.owner.token)
    ok(home, "card", "add", "Demo", "First")

    cases = {
        ("board", "show", "Nope"): "no board 'Nope'",
        ("card", "add", "Nope", "x"): "no board 'Nope'",
        ("card", "add", "Demo", "   "): "bad input: title",
        ("card", "add", "Demo", "x", "--column", "Nowhere"): "no column 'Nowhere'",
        ("card", "move", "Demo", "TSK-99", "Done"): "no card 'TSK-99'",
        ("card", "edit", "Demo", "TSK-1", "--points", "500"): "bad input: points",
        ("card", "edit", "Demo", "TSK-1", "--points", "many"): "--points must be",
        ("card", "edit", "Demo", "TSK-1", "--due", "tomorrow"): "bad input: due",
        ("card", "edit", "Demo", "TSK-1"): "nothing to change",
        ("login", "ftp://example.org", "--token", "t"): "must start with http",
        ("card", "edit", "Demo", "TSK-1", "--priority", "bogus"): "invalid choice: 'bogus'",
        ("card", "add", "Demo"): "required: TITLE",
        ("card", "frob"): "invalid choice: 'frob'",
        ("board", "show"): "required: BOARD",
    }
    for args, expected in cases.items():
        line = one_line_failure(run_taskly(home, *args))
        assert expected in line, f"`taskly {' '.join(args)}`: {line}"

    server.stop()
    line = one_line_failure(run_taskly(home, "sync"))
    assert "cannot reach" in line and "connection refused" in line, line
    # Cached for offline use: the list still shows, with a note on stderr.
    listed = run_taskly(home, "boards")
    assert listed.returncode == 0 and "Demo" in listed.stdout
    assert listed.stderr.startswith("taskly: offline")
