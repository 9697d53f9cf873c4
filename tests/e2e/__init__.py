"""End-to-end tests: the real `taskly serve` with real Yjs clients (Node and Python)."""
