-- 0002_auth (SQLite): users, personal access tokens, refresh-token families and workspace
-- members. Same shape as postgres/0002_auth.sql; times are INTEGER microseconds (UTC), flags
-- are 0/1 INTEGERs, hashes and ciphertexts BLOBs. No secret is ever stored in clear.

CREATE TABLE users (
    id                     TEXT    NOT NULL PRIMARY KEY,
    login                  TEXT    NOT NULL,
    -- lower(login): logins are unique case-insensitively.
    login_key              TEXT    NOT NULL,
    name                   TEXT    NOT NULL,
    email                  TEXT,
    github_id              INTEGER,
    github_login           TEXT,
    -- The GitHub access token, encrypted by the caller (AES-GCM); never plaintext.
    github_token_encrypted BLOB,
    is_local               INTEGER NOT NULL CHECK (is_local IN (0, 1)),
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL
);
CREATE UNIQUE INDEX users_login_key_idx ON users (login_key);
CREATE UNIQUE INDEX users_github_id_idx ON users (github_id);

-- Personal access tokens: only the caller's hash of the token is stored.
CREATE TABLE access_tokens (
    id           TEXT    NOT NULL PRIMARY KEY,
    user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    token_hash   BLOB    NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    revoked_at   INTEGER,
    last_used_at INTEGER
);
CREATE UNIQUE INDEX access_tokens_hash_idx ON access_tokens (token_hash);
CREATE INDEX access_tokens_user_idx ON access_tokens (user_id);

-- Refresh tokens: each rotation adds a row to the family and marks the old one used; a used
-- token presented again revokes the whole family (theft detection).
CREATE TABLE refresh_tokens (
    id         TEXT    NOT NULL PRIMARY KEY,
    family_id  TEXT    NOT NULL,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    revoked_at INTEGER
);
CREATE UNIQUE INDEX refresh_tokens_hash_idx ON refresh_tokens (token_hash);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);

CREATE TABLE workspace_members (
    workspace_id TEXT    NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role         TEXT    NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    added_at     INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, user_id)
);
CREATE INDEX workspace_members_user_idx ON workspace_members (user_id);
