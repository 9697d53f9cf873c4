"""UTC time helpers: every stored time is timezone-aware UTC with microsecond precision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_DAY = timedelta(days=1)
ONE_MICROSECOND = timedelta(microseconds=1)


def utc_now() -> datetime:
    """Return the current time, timezone-aware UTC."""
    return datetime.now(UTC)


def as_utc(at: datetime) -> datetime:
    """Return `at` in UTC; refuse naive datetimes, whose meaning would depend on the machine."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime {at!r}: pass a timezone-aware datetime")
    return at.astimezone(UTC)


def to_micros(at: datetime) -> int:
    """Return `at` as integer microseconds since the Unix epoch (SQLite's storage format)."""
    delta = as_utc(at) - _EPOCH
    # timedelta arithmetic is exact; float timestamps would round at microsecond scale.
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    """Return the UTC datetime for integer microseconds since the Unix epoch."""
    return _EPOCH + timedelta(microseconds=micros)


def start_of_day(at: datetime) -> datetime:
    """Return midnight UTC of the UTC day containing `at`."""
    return as_utc(at).replace(hour=0, minute=0, second=0, microsecond=0)


def end_of_day(at: datetime) -> datetime:
    """Return the last microsecond of the UTC day containing `at` (a checkpoint's as_of)."""
    return start_of_day(at) + ONE_DAY - ONE_MICROSECOND
