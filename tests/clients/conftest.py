"""Fixtures for the Python client's tests: the e2e suite's real servers, plus a client home.

The e2e fixtures (real `taskly serve` processes on fresh SQLite stores, stopped with SIGINT at
teardown) are re-exported so that these tests boot the same servers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import board, clients, server, sqlite_store, taskly

__all__ = ["board", "clients", "home", "server", "sqlite_store", "taskly"]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty client home ($TASKLY_CLIENT_HOME)."""
    path = tmp_path / "client-home"
    path.mkdir()
    return path
