"""The app `taskly serve` runs: every connection and API call authenticated, roles enforced.

Built from the settings: the server keys (`sync_server.access.server_keys`), the token
authenticator on `/sync`, the session, sign-in and workspace routes, GitHub sign-in when a
GitHub OAuth app is configured, and the rate limits (Redis-backed when TASKLY_REDIS_URL is set).
"""

from __future__ import annotations

from starlette.applications import Starlette

from storage import Store
from sync_server.access.authenticator import TokenAuthenticator
from sync_server.access.ratelimit import rate_limiter
from sync_server.access.server_keys import ServerKeys
from sync_server.access.tokens import AccessTokens
from sync_server.app import create_app
from sync_server.github_oauth import GitHubOAuthConfig
from sync_server.settings import Settings


def github_config(settings: Settings) -> GitHubOAuthConfig | None:
    """Return the GitHub OAuth app of the settings, or None when it is not configured."""
    if not (settings.github_client_id and settings.github_client_secret):
        return None
    return GitHubOAuthConfig(
        client_id=settings.github_client_id,
        client_secret=settings.github_client_secret,
        authorize_url=settings.github_authorize_url,
        access_token_url=settings.github_access_token_url,
        api_base_url=settings.github_api_url,
        redirect_url=settings.github_redirect_url,
    )


def secure_app(settings: Settings, store: Store, keys: ServerKeys) -> Starlette:
    """Return the fully protected Taskly app on `store` (which the caller opens and closes)."""
    return create_app(
        settings,
        store=store,
        authenticator=TokenAuthenticator(store, AccessTokens(keys.tokens)),
        tokens=keys.tokens,
        encryption=keys.encryption,
        github=github_config(settings),
        limiter=rate_limiter(settings),
    )
