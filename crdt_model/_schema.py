"""Constants of board schema version 1: root names, enumerations, limits and defaults."""

from __future__ import annotations

from typing import Final

SCHEMA_VERSION: Final = 1

ROOT_BOARD: Final = "board"
ROOT_COLUMNS: Final = "columns"
ROOT_CARDS: Final = "cards"
ROOT_LABELS: Final = "labels"
ROOT_SPRINTS: Final = "sprints"
ROOT_COMMENTS: Final = "comments"
ROOTS: Final = (ROOT_BOARD, ROOT_COLUMNS, ROOT_CARDS, ROOT_LABELS, ROOT_SPRINTS, ROOT_COMMENTS)

PRIORITIES: Final = ("none", "low", "medium", "high", "urgent")
COLUMN_ROLES: Final = ("backlog", "todo", "in_progress", "review", "done")
PR_STATES: Final = ("open", "draft", "merged", "closed")
CI_STATES: Final = ("pending", "success", "failure")

STANDARD_COLUMNS: Final = (
    ("Backlog", "backlog"),
    ("To do", "todo"),
    ("In progress", "in_progress"),
    ("Review", "review"),
    ("Done", "done"),
)
"""The five columns `add_standard_columns` creates: (name, role), in board order."""

# Largest integer magnitude JavaScript numbers hold exactly; also keeps pycrdt far from
# 2**63, where writing an int panics (a BaseException that escapes `except Exception`).
MAX_SAFE_INTEGER: Final = 2**53 - 1

BOARD_NAME_MAX: Final = 100
COLUMN_NAME_MAX: Final = 100
TITLE_MAX: Final = 255
LABEL_NAME_MAX: Final = 50
SPRINT_NAME_MAX: Final = 100
GOAL_MAX: Final = 500
COMMENT_BODY_MAX: Final = 20_000
DESCRIPTION_MAX: Final = 100_000
CARD_PREFIX_MAX: Final = 10
POINTS_MAX: Final = 99
WIP_LIMIT_MAX: Final = 999
CAPACITY_MAX: Final = 10_000
APPROVALS_MAX: Final = 1_000
SHORT_TEXT_MAX: Final = 1_000
"""Longest free-form string the git bridge may write (branch, sha, url, PR title, rule…)."""

DEFAULT_PRIORITY: Final = "none"
DEFAULT_CAPACITY: Final = 40
DEFAULT_CARD_PREFIX: Final = "TSK"
# Read in place of a missing or malformed name or title, so a row is never nameless.
DEFAULT_BOARD_NAME: Final = "Untitled board"
DEFAULT_COLUMN_NAME: Final = "Untitled column"
DEFAULT_TITLE: Final = "Untitled"
DEFAULT_LABEL_NAME: Final = "Untitled label"
DEFAULT_LABEL_COLOR: Final = "#888888"
DEFAULT_SPRINT_NAME: Final = "Untitled sprint"
# Read in place of a missing or malformed rank: sorts before every generated rank.
DEFAULT_RANK: Final = ""
