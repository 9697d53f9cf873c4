-- 0004_materialized (Postgres): the materialized tables reshaped to hold exactly what
-- crdt_model.project gives, card activity, and full-text search over cards. Same shape as
-- sqlite/0004_materialized.sql, except for how the search index is kept (a generated tsvector).
--
-- The tables of 0001 could not hold a projection (a card with no column, two comments with the
-- same id, a PR linked from two cards with different data, the order of lists). They are derived
-- data that nothing had written yet, so they are dropped and created again, and every watermark
-- is reset: the materializer projects each board again from its document.
--
-- Text that is sorted or compared in keyset pagination (ids, ranks, activity fields) uses
-- COLLATE "C": byte order, which is what crdt_model sorts by and what SQLite does; a linguistic
-- collation would order ranks and ids differently and depend on the server's locale.
-- JSON columns are `json`, not `jsonb`: they are read back whole and never queried inside, and
-- `json` keeps the exact text (jsonb refuses the escape \u0000, which a string may hold).

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
ALTER TABLE boards
    ADD COLUMN repo                  TEXT,
    ADD COLUMN schema_version        INTEGER,
    ADD COLUMN document_id           TEXT,
    ADD COLUMN document_workspace_id TEXT;
-- Which boards a GitHub repository's events concern.
CREATE INDEX boards_repo_idx ON boards (repo);

-- `position` is the row's index in the projection's order; reads sort by it.
CREATE TABLE board_columns (
    board_id  TEXT    NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
    id        TEXT    NOT NULL,
    name      TEXT    NOT NULL,
    rank      TEXT    COLLATE "C" NOT NULL,
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
    start_date DATE,
    end_date   DATE,
    goal       TEXT    NOT NULL,
    capacity   INTEGER NOT NULL,
    position   INTEGER NOT NULL,
    PRIMARY KEY (board_id, id)
);

-- One row per card: every CardRow field. No foreign keys to columns, labels or sprints: the
-- projection already resolved them. labels, assignees (id lists, in the projection's order) and
-- git (the GitRow) are JSON; card_labels, card_assignees and card_pull_requests repeat them as
-- rows for the queries.
--
-- `search` is the full-text index of title and description with the 'simple' configuration:
-- lower-cased words, no stemming and no stop words. Boards are written in any language and
-- hold identifiers and card keys, which a language's stemmer and stop-word list would mangle
-- ('english' drops "it", "a", "who" and stems "running" to "run"), and it matches what FTS5's
-- unicode61 tokenizer does on SQLite. The description is indexed up to the schema's 100,000
-- characters, so a hostile document cannot exceed the 1 MB limit of a tsvector.
CREATE TABLE cards (
    board_id      TEXT    COLLATE "C" NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
    id            TEXT    COLLATE "C" NOT NULL,
    column_id     TEXT,
    raw_column_id TEXT,
    rank          TEXT    COLLATE "C" NOT NULL,
    number        BIGINT,
    key           TEXT,
    title         TEXT    NOT NULL,
    description   TEXT    NOT NULL,
    priority      TEXT    NOT NULL,
    points        INTEGER,
    due           DATE,
    labels        JSON    NOT NULL,
    assignees     JSON    NOT NULL,
    sprint_id     TEXT,
    created_by    TEXT,
    created_at    TIMESTAMPTZ,
    archived      BOOLEAN NOT NULL,
    git_branch    TEXT,
    git           JSON    NOT NULL,
    -- A hash of the CardRow: a row is rewritten (and updated_at moved) only when it changed.
    fingerprint   BYTEA   NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    search        TSVECTOR GENERATED ALWAYS AS (
        to_tsvector('simple'::regconfig, title || ' ' || left(description, 100000))
    ) STORED,
    PRIMARY KEY (board_id, id)
);
CREATE INDEX cards_column_idx ON cards (board_id, column_id, rank);
CREATE INDEX cards_number_idx ON cards (board_id, number);
CREATE INDEX cards_sprint_idx ON cards (board_id, sprint_id);
CREATE INDEX cards_due_idx ON cards (board_id, due);
CREATE INDEX cards_updated_idx ON cards (board_id, updated_at);
CREATE INDEX cards_search_idx ON cards USING gin (search);

CREATE TABLE card_labels (
    board_id TEXT COLLATE "C" NOT NULL,
    card_id  TEXT COLLATE "C" NOT NULL,
    label_id TEXT NOT NULL,
    PRIMARY KEY (board_id, card_id, label_id),
    FOREIGN KEY (board_id, card_id) REFERENCES cards (board_id, id) ON DELETE CASCADE
);
CREATE INDEX card_labels_label_idx ON card_labels (board_id, label_id);

CREATE TABLE card_assignees (
    board_id TEXT COLLATE "C" NOT NULL,
    card_id  TEXT COLLATE "C" NOT NULL,
    user_id  TEXT NOT NULL,
    PRIMARY KEY (board_id, card_id, user_id),
    FOREIGN KEY (board_id, card_id) REFERENCES cards (board_id, id) ON DELETE CASCADE
);
CREATE INDEX card_assignees_user_idx ON card_assignees (board_id, user_id);

-- Which cards link a pull request (the PR's data is per card, in cards.git).
CREATE TABLE card_pull_requests (
    board_id TEXT   COLLATE "C" NOT NULL,
    card_id  TEXT   COLLATE "C" NOT NULL,
    repo     TEXT   NOT NULL,
    number   BIGINT NOT NULL,
    PRIMARY KEY (board_id, card_id, repo, number),
    FOREIGN KEY (board_id, card_id) REFERENCES cards (board_id, id) ON DELETE CASCADE
);
CREATE INDEX card_pull_requests_pr_idx ON card_pull_requests (repo, number);

-- A card's comments in array order; comment ids need not be unique (a malformed one reads "").
CREATE TABLE comments (
    board_id   TEXT    COLLATE "C" NOT NULL,
    card_id    TEXT    COLLATE "C" NOT NULL,
    position   INTEGER NOT NULL,
    id         TEXT    NOT NULL,
    author     TEXT,
    body       TEXT    NOT NULL,
    created_at TIMESTAMPTZ,
    PRIMARY KEY (board_id, card_id, position),
    FOREIGN KEY (board_id, card_id) REFERENCES cards (board_id, id) ON DELETE CASCADE
);

-- Who changed which field of a card, in which logged update; kept after the card is deleted.
-- old and new are JSON values.
CREATE TABLE card_activity (
    board_id     TEXT    NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
    card_id      TEXT    NOT NULL,
    seq          BIGINT  NOT NULL,
    at           TIMESTAMPTZ NOT NULL,
    origin_kind  TEXT    NOT NULL
        CHECK (origin_kind IN ('user', 'api', 'git_bridge', 'import', 'server')),
    origin_actor TEXT,
    field        TEXT    COLLATE "C" NOT NULL,
    old          JSON    NOT NULL,
    new          JSON    NOT NULL
);
CREATE UNIQUE INDEX card_activity_card_idx ON card_activity (board_id, card_id, seq DESC, field);
