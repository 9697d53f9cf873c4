"""Fakes of external services, served for real on 127.0.0.1."""

from tests.fakes.github import FakeEmail, FakeGitHub, FakeUser, RecordedRequest

__all__ = ["FakeEmail", "FakeGitHub", "FakeUser", "RecordedRequest"]
