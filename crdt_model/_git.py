"""The git-bridge fields of a card: branch, pull requests and the last automation.

Only the git bridge writes these; the checks keep what it copies from GitHub in shape.
"""

from __future__ import annotations

import re
from datetime import datetime

from msgspec import UNSET, UnsetType
from pycrdt import Map

from crdt_model import _schema as s
from crdt_model._base import BoardBase
from crdt_model._errors import NotFoundError, ValidationError
from crdt_model._read import YMap
from crdt_model._validate import (
    check_choice,
    check_int,
    check_opt_choice,
    check_pr_key,
    check_str,
    check_timestamp,
)

# A conservative subset of git's ref-name rules (git check-ref-format).
_BAD_BRANCH = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|^[-/.]|[/.]$|\.lock$")
_SHA = re.compile(r"[0-9a-f]{7,64}")
_URL = re.compile(r"https?://[^\s]+")


def check_branch(field: str, value: object) -> str | None:
    """Return a git branch name, or None."""
    if value is None:
        return None
    text = check_str(field, value, 255, allow_empty=False)
    if _BAD_BRANCH.search(text):
        raise ValidationError(field, f"{text!r} is not a valid git branch name")
    return text


def _check_opt_pattern(
    field: str, value: object, pattern: re.Pattern[str], what: str
) -> str | None:
    if value is None:
        return None
    text = check_str(field, value, s.SHORT_TEXT_MAX)
    if pattern.fullmatch(text) is None:
        raise ValidationError(field, f"must be {what}, not {text!r}")
    return text


class GitOps(BoardBase):
    """Setters for `card.git`, used by the git bridge."""

    def _git(self, card_id: str) -> YMap:
        return self._child_map(self._card_map(card_id), "git")

    def set_branch(self, card_id: str, branch: str | None, *, origin: object = None) -> None:
        """Record the card's git branch, or None."""
        value = check_branch("branch", branch)
        with self._write(origin):
            self._git(card_id)["branch"] = value

    def upsert_pr(
        self,
        card_id: str,
        key: str,
        *,
        title: str | UnsetType = UNSET,
        state: str | UnsetType = UNSET,
        url: str | None | UnsetType = UNSET,
        head_branch: str | None | UnsetType = UNSET,
        head_sha: str | None | UnsetType = UNSET,
        ci: str | None | UnsetType = UNSET,
        approvals: int | UnsetType = UNSET,
        updated_at: datetime | str | UnsetType = UNSET,
        origin: object = None,
    ) -> None:
        """Create or update the PR `owner/repo#number` on a card; unset fields are kept."""
        _repo, number = check_pr_key("key", key)
        fields: dict[str, object] = {}
        if not isinstance(title, UnsetType):
            fields["title"] = check_str("title", title, s.SHORT_TEXT_MAX)
        if not isinstance(state, UnsetType):
            fields["state"] = check_choice("state", state, s.PR_STATES)
        if not isinstance(url, UnsetType):
            fields["url"] = _check_opt_pattern("url", url, _URL, "an http(s) URL")
        if not isinstance(head_branch, UnsetType):
            fields["headBranch"] = check_branch("head_branch", head_branch)
        if not isinstance(head_sha, UnsetType):
            fields["headSha"] = _check_opt_pattern("head_sha", head_sha, _SHA, "a hex commit sha")
        if not isinstance(ci, UnsetType):
            fields["ci"] = check_opt_choice("ci", ci, s.CI_STATES)
        if not isinstance(approvals, UnsetType):
            fields["approvals"] = check_int("approvals", approvals, 0, s.APPROVALS_MAX)
        if not isinstance(updated_at, UnsetType):
            fields["updatedAt"] = check_timestamp("updated_at", updated_at)
        with self._write(origin):
            prs = self._child_map(self._git(card_id), "prs")
            existing = prs.get(key)
            if isinstance(existing, Map):
                existing["number"] = number
                for name, value in fields.items():
                    existing[name] = value
            else:
                defaults: dict[str, object] = {
                    "number": number,
                    "title": "",
                    "state": "open",
                    "url": None,
                    "headBranch": None,
                    "headSha": None,
                    "ci": None,
                    "approvals": 0,
                    "updatedAt": None,
                }
                prs[key] = Map({**defaults, **fields})

    def remove_pr(self, card_id: str, key: str, *, origin: object = None) -> None:
        """Unlink a PR from a card."""
        check_pr_key("key", key)
        with self._write(origin):
            prs = self._child_map(self._git(card_id), "prs")
            if key not in prs:
                raise NotFoundError("pull request", key)
            del prs[key]

    def set_last_automation(
        self,
        card_id: str,
        *,
        rule: str,
        pr: str | None,
        event: str,
        delivery_id: str,
        at: datetime | str,
        origin: object = None,
    ) -> None:
        """Record why the git bridge last moved the card."""
        if pr is not None:
            check_pr_key("pr", pr)
        fields = {
            "rule": check_str("rule", rule, s.SHORT_TEXT_MAX, allow_empty=False),
            "pr": pr,
            "event": check_str("event", event, s.SHORT_TEXT_MAX, allow_empty=False),
            "deliveryId": check_str(
                "delivery_id", delivery_id, s.SHORT_TEXT_MAX, allow_empty=False
            ),
            "at": check_timestamp("at", at),
        }
        with self._write(origin):
            self._git(card_id)["lastAutomation"] = Map(fields)

    def clear_last_automation(self, card_id: str, *, origin: object = None) -> None:
        """Set the card's lastAutomation back to null."""
        with self._write(origin):
            self._git(card_id)["lastAutomation"] = None
