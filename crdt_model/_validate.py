"""Argument checks for writes, and the predicates the projection shares with them.

Every check either returns the value to store or raises ValidationError naming the field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import date, datetime

from crdt_model._errors import ValidationError
from crdt_model._ids import is_canonical_id
from crdt_model._ranks import is_valid_rank
from crdt_model._schema import MAX_SAFE_INTEGER
from crdt_model._time import format_timestamp, parse_date, parse_timestamp

_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
# GitHub's own rules: owners are alphanumerics and single inner hyphens (max 39);
# repository names are alphanumerics, '.', '_' and '-' (max 100), but not '.' or '..'.
_OWNER = r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}"
_REPO_NAME = r"(?!\.{1,2}(?:#|$))[A-Za-z0-9._-]{1,100}"
_REPO = re.compile(rf"{_OWNER}/{_REPO_NAME}")
_PR_KEY = re.compile(rf"({_OWNER}/{_REPO_NAME})#([1-9][0-9]{{0,15}})")
_PREFIX = re.compile(r"[A-Z][A-Z0-9]{0,9}")


def is_utf8(value: str) -> bool:
    """True if `value` can be stored (encoded as UTF-8; lone surrogates cannot)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_name(value: str, maximum: int) -> bool:
    """True if `value` is 1..maximum characters once trimmed."""
    return 0 < len(value.strip()) <= maximum


def is_color(value: str) -> bool:
    """True if `value` is `#rrggbb`."""
    return _COLOR.fullmatch(value) is not None


def is_repo(value: str) -> bool:
    """True if `value` is a GitHub `owner/name`."""
    return _REPO.fullmatch(value) is not None


def is_card_prefix(value: str) -> bool:
    """True if `value` is a card key prefix: an upper-case letter then up to 9 of A-Z0-9."""
    return _PREFIX.fullmatch(value) is not None


def split_pr_key(value: str) -> tuple[str, int] | None:
    """Return (repo, number) of an `owner/repo#number` key, or None if it is not one."""
    match = _PR_KEY.fullmatch(value)
    if match is None:
        return None
    number = int(match.group(2))
    return (match.group(1), number) if number <= MAX_SAFE_INTEGER else None


def check_str(field: str, value: object, maximum: int, *, allow_empty: bool = True) -> str:
    """Return `value` if it is a storable string of at most `maximum` characters."""
    if not isinstance(value, str):
        raise ValidationError(field, f"must be a string, not {type(value).__name__}")
    if not is_utf8(value):
        raise ValidationError(field, "must be valid Unicode (no lone surrogates)")
    if len(value) > maximum:
        raise ValidationError(field, f"must be at most {maximum} characters")
    if not allow_empty and not value:
        raise ValidationError(field, "must not be empty")
    return value


def check_name(field: str, value: object, maximum: int) -> str:
    """Return `value` trimmed, if it is 1..maximum characters once trimmed."""
    text = check_str(field, value, 10 * maximum + 1000).strip()
    if not 0 < len(text) <= maximum:
        raise ValidationError(field, f"must be 1..{maximum} characters once trimmed")
    return text


def check_id(field: str, value: object) -> str:
    """Return `value` if it is a lower-case canonical UUID."""
    if not is_canonical_id(value):
        raise ValidationError(field, f"must be a lower-case canonical UUID, not {value!r}")
    assert isinstance(value, str)
    return value


def check_ids(field: str, values: Sequence[object]) -> list[str]:
    """Return the ids in `values`, each checked, duplicates removed, order kept."""
    if isinstance(values, str):
        raise ValidationError(field, "must be a sequence of ids, not a string")
    return list(dict.fromkeys(check_id(field, value) for value in values))


def check_int(field: str, value: object, low: int, high: int) -> int:
    """Return `value` as an int if it is an integral number in low..high (never a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(field, f"must be an integer, not {type(value).__name__}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError(field, "must be a finite number")
        if not value.is_integer():
            raise ValidationError(field, "must be a whole number")
    if abs(value) > MAX_SAFE_INTEGER:
        raise ValidationError(field, "must be below 2**53 in magnitude (JavaScript precision)")
    number = int(value)
    if not low <= number <= high:
        raise ValidationError(field, f"must be in {low}..{high}")
    return number


def check_opt_int(field: str, value: object, low: int, high: int) -> int | None:
    """Like check_int, but None is allowed."""
    return None if value is None else check_int(field, value, low, high)


def check_choice(field: str, value: object, choices: Sequence[str]) -> str:
    """Return `value` if it is one of `choices`."""
    if not isinstance(value, str) or value not in choices:
        raise ValidationError(field, f"must be one of {', '.join(choices)}; got {value!r}")
    return value


def check_opt_choice(field: str, value: object, choices: Sequence[str]) -> str | None:
    """Like check_choice, but None is allowed."""
    return None if value is None else check_choice(field, value, choices)


def check_date(field: str, value: object) -> str:
    """Return a date (a `date` or `YYYY-MM-DD` string) as `YYYY-MM-DD`."""
    if isinstance(value, datetime):
        raise ValidationError(field, "must be a date, not a datetime")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and parse_date(value) is not None:
        return value
    raise ValidationError(field, f"must be a YYYY-MM-DD date, not {value!r}")


def check_opt_date(field: str, value: object) -> str | None:
    """Like check_date, but None is allowed."""
    return None if value is None else check_date(field, value)


def check_timestamp(field: str, value: object) -> str:
    """Return a timestamp (an aware `datetime` or a schema string) as `…T…Z`."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValidationError(field, "must be timezone-aware")
        return format_timestamp(value)
    if isinstance(value, str):
        moment = parse_timestamp(value)
        if moment is not None:
            return format_timestamp(moment)
    raise ValidationError(field, f"must be an ISO-8601 UTC timestamp, not {value!r}")


def check_color(field: str, value: object) -> str:
    """Return a `#rrggbb` colour, lower-cased."""
    if not isinstance(value, str) or not is_color(value):
        raise ValidationError(field, f"must be #rrggbb, not {value!r}")
    return value.lower()


def check_repo(field: str, value: object) -> str | None:
    """Return a GitHub `owner/name`, or None."""
    if value is None:
        return None
    if not isinstance(value, str) or not is_repo(value):
        raise ValidationError(field, f"must be a GitHub owner/name, not {value!r}")
    return value


def check_pr_key(field: str, value: object) -> tuple[str, int]:
    """Return (repo, number) of an `owner/repo#number` key."""
    parsed = split_pr_key(value) if isinstance(value, str) else None
    if parsed is None:
        raise ValidationError(field, f"must be owner/repo#number, not {value!r}")
    return parsed


def check_card_prefix(field: str, value: object) -> str:
    """Return a card key prefix (`TSK`)."""
    if not isinstance(value, str) or not is_card_prefix(value):
        raise ValidationError(field, "must be an upper-case letter then up to 9 of A-Z0-9")
    return value


def check_rank(field: str, value: object) -> str:
    """Return `value` if it is a valid rank."""
    if not is_valid_rank(value):
        raise ValidationError(field, f"{value!r} is not a rank")
    assert isinstance(value, str)
    return value
