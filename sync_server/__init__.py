"""sync_server package."""
