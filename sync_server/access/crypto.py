"""Encryption at rest for GitHub access tokens: AES-256-GCM, bound to the owning user.

Stored format: 1 version byte, a 12-byte random nonce, then the AES-GCM ciphertext with its
16-byte tag. The associated data names the purpose and the user id, so a ciphertext copied to
another user's row (or reused for another purpose) fails to decrypt instead of leaking.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Final

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .keys import decode_key_text

VERSION: Final = 1
KEY_BYTES: Final = 32
NONCE_BYTES: Final = 12  # 96 bits: GCM's native nonce size; random is safe far below 2**32 uses
TAG_BYTES: Final = 16
_AAD_PREFIX: Final = b"taskly/github-token/v1/"


class EncryptionConfig(msgspec.Struct, frozen=True, kw_only=True):
    """The current key (encrypts) and older keys still accepted for decryption (rotation)."""

    key: bytes
    previous_keys: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        for key in (self.key, *self.previous_keys):
            if len(key) != KEY_BYTES:
                raise ValueError(f"encryption keys must be exactly {KEY_BYTES} bytes")

    def __repr__(self) -> str:
        return f"EncryptionConfig(key=<redacted>, previous_keys=<{len(self.previous_keys)}>)"

    __str__ = __repr__

    @classmethod
    def from_text(cls, key: str, previous_keys: Sequence[str] = ()) -> EncryptionConfig:
        """Build a config from base64url key text as found in settings."""
        name = "the encryption key"
        return cls(
            key=decode_key_text(key, name=name),
            previous_keys=tuple(decode_key_text(text, name=name) for text in previous_keys),
        )


class DecryptError(Exception):
    """A stored ciphertext could not be decrypted; the message never contains key or data."""


class UnsupportedVersion(DecryptError):
    """The ciphertext starts with a format version this code does not know."""


class MalformedCiphertext(DecryptError):
    """The ciphertext is too short to hold a version, nonce and tag."""


class DecryptionFailed(DecryptError):
    """No key authenticates the ciphertext: wrong key, wrong user, or tampered data."""


class TokenCipher:
    """Encrypts and decrypts secrets for one user at a time under an `EncryptionConfig`."""

    def __init__(self, config: EncryptionConfig) -> None:
        # Current key first: after a rotation most rows are re-encrypted under it.
        self._ciphers = tuple(AESGCM(key) for key in (config.key, *config.previous_keys))

    def __repr__(self) -> str:
        return f"TokenCipher(<{len(self._ciphers)} keys>)"

    def encrypt(self, plaintext: str, *, user_id: str) -> bytes:
        """Return the versioned ciphertext of `plaintext`, bound to `user_id`."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[0].encrypt(nonce, plaintext.encode("utf-8"), _aad(user_id))
        return bytes([VERSION]) + nonce + sealed

    def decrypt(self, blob: bytes, *, user_id: str) -> str:
        """Return the plaintext of `blob` if it was encrypted for `user_id` under a known key."""
        return self._open(blob, user_id)[1]

    def needs_rotation(self, blob: bytes, *, user_id: str) -> bool:
        """Return whether `blob` opens only under an older key, so it should be re-encrypted."""
        return self._open(blob, user_id)[0] > 0

    def _open(self, blob: bytes, user_id: str) -> tuple[int, str]:
        """Return the index of the key that opens `blob` and the plaintext."""
        if len(blob) < 1 + NONCE_BYTES + TAG_BYTES:
            raise MalformedCiphertext("the stored ciphertext is truncated")
        if blob[0] != VERSION:
            raise UnsupportedVersion(f"unknown ciphertext format version {blob[0]}")
        nonce, sealed = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
        aad = _aad(user_id)
        for index, cipher in enumerate(self._ciphers):
            try:
                plaintext = cipher.decrypt(nonce, sealed, aad)
            except InvalidTag:
                continue
            try:
                return index, plaintext.decode("utf-8")
            except UnicodeDecodeError:
                # Authenticated but not text: only our own bug could produce this.
                raise DecryptionFailed("the decrypted secret is not text") from None
        raise DecryptionFailed("the ciphertext does not authenticate for this user")


def _aad(user_id: str) -> bytes:
    """Return the associated data binding a ciphertext to its purpose, version and user."""
    if not user_id:
        raise ValueError("user_id must not be empty")
    return _AAD_PREFIX + user_id.encode("utf-8")
