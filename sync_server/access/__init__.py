"""Access control: the permission matrix, session and API tokens, secrets encrypted at rest.

Pure building blocks (no I/O, no storage): the HTTP and WebSocket layers and storage wire them.
"""

from __future__ import annotations

from .crypto import (
    DecryptError,
    DecryptionFailed,
    EncryptionConfig,
    MalformedCiphertext,
    TokenCipher,
    UnsupportedVersion,
)
from .headers import (
    SecurityHeadersMiddleware,
    content_security_policy,
    cors_middleware,
    http_middleware,
    security_headers,
)
from .keys import decode_key_text, encode_key_text
from .permissions import (
    ACTIONS,
    DESCRIPTIONS,
    MATRIX,
    ROLES,
    Action,
    Role,
    allowed,
    may_change_role,
    may_invite,
    may_remove,
    render_matrix_markdown,
    render_role_rules_markdown,
)
from .ratelimit import (
    Decision,
    InProcessRateLimiter,
    RateLimiter,
    RateLimitMiddleware,
    RedisRateLimiter,
    rate_limiter,
)
from .tokens import (
    PAT_PREFIX,
    AccessClaims,
    AccessTokens,
    Clock,
    InvalidToken,
    IssuedAccessToken,
    IssuedSecret,
    Refusal,
    TokenConfig,
    hash_token,
    is_personal_access_token,
    new_personal_access_token,
    new_refresh_token,
    token_matches,
)

__all__ = [
    "ACTIONS",
    "DESCRIPTIONS",
    "MATRIX",
    "PAT_PREFIX",
    "ROLES",
    "AccessClaims",
    "AccessTokens",
    "Action",
    "Clock",
    "DecryptError",
    "DecryptionFailed",
    "EncryptionConfig",
    "InvalidToken",
    "IssuedAccessToken",
    "IssuedSecret",
    "MalformedCiphertext",
    "Refusal",
    "Role",
    "TokenCipher",
    "TokenConfig",
    "UnsupportedVersion",
    "allowed",
    "decode_key_text",
    "encode_key_text",
    "hash_token",
    "is_personal_access_token",
    "may_change_role",
    "may_invite",
    "may_remove",
    "new_personal_access_token",
    "new_refresh_token",
    "render_matrix_markdown",
    "render_role_rules_markdown",
    "token_matches",
]

# Rate limits and HTTP headers (sync_server/access/ratelimit.py, headers.py).
__all__ += [
    "Decision",
    "InProcessRateLimiter",
    "RateLimitMiddleware",
    "RateLimiter",
    "RedisRateLimiter",
    "SecurityHeadersMiddleware",
    "content_security_policy",
    "cors_middleware",
    "http_middleware",
    "rate_limiter",
    "security_headers",
]
