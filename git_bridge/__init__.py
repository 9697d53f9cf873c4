"""git_bridge package."""
