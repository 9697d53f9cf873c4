"""git_bridge: built by a later issue (see README.md)."""
