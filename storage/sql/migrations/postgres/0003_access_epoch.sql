-- 0003_access_epoch (Postgres): a counter that grows whenever someone's access may have shrunk:
-- a membership added, changed or removed, a personal access token revoked or deleted, a
-- session (refresh-token family) revoked, a user or a workspace deleted. A server polls it to
-- re-check its live connections. Triggers, not application code, bump it, so every writer
-- does: the `taskly` CLI in another process, another server on the same database, a hand-run
-- DELETE. Same shape as sqlite/0003_access_epoch.sql.
--
-- The triggers are constraint triggers, DEFERRABLE INITIALLY DEFERRED: the bump runs at
-- COMMIT, after every other row lock of the transaction is taken. Every writer therefore locks
-- the one epoch row last and only for the instant before commit, so the row cannot take part
-- in a deadlock with the rows it guards (a plain AFTER trigger could lock it in the middle of
-- a cascade while another transaction holds a membership row and waits for the epoch), and
-- the bump becomes visible exactly when the change does.

-- Exactly one row (id = TRUE).
CREATE TABLE access_epoch (
    id    BOOLEAN NOT NULL PRIMARY KEY DEFAULT TRUE CHECK (id),
    epoch BIGINT  NOT NULL
);
INSERT INTO access_epoch (id, epoch) VALUES (TRUE, 0);

CREATE FUNCTION bump_access_epoch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE access_epoch SET epoch = epoch + 1;
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER workspace_members_access_epoch
    AFTER INSERT OR UPDATE OR DELETE ON workspace_members
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION bump_access_epoch();

-- revoke_token keeps the first revocation time (coalesce): re-revoking changes nothing.
CREATE CONSTRAINT TRIGGER access_tokens_revoke_epoch
    AFTER UPDATE OF revoked_at ON access_tokens
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at)
    EXECUTE FUNCTION bump_access_epoch();

CREATE CONSTRAINT TRIGGER access_tokens_delete_epoch
    AFTER DELETE ON access_tokens
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION bump_access_epoch();

-- Rotation (used_at, a new row) is no access change; revoking or deleting a family is.
CREATE CONSTRAINT TRIGGER refresh_tokens_revoke_epoch
    AFTER UPDATE OF revoked_at ON refresh_tokens
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at)
    EXECUTE FUNCTION bump_access_epoch();

CREATE CONSTRAINT TRIGGER refresh_tokens_delete_epoch
    AFTER DELETE ON refresh_tokens
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION bump_access_epoch();

CREATE CONSTRAINT TRIGGER users_delete_epoch
    AFTER DELETE ON users
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION bump_access_epoch();

CREATE CONSTRAINT TRIGGER workspaces_delete_epoch
    AFTER DELETE ON workspaces
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION bump_access_epoch();
