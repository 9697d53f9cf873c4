"""The sign-in and access settings: TASKLY_* variables parsed, refused with the variable's name,
and never shown in repr (secrets, database and Redis passwords)."""

from __future__ import annotations

import pytest

from sync_server.settings import (
    DEFAULT_RATE_LIMIT_PER_IP,
    DEFAULT_RATE_LIMIT_PER_USER,
    GITHUB_ACCESS_TOKEN_URL,
    GITHUB_API_URL,
    GITHUB_AUTHORIZE_URL,
    Settings,
    load_settings,
)

SECRET_KEY = "c2lnbmluZy1rZXktdGhhdC1pcy1zZWNyZXQtYW5kLWxvbmc"
ENCRYPTION_KEY = "ZW5jcnlwdGlvbi1rZXktdGhhdC1pcy1zZWNyZXQtISEhIQ"
PREVIOUS_KEYS = ("cHJldmlvdXMta2V5LW9uZS1vbmUtb25lLW9uZS1vbmUtb25l", "cHJldmlvdXMta2V5LXR3bw")
CLIENT_SECRET = "0123456789abcdef0123456789abcdef01234567"
DB_PASSWORD = "db-pa55word-XYZ"
REDIS_PASSWORD = "redis-pa55word-QRS"

URL_SETTINGS = {
    "TASKLY_PUBLIC_URL": "public_url",
    "TASKLY_GITHUB_AUTHORIZE_URL": "github_authorize_url",
    "TASKLY_GITHUB_ACCESS_TOKEN_URL": "github_access_token_url",
    "TASKLY_GITHUB_API_URL": "github_api_url",
    "TASKLY_GITHUB_REDIRECT_URL": "github_redirect_url",
}


def test_defaults_need_nothing_set() -> None:
    settings = load_settings({})
    assert settings.redis_url is None
    assert settings.rate_limit_per_user == DEFAULT_RATE_LIMIT_PER_USER == 100
    assert settings.rate_limit_per_ip == DEFAULT_RATE_LIMIT_PER_IP == 1000
    assert settings.secret_key is None and settings.encryption_key is None
    assert settings.encryption_previous_keys == ()
    assert settings.public_url is None
    assert settings.github_client_id is None and settings.github_client_secret is None
    assert not settings.github_enabled
    assert settings.github_authorize_url == GITHUB_AUTHORIZE_URL
    assert settings.github_access_token_url == GITHUB_ACCESS_TOKEN_URL
    assert settings.github_api_url == GITHUB_API_URL
    assert settings.github_redirect_url is None
    assert load_settings({}) == Settings()


def test_every_new_setting_is_read() -> None:
    settings = load_settings(
        {
            "TASKLY_REDIS_URL": "redis://127.0.0.1:6379/2",
            "TASKLY_RATE_LIMIT_PER_USER": "7",
            "TASKLY_RATE_LIMIT_PER_IP": "70",
            "TASKLY_SECRET_KEY": SECRET_KEY,
            "TASKLY_ENCRYPTION_KEY": ENCRYPTION_KEY,
            "TASKLY_ENCRYPTION_PREVIOUS_KEYS": f" {PREVIOUS_KEYS[0]} ,{PREVIOUS_KEYS[1]},, ",
            "TASKLY_PUBLIC_URL": "https://taskly.example.com",
            "TASKLY_GITHUB_CLIENT_ID": "Iv1.abc",
            "TASKLY_GITHUB_CLIENT_SECRET": CLIENT_SECRET,
            "TASKLY_GITHUB_AUTHORIZE_URL": "http://127.0.0.1:9000/login/oauth/authorize",
            "TASKLY_GITHUB_ACCESS_TOKEN_URL": "http://127.0.0.1:9000/login/oauth/access_token",
            "TASKLY_GITHUB_API_URL": "http://127.0.0.1:9000/",
            "TASKLY_GITHUB_REDIRECT_URL": "https://taskly.example.com/auth/github/callback",
        }
    )
    assert settings.redis_url == "redis://127.0.0.1:6379/2"
    assert (settings.rate_limit_per_user, settings.rate_limit_per_ip) == (7, 70)
    assert settings.secret_key == SECRET_KEY
    assert settings.encryption_key == ENCRYPTION_KEY
    assert settings.encryption_previous_keys == PREVIOUS_KEYS
    assert settings.public_url == "https://taskly.example.com"
    assert settings.github_client_id == "Iv1.abc"
    assert settings.github_client_secret == CLIENT_SECRET
    assert settings.github_enabled
    assert settings.github_authorize_url == "http://127.0.0.1:9000/login/oauth/authorize"
    assert settings.github_access_token_url == "http://127.0.0.1:9000/login/oauth/access_token"
    assert settings.github_api_url == "http://127.0.0.1:9000/"
    assert settings.github_redirect_url == "https://taskly.example.com/auth/github/callback"


def test_empty_values_mean_unset() -> None:
    blank = {
        name: ""
        for name in (
            "TASKLY_REDIS_URL",
            "TASKLY_RATE_LIMIT_PER_USER",
            "TASKLY_RATE_LIMIT_PER_IP",
            "TASKLY_SECRET_KEY",
            "TASKLY_ENCRYPTION_KEY",
            "TASKLY_ENCRYPTION_PREVIOUS_KEYS",
            "TASKLY_GITHUB_CLIENT_ID",
            "TASKLY_GITHUB_CLIENT_SECRET",
            *URL_SETTINGS,
        )
    }
    assert load_settings(blank) == Settings()


@pytest.mark.parametrize("only", ["TASKLY_GITHUB_CLIENT_ID", "TASKLY_GITHUB_CLIENT_SECRET"])
def test_github_is_enabled_only_with_both_id_and_secret(only: str) -> None:
    assert not load_settings({only: "x"}).github_enabled


@pytest.mark.parametrize("name", list(URL_SETTINGS))
@pytest.mark.parametrize(
    "bad",
    ["ftp://github.com/x", "github.com/login", "https://", "javascript:alert(1)", "//github.com"],
)
def test_bad_urls_are_refused_naming_the_variable(name: str, bad: str) -> None:
    with pytest.raises(ValueError) as caught:
        load_settings({name: bad})
    assert name in str(caught.value)


@pytest.mark.parametrize(
    "bad", ["http://127.0.0.1:6379", "127.0.0.1:6379", "redis//127.0.0.1", "postgresql://db/x"]
)
def test_a_bad_redis_url_is_refused_naming_the_variable(bad: str) -> None:
    """Else the mistake surfaces only when `taskly serve` builds the limiter, as a traceback."""
    with pytest.raises(ValueError) as caught:
        load_settings({"TASKLY_REDIS_URL": bad})
    assert "TASKLY_REDIS_URL" in str(caught.value)


@pytest.mark.parametrize(
    "good",
    ["redis://127.0.0.1:6379/0", "rediss://cache.example.com:6380", "unix:///run/redis.sock"],
)
def test_good_redis_urls_are_accepted(good: str) -> None:
    assert load_settings({"TASKLY_REDIS_URL": good}).redis_url == good


@pytest.mark.parametrize("name", ["TASKLY_RATE_LIMIT_PER_USER", "TASKLY_RATE_LIMIT_PER_IP"])
@pytest.mark.parametrize("bad", ["0", "-1", "many", "1.5", "1e3", " "])
def test_bad_limits_are_refused_naming_the_variable(name: str, bad: str) -> None:
    with pytest.raises(ValueError) as caught:
        load_settings({name: bad})
    assert name in str(caught.value)


def test_a_limit_of_one_is_fine() -> None:
    settings = load_settings({"TASKLY_RATE_LIMIT_PER_USER": "1", "TASKLY_RATE_LIMIT_PER_IP": "1"})
    assert (settings.rate_limit_per_user, settings.rate_limit_per_ip) == (1, 1)


def every_secret() -> Settings:
    return load_settings(
        {
            "TASKLY_DATABASE_URL": f"postgresql://taskly:{DB_PASSWORD}@db.example.com:5432/taskly",
            "TASKLY_REDIS_URL": f"redis://:{REDIS_PASSWORD}@cache.example.com:6379/0",
            "TASKLY_SECRET_KEY": SECRET_KEY,
            "TASKLY_ENCRYPTION_KEY": ENCRYPTION_KEY,
            "TASKLY_ENCRYPTION_PREVIOUS_KEYS": ",".join(PREVIOUS_KEYS),
            "TASKLY_GITHUB_CLIENT_ID": "Iv1.abc",
            "TASKLY_GITHUB_CLIENT_SECRET": CLIENT_SECRET,
        }
    )


def test_repr_never_shows_the_keys_or_the_client_secret() -> None:
    settings = every_secret()
    for shown in (repr(settings), str(settings), f"{settings}", f"{settings!r}"):
        for secret in (SECRET_KEY, ENCRYPTION_KEY, *PREVIOUS_KEYS, CLIENT_SECRET):
            assert secret not in shown
        assert "secret_key='***'" in shown and "github_client_secret='***'" in shown
        assert "Iv1.abc" in shown  # the client id is not a secret
        assert DB_PASSWORD not in shown
        assert "db.example.com" in shown  # where the database is, without the password


def test_repr_shows_unset_secrets_as_unset() -> None:
    shown = repr(Settings())
    assert "secret_key=None" in shown and "github_client_secret=None" in shown


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://taskly:{DB_PASSWORD}@db.example.com/taskly",
        f"postgres://taskly:{DB_PASSWORD}@db.example.com:5432/taskly?sslmode=require",
        f"postgresql://taskly:{DB_PASSWORD}@db.example.com/taskly?application_name=t@x",
        f"postgresql://db.example.com/taskly?user=taskly&password={DB_PASSWORD}",
    ],
    ids=["userinfo", "with-query", "at-sign-in-query", "password-parameter"],
)
def test_repr_never_shows_a_database_password(url: str) -> None:
    settings = load_settings({"TASKLY_DATABASE_URL": url})
    assert DB_PASSWORD not in repr(settings)
    assert DB_PASSWORD not in settings.database_label


def test_repr_never_shows_a_redis_password() -> None:
    settings = every_secret()
    assert REDIS_PASSWORD not in repr(settings)
    assert "cache.example.com" in repr(settings)
