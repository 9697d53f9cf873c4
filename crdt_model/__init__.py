"""The Taskly board schema over pycrdt: typed access, operations, ranks and projection.

Pure: nothing here does I/O.
"""

from crdt_model._api import Board
from crdt_model._board import new_board
from crdt_model._codec import apply_update, encode_state, load_doc
from crdt_model._diff import (
    BoardLevel,
    CardContext,
    ChangeTracker,
    FieldChange,
    Touched,
    card_changes,
    comment_changes,
    project_board_level,
    project_cards,
)
from crdt_model._errors import (
    ModelError,
    NotFoundError,
    OriginConflictError,
    UnsupportedUpdateFormat,
    UpdateDecodeError,
    ValidationError,
)
from crdt_model._ids import is_canonical_id, new_id, uuid7
from crdt_model._projection import project, project_card
from crdt_model._ranks import DIGITS, is_valid_rank, rank_between, ranks_between
from crdt_model._rows import (
    AutomationRow,
    BoardRow,
    CardProjection,
    CardRow,
    ColumnRow,
    CommentRow,
    GitRow,
    LabelRow,
    Projection,
    ProjectionWarning,
    PrRow,
    SprintRow,
)
from crdt_model._schema import (
    COLUMN_ROLES,
    PRIORITIES,
    SCHEMA_VERSION,
    STANDARD_COLUMNS,
)
from crdt_model._update_format import check_update_v1

__all__ = [
    "COLUMN_ROLES",
    "DIGITS",
    "PRIORITIES",
    "SCHEMA_VERSION",
    "STANDARD_COLUMNS",
    "AutomationRow",
    "Board",
    "BoardLevel",
    "BoardRow",
    "CardContext",
    "CardProjection",
    "CardRow",
    "ChangeTracker",
    "ColumnRow",
    "CommentRow",
    "FieldChange",
    "GitRow",
    "LabelRow",
    "ModelError",
    "NotFoundError",
    "OriginConflictError",
    "PrRow",
    "Projection",
    "ProjectionWarning",
    "SprintRow",
    "Touched",
    "UnsupportedUpdateFormat",
    "UpdateDecodeError",
    "ValidationError",
    "apply_update",
    "card_changes",
    "check_update_v1",
    "comment_changes",
    "encode_state",
    "is_canonical_id",
    "is_valid_rank",
    "load_doc",
    "new_board",
    "new_id",
    "project",
    "project_board_level",
    "project_card",
    "project_cards",
    "rank_between",
    "ranks_between",
    "uuid7",
]
