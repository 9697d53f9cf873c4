"""Timestamps (`2026-11-26T16:37:42Z`) and dates (`YYYY-MM-DD`) as the schema spells them."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# Writers emit whole seconds with a `Z`; readers also accept a fraction and `+00:00`
# because other Yjs clients (`new Date().toISOString()`) write milliseconds.
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|\+00:00)")


def format_timestamp(moment: datetime) -> str:
    """Return `moment` (timezone-aware) as an ISO-8601 UTC string with a `Z`."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("timestamp must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_timestamp() -> str:
    """Return the current time as an ISO-8601 UTC string."""
    return format_timestamp(datetime.now(UTC))


def parse_timestamp(text: str) -> datetime | None:
    """Return the aware datetime `text` denotes, or None if it is not a schema timestamp."""
    if _TIMESTAMP.fullmatch(text) is None:
        return None
    base = text[:19]
    try:
        moment = datetime.fromisoformat(base).replace(tzinfo=UTC)
    except ValueError:
        return None
    return moment


def parse_date(text: str) -> date | None:
    """Return the date `text` denotes, or None if it is not a `YYYY-MM-DD` date."""
    if _DATE.fullmatch(text) is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None
