"""clients: built by a later issue (see README.md)."""
