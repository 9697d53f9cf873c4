"""Registers the Python client's commands (clients/python/cli.py) into `taskly`.

The server-admin commands work on a data dir; these work on the client home and a server's
API. Kept as a seam so that cli.py only adds two calls.
"""

from __future__ import annotations

from clients.python.cli import add_client_commands, is_client_command, run_client_command

__all__ = ["add_client_commands", "is_client_command", "run_client_command"]
