"""Column lists shared by the SQL backends: one order, read by every row-to-record converter."""

from __future__ import annotations

from typing import Final

BOARD_COLS: Final = "id, workspace_id, name, card_prefix, created_at, archived_at"
LOG_COLS: Final = "seq, data, created_at, origin_kind, origin_actor"
USER_COLS: Final = (
    "id, login, name, email, github_id, github_login, github_token_encrypted, is_local,"
    " created_at, updated_at"
)
TOKEN_COLS: Final = (
    "id, user_id, name, token_hash, created_at, expires_at, revoked_at, last_used_at"
)
REFRESH_COLS: Final = (
    "id, family_id, user_id, token_hash, created_at, expires_at, used_at, revoked_at"
)
