"""Session and API tokens: JWT access tokens, opaque refresh tokens, personal access tokens.

Access tokens are short-lived HS256 JWTs (joserfc) that carry only who and when: `iss`, `sub`,
`iat`, `exp`, `jti`, plus `sid`, the refresh-token family (session) they were issued to, when
there is one: a live connection opened with the token ends when that session does. Refresh
tokens and personal access tokens are opaque random strings; the server keeps only
`hash_token(token)`, so a leaked database cannot be replayed as logins.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Any, Final

import msgspec
from joserfc import jwt
from joserfc.errors import BadSignatureError, JoseError, UnsupportedAlgorithmError
from joserfc.jwk import OctKey

from .keys import decode_key_text

ALGORITHM: Final = "HS256"
PAT_PREFIX: Final = "tsk_pat_"
MIN_SIGNING_KEY_BYTES: Final = 32
DEFAULT_ACCESS_TTL_SECONDS: Final = 15 * 60
DEFAULT_REFRESH_TTL_SECONDS: Final = 7 * 24 * 60 * 60
DEFAULT_LEEWAY_SECONDS: Final = 30
DEFAULT_ISSUER: Final = "taskly"
# Ours are ~300 characters; refusing anything far larger before parsing bounds the work a
# hostile client can make us do per connection attempt.
MAX_TOKEN_CHARS: Final = 4096
_REQUIRED_CLAIMS: Final = ("iss", "sub", "iat", "exp", "jti")

Clock = Callable[[], float]


class TokenConfig(msgspec.Struct, frozen=True, kw_only=True):
    """How access and refresh tokens are made; the signing key never appears in repr."""

    signing_key: bytes
    access_ttl_seconds: int = DEFAULT_ACCESS_TTL_SECONDS
    refresh_ttl_seconds: int = DEFAULT_REFRESH_TTL_SECONDS
    issuer: str = DEFAULT_ISSUER
    # Tolerated clock skew between instances for `iat`/`nbf` in the future and for `exp`.
    leeway_seconds: int = DEFAULT_LEEWAY_SECONDS

    def __post_init__(self) -> None:
        if len(self.signing_key) < MIN_SIGNING_KEY_BYTES:
            raise ValueError(f"the signing key must be at least {MIN_SIGNING_KEY_BYTES} bytes")
        if self.access_ttl_seconds <= 0 or self.refresh_ttl_seconds <= 0:
            raise ValueError("token lifetimes must be positive")
        if not 0 <= self.leeway_seconds <= 300:
            raise ValueError("the token leeway must be between 0 and 300 seconds")
        if not self.issuer:
            raise ValueError("the token issuer must not be empty")

    def __repr__(self) -> str:
        return (
            f"TokenConfig(signing_key=<{len(self.signing_key)} bytes>, "
            f"access_ttl_seconds={self.access_ttl_seconds}, "
            f"refresh_ttl_seconds={self.refresh_ttl_seconds}, issuer={self.issuer!r}, "
            f"leeway_seconds={self.leeway_seconds})"
        )

    __str__ = __repr__

    @classmethod
    def from_text(cls, signing_key: str, **options: Any) -> TokenConfig:
        """Build a config from a base64url signing key as found in settings."""
        key = decode_key_text(signing_key, name="the token signing key")
        return cls(signing_key=key, **options)


class Refusal(StrEnum):
    """Why a token was refused; safe to show to the client."""

    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad_signature"
    UNSUPPORTED_ALGORITHM = "unsupported_algorithm"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    MISSING_CLAIM = "missing_claim"
    INVALID_CLAIM = "invalid_claim"
    WRONG_ISSUER = "wrong_issuer"


_MESSAGES: Final = {
    Refusal.MALFORMED: "the token is not a well-formed JWT",
    Refusal.BAD_SIGNATURE: "the token's signature does not verify",
    Refusal.UNSUPPORTED_ALGORITHM: "the token is not signed with HS256",
    Refusal.EXPIRED: "the token has expired",
    Refusal.NOT_YET_VALID: "the token is not valid yet",
    Refusal.MISSING_CLAIM: "the token lacks a required claim",
    Refusal.INVALID_CLAIM: "the token has a claim of the wrong type or value",
    Refusal.WRONG_ISSUER: "the token was issued by someone else",
}


class InvalidToken(Exception):
    """A refused token; `reason` is a fixed sentence that never contains the token."""

    def __init__(self, refusal: Refusal) -> None:
        self.refusal = refusal
        self.reason = _MESSAGES[refusal]
        super().__init__(self.reason)


class AccessClaims(msgspec.Struct, frozen=True, kw_only=True):
    """The verified claims of an access token."""

    sub: str
    iat: float
    exp: float
    jti: str
    iss: str
    sid: str | None = None


class IssuedAccessToken(msgspec.Struct, frozen=True, kw_only=True):
    """A fresh access token and what the server may want to record about it."""

    token: str
    jti: str
    expires_at: float

    def __repr__(self) -> str:
        return f"IssuedAccessToken(token=<redacted>, jti={self.jti!r}, exp={self.expires_at})"

    __str__ = __repr__


class AccessTokens:
    """Issues and verifies HS256 access tokens under one `TokenConfig`."""

    def __init__(self, config: TokenConfig, *, clock: Clock = time.time) -> None:
        self._config = config
        self._key = OctKey.import_key(config.signing_key)
        self._clock = clock

    def __repr__(self) -> str:
        return f"AccessTokens(issuer={self._config.issuer!r})"

    def issue(self, user_id: str, *, session_id: str | None = None) -> IssuedAccessToken:
        """Return a signed access token for `user_id`, valid for the configured lifetime.

        `session_id` (the refresh-token family id) becomes the `sid` claim.
        """
        if not user_id:
            raise ValueError("user_id must not be empty")
        if session_id is not None and not session_id:
            raise ValueError("session_id must not be empty")
        # Whole seconds: NumericDate allows fractions, but many verifiers (and humans) expect ints.
        now = int(self._clock())
        expires_at = now + self._config.access_ttl_seconds
        jti = secrets.token_urlsafe(16)
        claims: dict[str, Any] = {
            "iss": self._config.issuer,
            "sub": user_id,
            "iat": now,
            "exp": expires_at,
            "jti": jti,
        }
        if session_id is not None:
            claims["sid"] = session_id
        token = jwt.encode({"alg": ALGORITHM}, claims, self._key, algorithms=[ALGORITHM])
        return IssuedAccessToken(token=token, jti=jti, expires_at=float(expires_at))

    def verify(self, token: str) -> AccessClaims:
        """Return the claims of a valid token, or raise InvalidToken saying why it is refused."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
            raise InvalidToken(Refusal.MALFORMED)
        if token.count(".") != 2:
            # Five segments would be JWE; we never issue those, so refuse before parsing.
            raise InvalidToken(Refusal.MALFORMED)
        try:
            # The algorithm list is pinned: `alg` in the header can never pick the algorithm,
            # so "none", HS512 or RS256 headers (key confusion) are all refused here.
            decoded = jwt.decode(token, self._key, algorithms=[ALGORITHM])
        except UnsupportedAlgorithmError:
            raise InvalidToken(Refusal.UNSUPPORTED_ALGORITHM) from None
        except BadSignatureError:
            raise InvalidToken(Refusal.BAD_SIGNATURE) from None
        except (JoseError, ValueError, TypeError, RecursionError):
            # Bad base64, bad JSON, a non-object header or payload, oversized integers...
            raise InvalidToken(Refusal.MALFORMED) from None
        if decoded.header.get("typ", "JWT") != "JWT":
            raise InvalidToken(Refusal.MALFORMED)
        return self._check_claims(decoded.claims)

    def _check_claims(self, claims: dict[str, Any]) -> AccessClaims:
        """Check required claims, their types, the issuer and the times."""
        # Checked here rather than by joserfc's JWTClaimsRegistry, which reports a wrong type and
        # a not-yet-valid time as the same InvalidClaimError; clients need to tell them apart.
        if any(claims.get(name) is None for name in _REQUIRED_CLAIMS):
            raise InvalidToken(Refusal.MISSING_CLAIM)
        iss, sub, jti = claims["iss"], claims["sub"], claims["jti"]
        if not all(isinstance(value, str) and value for value in (iss, sub, jti)):
            raise InvalidToken(Refusal.INVALID_CLAIM)
        # Optional, like `nbf`: absent is fine, present must be right (null included).
        sid = claims.get("sid")
        if "sid" in claims and not (isinstance(sid, str) and sid):
            raise InvalidToken(Refusal.INVALID_CLAIM)
        # Checked before times so a foreign token is reported as foreign even when also expired.
        if iss != self._config.issuer:
            raise InvalidToken(Refusal.WRONG_ISSUER)
        iat, exp = _numeric_date(claims["iat"]), _numeric_date(claims["exp"])
        nbf = _numeric_date(claims["nbf"]) if "nbf" in claims else None
        now, leeway = self._clock(), self._config.leeway_seconds
        if exp <= now - leeway:
            raise InvalidToken(Refusal.EXPIRED)
        if iat > now + leeway or (nbf is not None and nbf > now + leeway):
            raise InvalidToken(Refusal.NOT_YET_VALID)
        # Only a key holder could mint a longer-lived token, but capping the lifetime means a
        # shortened TTL in settings also retires tokens issued under the old, longer one.
        if exp - iat > self._config.access_ttl_seconds + leeway:
            raise InvalidToken(Refusal.INVALID_CLAIM)
        return AccessClaims(sub=sub, iat=iat, exp=exp, jti=jti, iss=iss, sid=sid)


def _numeric_date(value: object) -> float:
    """Return a JWT NumericDate as a float, refusing bools, strings, NaN, infinities, huge ints."""
    # bool is an int subclass and NaN compares false with everything (it would never expire).
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken(Refusal.INVALID_CLAIM)
    try:
        number = float(value)
    except OverflowError:
        raise InvalidToken(Refusal.INVALID_CLAIM) from None
    if not math.isfinite(number):
        raise InvalidToken(Refusal.INVALID_CLAIM)
    return number


class IssuedSecret(msgspec.Struct, frozen=True, kw_only=True):
    """An opaque token to hand out once, the hash to store, and when it expires (None: never)."""

    token: str
    token_hash: str
    expires_at: float | None

    def __repr__(self) -> str:
        return f"IssuedSecret(token=<redacted>, expires_at={self.expires_at})"

    __str__ = __repr__


def hash_token(token: str) -> str:
    """Return the hex SHA-256 of an opaque token: the only form in which it is stored.

    A fast hash is right here, unlike for passwords: these tokens carry 256 random bits, so
    nobody can brute-force a preimage however fast the hash is, and a slow KDF would only make
    every authenticated request slower. Being deterministic also lets storage look the hash up
    by index.
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_matches(token: str, stored_hash: str) -> bool:
    """Return whether `token` hashes to `stored_hash`, comparing in constant time."""
    return hmac.compare_digest(hash_token(token).encode("ascii"), stored_hash.encode("utf-8"))


def new_refresh_token(config: TokenConfig, *, clock: Clock = time.time) -> IssuedSecret:
    """Return a fresh opaque refresh token (32 random bytes) expiring after the refresh TTL."""
    token = secrets.token_urlsafe(32)
    expires_at = float(int(clock()) + config.refresh_ttl_seconds)
    return IssuedSecret(token=token, token_hash=hash_token(token), expires_at=expires_at)


def new_personal_access_token(expires_at: float | None = None) -> IssuedSecret:
    """Return a fresh personal access token: `tsk_pat_` + 32 random bytes, base64url."""
    # The prefix lets secret scanners (and our own auth) recognize a Taskly token at a glance.
    token = PAT_PREFIX + secrets.token_urlsafe(32)
    return IssuedSecret(token=token, token_hash=hash_token(token), expires_at=expires_at)


def is_personal_access_token(token: str) -> bool:
    """Return whether `token` looks like a personal access token rather than a JWT."""
    return token.startswith(PAT_PREFIX)
