-- 0003_access_epoch (SQLite): a counter that grows whenever someone's access may have shrunk:
-- a membership added, changed or removed, a personal access token revoked or deleted, a
-- session (refresh-token family) revoked, a user or a workspace deleted. A server polls it to
-- re-check its live connections. Triggers, not application code, bump it, so every writer
-- does: the `taskly` CLI in another process, another server on the same database, a hand-run
-- DELETE. Same shape as postgres/0003_access_epoch.sql.

-- Exactly one row (id = 1).
CREATE TABLE access_epoch (
    id    INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    epoch INTEGER NOT NULL
);
INSERT INTO access_epoch (id, epoch) VALUES (1, 0);

CREATE TRIGGER workspace_members_insert_epoch AFTER INSERT ON workspace_members
BEGIN
    UPDATE access_epoch SET epoch = epoch + 1;
END;

CREATE TRIGGER workspace_members_update_epoch AFTER UPDATE ON workspace_members
BEGIN
    UPDATE access_epoch SET epoch = epoch + 1;
END;

CREATE TRIGGER workspace_members_delete_epoch AFTER DELETE ON workspace_members
BEGIN
    UPDATE access_epoch SET epoch = epoch + 1;
END;

-- revoke_token keeps the first revocation time (coalesce): re-revoking changes nothing.
CREATE TRIGGER access_tokens_revoke_epoch AFTER UPDATE OF revoked_at ON access_tokens
WHEN OLD.revoked_at IS NOT NEW.revoked_at
BEGIN
    UPDATE access_epoch SET epoch = epoch + 1;
END;

CREATE TRIGGER access_tokens_delete_epoch AFTER DELETE ON access_tokens
BEGIN
    UPDATE access_epoch SET epoch = epoch + 1;
END;

-- Rotation (used_at, a new row) is no access change; revoking or deleting a family is.
CREATE TRIGGER refresh_tokens_revoke_epoch AFTER UPDATE OF revoked_at ON refresh_tokens
WHEN OLD.revoked_at IS NOT NEW.revoked_at
BEGIN
    UPDATE access_epoch SET epoch = epoch + 1;
END;

CREATE TRIGGER refresh_tokens_delete_epoch AFTER DELETE ON refresh_tokens
BEGIN
    UPDATE access_epoch SET epoch = epoch + 1;
END;

CREATE TRIGGER users_delete_epoch AFTER DELETE ON users
BEGIN
    UPDATE access_epoch SET epoch = epoch + 1;
END;

CREATE TRIGGER workspaces_delete_epoch AFTER DELETE ON workspaces
BEGIN
    UPDATE access_epoch SET epoch = epoch + 1;
END;
