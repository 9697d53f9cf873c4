"""The server's own keys: the token signing key and the encryption key for secrets at rest.

Both come from settings (`TASKLY_SECRET_KEY`, `TASKLY_ENCRYPTION_KEY`) when set. Otherwise
they are generated on the first start and kept in `<data dir>/secrets.json`, created with mode
0600 and never rewritten, so the embedded default needs no configuration and sessions survive
restarts. Several instances behind one Postgres must share the keys, so there they belong in
the environment; `taskly serve` warns when it falls back to the file with Postgres.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Final

import msgspec

from .crypto import KEY_BYTES, EncryptionConfig
from .keys import decode_key_text, encode_key_text
from .tokens import MIN_SIGNING_KEY_BYTES, TokenConfig

SECRETS_FILE: Final = "secrets.json"
SIGNING_KEY_BYTES: Final = 32


class ServerKeysError(Exception):
    """The keys cannot be read or created; the message names the file or setting, not a key."""


class _KeyFile(msgspec.Struct, forbid_unknown_fields=True):
    signing_key: str
    encryption_key: str


class ServerKeys(msgspec.Struct, frozen=True, kw_only=True):
    """The configuration built from the keys; `source` says where they came from."""

    tokens: TokenConfig
    encryption: EncryptionConfig
    source: str

    def __repr__(self) -> str:
        return f"ServerKeys(source={self.source!r})"

    __str__ = __repr__


def load_server_keys(
    data_dir: Path,
    *,
    secret_key: str | None = None,
    encryption_key: str | None = None,
    previous_encryption_keys: tuple[str, ...] = (),
) -> ServerKeys:
    """Return the keys from the given settings text, else from (or into) the data dir's file."""
    if (secret_key is None) != (encryption_key is None):
        raise ServerKeysError(
            "set both TASKLY_SECRET_KEY and TASKLY_ENCRYPTION_KEY, or neither "
            f"(then they are kept in {data_dir / SECRETS_FILE})"
        )
    if secret_key is not None and encryption_key is not None:
        signing, encryption, source = secret_key, encryption_key, "the environment"
    else:
        path = data_dir / SECRETS_FILE
        stored = _read_or_create(path)
        signing, encryption, source = stored.signing_key, stored.encryption_key, str(path)
    try:
        tokens = TokenConfig.from_text(signing)
    except ValueError:
        raise ServerKeysError(
            f"the signing key from {source} must be base64url text of at least "
            f"{MIN_SIGNING_KEY_BYTES} bytes"
        ) from None
    try:
        cipher = EncryptionConfig.from_text(encryption, previous_encryption_keys)
    except ValueError:
        raise ServerKeysError(
            f"the encryption keys from {source} must be base64url text of exactly {KEY_BYTES} bytes"
        ) from None
    return ServerKeys(tokens=tokens, encryption=cipher, source=source)


def new_key_text(size: int = SIGNING_KEY_BYTES) -> str:
    """Return a fresh random key as base64url text (what the settings take)."""
    return encode_key_text(secrets.token_bytes(size))


def _read_or_create(path: Path) -> _KeyFile:
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    fresh = _KeyFile(signing_key=new_key_text(), encryption_key=new_key_text(KEY_BYTES))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written to a private temporary file, then linked into place: a crash never leaves a
        # half-written file, and if another process won the race its keys are the ones kept.
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(msgspec.json.format(msgspec.json.encode(fresh)) + b"\n")
                out.flush()
                os.fsync(out.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
    except OSError as exc:
        raise ServerKeysError(f"cannot create {path}: {exc.strerror or exc}") from None
    return _read(path)


def _read(path: Path) -> _KeyFile:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ServerKeysError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        stored = msgspec.json.decode(raw, type=_KeyFile)
        decode_key_text(stored.signing_key, name="signing_key")
        decode_key_text(stored.encryption_key, name="encryption_key")
    except (msgspec.DecodeError, ValueError):
        raise ServerKeysError(f"{path} is damaged; restore it from a backup") from None
    return stored
