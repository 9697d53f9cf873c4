-- 0004_materialized (SQLite): the materialized tables reshaped to hold exactly what
-- crdt_model.project gives, card activity, and full-text search over cards. Same shape as
-- postgres/0004_materialized.sql, except for how the search index is kept (FTS5 here).
--
-- The tables of 0001 could not hold a projection (a card with no column, two comments with the
-- same id, a PR linked from two cards with different data, the order of lists). They are derived
-- data that nothing had written yet, so they are dropped and created again, and every watermark
-- is reset: the materializer projects each board again from its document.

DELETE FROM projection_watermarks;

DROP TABLE card_pull_requests;
DROP TABLE pull_requests;
DROP TABLE card_labels;
DROP TABLE card_assignees;
DROP TABLE comments;
DROP TABLE cards;
DROP TABLE labels;
DROP TABLE sprints;
DROP TABLE board_columns;

-- The document's `board` map. name and card_prefix (from 0001) follow the document too; id and
-- workspace_id stay the server's (access checks use them), so what the document claims for
-- them is kept beside them. schema_version is NULL until the board's first projection.
ALTER TABLE boards ADD COLUMN repo TEXT;
ALTER TABLE boards ADD COLUMN schema_version INTEGER;
ALTER TABLE boards ADD COLUMN document_id TEXT;
ALTER TABLE boards ADD COLUMN document_workspace_id TEXT;
-- Which boards a GitHub repository's events concern.
CREATE INDEX boards_repo_idx ON boards (repo);

-- `position` is the row's index in the projection's order; reads sort by it.
CREATE TABLE board_columns (
    board_id  TEXT    NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
    id        TEXT    NOT NULL,
    name      TEXT    NOT NULL,
    rank      TEXT    NOT NULL,
    role      TEXT,
    wip_limit INTEGER,
    position  INTEGER NOT NULL,
    PRIMARY KEY (board_id, id)
);

CREATE TABLE labels (
    board_id TEXT    NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
    id       TEXT    NOT NULL,
    name     TEXT    NOT NULL,
    color    TEXT    NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (board_id, id)
);

CREATE TABLE sprints (
    board_id   TEXT    NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
    id         TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    start_date TEXT,
    end_date   TEXT,
    goal       TEXT    NOT NULL,
    capacity   INTEGER NOT NULL,
    position   INTEGER NOT NULL,
    PRIMARY KEY (board_id, id)
);

-- One row per card: every CardRow field. No foreign keys to columns, labels or sprints: the
-- projection already resolved them. labels, assignees (id lists, in the projection's order) and
-- git (the GitRow) are JSON; card_labels, card_assignees and card_pull_requests repeat them as
-- rows for the queries. row_id is an explicit rowid: the FTS index refers to cards by rowid, and
-- VACUUM may renumber the implicit rowid of a table without one.
CREATE TABLE cards (
    row_id        INTEGER PRIMARY KEY,
    board_id      TEXT    NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
    id            TEXT    NOT NULL,
    column_id     TEXT,
    raw_column_id TEXT,
    rank          TEXT    NOT NULL,
    number        INTEGER,
    key           TEXT,
    title         TEXT    NOT NULL,
    description   TEXT    NOT NULL,
    priority      TEXT    NOT NULL,
    points        INTEGER,
    due           TEXT,
    labels        TEXT    NOT NULL,
    assignees     TEXT    NOT NULL,
    sprint_id     TEXT,
    created_by    TEXT,
    created_at    INTEGER,
    archived      INTEGER NOT NULL CHECK (archived IN (0, 1)),
    git_branch    TEXT,
    git           TEXT    NOT NULL,
    -- A hash of the CardRow: a row is rewritten (and updated_at moved) only when it changed.
    fingerprint   BLOB    NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (board_id, id)
);
CREATE INDEX cards_column_idx ON cards (board_id, column_id, rank);
CREATE INDEX cards_number_idx ON cards (board_id, number);
CREATE INDEX cards_sprint_idx ON cards (board_id, sprint_id);
CREATE INDEX cards_due_idx ON cards (board_id, due);
CREATE INDEX cards_updated_idx ON cards (board_id, updated_at);

CREATE TABLE card_labels (
    board_id TEXT NOT NULL,
    card_id  TEXT NOT NULL,
    label_id TEXT NOT NULL,
    PRIMARY KEY (board_id, card_id, label_id),
    FOREIGN KEY (board_id, card_id) REFERENCES cards (board_id, id) ON DELETE CASCADE
);
CREATE INDEX card_labels_label_idx ON card_labels (board_id, label_id);

CREATE TABLE card_assignees (
    board_id TEXT NOT NULL,
    card_id  TEXT NOT NULL,
    user_id  TEXT NOT NULL,
    PRIMARY KEY (board_id, card_id, user_id),
    FOREIGN KEY (board_id, card_id) REFERENCES cards (board_id, id) ON DELETE CASCADE
);
CREATE INDEX card_assignees_user_idx ON card_assignees (board_id, user_id);

-- Which cards link a pull request (the PR's data is per card, in cards.git).
CREATE TABLE card_pull_requests (
    board_id TEXT    NOT NULL,
    card_id  TEXT    NOT NULL,
    repo     TEXT    NOT NULL,
    number   INTEGER NOT NULL,
    PRIMARY KEY (board_id, card_id, repo, number),
    FOREIGN KEY (board_id, card_id) REFERENCES cards (board_id, id) ON DELETE CASCADE
);
CREATE INDEX card_pull_requests_pr_idx ON card_pull_requests (repo, number);

-- A card's comments in array order; comment ids need not be unique (a malformed one reads "").
CREATE TABLE comments (
    board_id   TEXT    NOT NULL,
    card_id    TEXT    NOT NULL,
    position   INTEGER NOT NULL,
    id         TEXT    NOT NULL,
    author     TEXT,
    body       TEXT    NOT NULL,
    created_at INTEGER,
    PRIMARY KEY (board_id, card_id, position),
    FOREIGN KEY (board_id, card_id) REFERENCES cards (board_id, id) ON DELETE CASCADE
);

-- Who changed which field of a card, in which logged update; kept after the card is deleted.
-- old and new are JSON values.
CREATE TABLE card_activity (
    board_id     TEXT    NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
    card_id      TEXT    NOT NULL,
    seq          INTEGER NOT NULL,
    at           INTEGER NOT NULL,
    origin_kind  TEXT    NOT NULL
        CHECK (origin_kind IN ('user', 'api', 'git_bridge', 'import', 'server')),
    origin_actor TEXT,
    field        TEXT    NOT NULL,
    old          TEXT    NOT NULL,
    new          TEXT    NOT NULL
);
CREATE UNIQUE INDEX card_activity_card_idx ON card_activity (board_id, card_id, seq DESC, field);

-- Full-text search over title and description: an external-content FTS5 index over cards, kept
-- in step by the triggers below in the writing transaction. Diacritics are kept (as Postgres'
-- 'simple' configuration does), so "cafe" does not find "café" on either database.
CREATE VIRTUAL TABLE cards_fts USING fts5 (
    title, description,
    content = 'cards', content_rowid = 'row_id',
    tokenize = 'unicode61 remove_diacritics 0'
);

CREATE TRIGGER cards_fts_insert AFTER INSERT ON cards
BEGIN
    INSERT INTO cards_fts (rowid, title, description)
    VALUES (new.row_id, new.title, new.description);
END;

CREATE TRIGGER cards_fts_delete AFTER DELETE ON cards
BEGIN
    INSERT INTO cards_fts (cards_fts, rowid, title, description)
    VALUES ('delete', old.row_id, old.title, old.description);
END;

CREATE TRIGGER cards_fts_update AFTER UPDATE OF title, description ON cards
BEGIN
    INSERT INTO cards_fts (cards_fts, rowid, title, description)
    VALUES ('delete', old.row_id, old.title, old.description);
    INSERT INTO cards_fts (rowid, title, description)
    VALUES (new.row_id, new.title, new.description);
END;
