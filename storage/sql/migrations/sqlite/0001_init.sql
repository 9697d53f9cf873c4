-- 0001_init (SQLite): workspaces, boards, the update log, snapshots, dated checkpoints, and the
-- materialized tables the REST API will read. Same shape as postgres/0001_init.sql; only types
-- differ. Times are INTEGER microseconds since the Unix epoch, UTC: exact, and they compare
-- numerically (fixed-width ISO text would too, but costs parsing on every read).
-- Dates (due, sprint start/end) are 'YYYY-MM-DD' TEXT, which sorts like the date.

CREATE TABLE workspaces (
    id          TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE boards (
    id               TEXT    NOT NULL PRIMARY KEY,
    workspace_id     TEXT    NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name             TEXT    NOT NULL,
    card_prefix      TEXT    NOT NULL,
    created_at       INTEGER NOT NULL,
    archived_at      INTEGER,
    -- Head of the update log: seqs are allocated from here inside the appending transaction,
    -- so they are unique and gap-free (a rolled-back append rolls the counter back too).
    last_seq         INTEGER NOT NULL DEFAULT 0,
    -- The next card number the server hands out (cards are numbered once, on first sight).
    next_card_number INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX boards_workspace_idx ON boards (workspace_id);

-- The append-only update log (Yjs v1 updates).
CREATE TABLE board_updates (
    board_id     TEXT    NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
    seq          INTEGER NOT NULL,
    data         BLOB    NOT NULL,
    created_at   INTEGER NOT NULL,
    origin_kind  TEXT    NOT NULL
        CHECK (origin_kind IN ('user', 'api', 'git_bridge', 'import', 'server')),
    origin_actor TEXT,
    PRIMARY KEY (board_id, seq)
);
CREATE INDEX board_updates_time_idx ON board_updates (board_id, created_at);

-- The current compacted state: every update with seq <= up_to_seq, merged.
CREATE TABLE board_snapshots (
    board_id   TEXT    NOT NULL PRIMARY KEY REFERENCES boards (id) ON DELETE CASCADE,
    state      BLOB    NOT NULL,
    up_to_seq  INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

-- History older than the retention window: the state of every folded update with
-- created_at <= as_of (as_of = last microsecond of a UTC day), written when up_to_seq was the head.
CREATE TABLE board_checkpoints (
    board_id  TEXT    NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
    as_of     INTEGER NOT NULL,
    up_to_seq INTEGER NOT NULL,
    state     BLOB    NOT NULL,
    PRIMARY KEY (board_id, as_of)
);

-- Materialized tables (written by the materializer, read by the REST API).
CREATE TABLE board_columns (
    board_id  TEXT NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
    id        TEXT NOT NULL,
    name      TEXT NOT NULL,
    rank      TEXT NOT NULL,
    role      TEXT,
    wip_limit INTEGER,
    PRIMARY KEY (board_id, id)
);

CREATE TABLE sprints (
    board_id   TEXT    NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
    id         TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    start_date TEXT,
    end_date   TEXT,
    goal       TEXT    NOT NULL DEFAULT '',
    capacity   INTEGER NOT NULL DEFAULT 40,
    PRIMARY KEY (board_id, id)
);

CREATE TABLE cards (
    board_id        TEXT    NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
    id              TEXT    NOT NULL,
    -- No foreign keys to columns or sprints: a card may name one that no longer exists.
    column_id       TEXT    NOT NULL,
    rank            TEXT    NOT NULL,
    number          INTEGER,
    title           TEXT    NOT NULL,
    description     TEXT    NOT NULL DEFAULT '',
    priority        TEXT    NOT NULL DEFAULT 'none',
    points          INTEGER,
    due             TEXT,
    sprint_id       TEXT,
    created_by      TEXT,
    created_at      INTEGER,
    archived        INTEGER NOT NULL DEFAULT 0 CHECK (archived IN (0, 1)),
    git_branch      TEXT,
    last_automation TEXT,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (board_id, id)
);
CREATE INDEX cards_column_idx ON cards (board_id, column_id, rank);
CREATE INDEX cards_number_idx ON cards (board_id, number);

CREATE TABLE labels (
    board_id TEXT NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
    id       TEXT NOT NULL,
    name     TEXT NOT NULL,
    color    TEXT NOT NULL,
    PRIMARY KEY (board_id, id)
);

-- No foreign key to labels: a card may carry a label id whose label was deleted.
CREATE TABLE card_labels (
    board_id TEXT NOT NULL,
    card_id  TEXT NOT NULL,
    label_id TEXT NOT NULL,
    PRIMARY KEY (board_id, card_id, label_id),
    FOREIGN KEY (board_id, card_id) REFERENCES cards (board_id, id) ON DELETE CASCADE
);

CREATE TABLE card_assignees (
    board_id TEXT NOT NULL,
    card_id  TEXT NOT NULL,
    user_id  TEXT NOT NULL,
    PRIMARY KEY (board_id, card_id, user_id),
    FOREIGN KEY (board_id, card_id) REFERENCES cards (board_id, id) ON DELETE CASCADE
);

-- Comments are keyed by card id in the document and may outlive a hard-deleted card.
CREATE TABLE comments (
    board_id   TEXT NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
    id         TEXT NOT NULL,
    card_id    TEXT NOT NULL,
    author     TEXT,
    body       TEXT NOT NULL,
    created_at INTEGER,
    PRIMARY KEY (board_id, id)
);
CREATE INDEX comments_card_idx ON comments (board_id, card_id);

CREATE TABLE pull_requests (
    board_id    TEXT    NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
    repo        TEXT    NOT NULL,
    number      INTEGER NOT NULL,
    title       TEXT    NOT NULL DEFAULT '',
    state       TEXT    NOT NULL,
    url         TEXT,
    head_branch TEXT,
    head_sha    TEXT,
    ci          TEXT,
    approvals   INTEGER NOT NULL DEFAULT 0,
    updated_at  INTEGER,
    PRIMARY KEY (board_id, repo, number)
);

CREATE TABLE card_pull_requests (
    board_id TEXT    NOT NULL,
    card_id  TEXT    NOT NULL,
    repo     TEXT    NOT NULL,
    number   INTEGER NOT NULL,
    PRIMARY KEY (board_id, card_id, repo, number),
    FOREIGN KEY (board_id, card_id) REFERENCES cards (board_id, id) ON DELETE CASCADE,
    FOREIGN KEY (board_id, repo, number)
        REFERENCES pull_requests (board_id, repo, number) ON DELETE CASCADE
);

-- How far the materializer has projected each board's log.
CREATE TABLE projection_watermarks (
    board_id      TEXT    NOT NULL PRIMARY KEY REFERENCES boards (id) ON DELETE CASCADE,
    projected_seq INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
