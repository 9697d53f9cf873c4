"""`python -m sync_server` runs the `taskly` command line."""

from sync_server.cli import main

main()
