-- Card queries filtered by assignee or label across a workspace start from the person or the
-- label (a few thousand rows of 100,000) instead of scanning every card of every board: the
-- 0004 indexes start with board_id and serve only per-card lookups.
CREATE INDEX card_assignees_by_user_idx ON card_assignees (user_id, board_id, card_id);
CREATE INDEX card_labels_by_label_idx ON card_labels (label_id, board_id, card_id);
