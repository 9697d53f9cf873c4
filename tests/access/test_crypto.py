"""GitHub access tokens encrypted at rest: AES-GCM, bound to the user, keys rotatable."""

from __future__ import annotations

import base64
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync_server.access import (
    DecryptError,
    DecryptionFailed,
    EncryptionConfig,
    MalformedCiphertext,
    TokenCipher,
    UnsupportedVersion,
    encode_key_text,
)
from sync_server.access.crypto import NONCE_BYTES, TAG_BYTES, VERSION

KEY = bytes(range(32))
OLD_KEY = bytes(range(100, 132))
SECRET = "gho_16C7e42F292c6912E7710c838347Ae178B4a"


@pytest.fixture
def cipher() -> TokenCipher:
    return TokenCipher(EncryptionConfig(key=KEY))


def test_round_trip(cipher: TokenCipher) -> None:
    blob = cipher.encrypt(SECRET, user_id="u1")
    assert cipher.decrypt(blob, user_id="u1") == SECRET


def test_format_is_version_nonce_ciphertext_tag(cipher: TokenCipher) -> None:
    blob = cipher.encrypt(SECRET, user_id="u1")
    assert blob[0] == VERSION == 1
    assert len(blob) == 1 + NONCE_BYTES + len(SECRET.encode()) + TAG_BYTES
    assert SECRET.encode() not in blob


def test_fresh_nonce_every_time(cipher: TokenCipher) -> None:
    blobs = {cipher.encrypt(SECRET, user_id="u1") for _ in range(100)}
    assert len(blobs) == 100
    assert len({blob[1 : 1 + NONCE_BYTES] for blob in blobs}) == 100


def test_ciphertext_moved_to_another_user_fails(cipher: TokenCipher) -> None:
    blob = cipher.encrypt(SECRET, user_id="u1")
    with pytest.raises(DecryptionFailed):
        cipher.decrypt(blob, user_id="u2")
    with pytest.raises(DecryptionFailed):
        cipher.decrypt(blob, user_id="u1 ")


def test_wrong_key_fails(cipher: TokenCipher) -> None:
    blob = TokenCipher(EncryptionConfig(key=OLD_KEY)).encrypt(SECRET, user_id="u1")
    with pytest.raises(DecryptionFailed):
        cipher.decrypt(blob, user_id="u1")


def test_unknown_version(cipher: TokenCipher) -> None:
    blob = cipher.encrypt(SECRET, user_id="u1")
    with pytest.raises(UnsupportedVersion):
        cipher.decrypt(bytes([2]) + blob[1:], user_id="u1")


@pytest.mark.parametrize("length", [0, 1, 12, 1 + NONCE_BYTES + TAG_BYTES - 1])
def test_truncated(cipher: TokenCipher, length: int) -> None:
    blob = cipher.encrypt(SECRET, user_id="u1")
    with pytest.raises(MalformedCiphertext):
        cipher.decrypt(blob[:length], user_id="u1")


def test_empty_secret_round_trips(cipher: TokenCipher) -> None:
    blob = cipher.encrypt("", user_id="u1")
    assert cipher.decrypt(blob, user_id="u1") == ""


def test_empty_user_id_is_refused(cipher: TokenCipher) -> None:
    with pytest.raises(ValueError):
        cipher.encrypt(SECRET, user_id="")


def test_rotation_decrypts_old_and_encrypts_new() -> None:
    old = TokenCipher(EncryptionConfig(key=OLD_KEY))
    rotated = TokenCipher(EncryptionConfig(key=KEY, previous_keys=(OLD_KEY,)))
    old_blob = old.encrypt(SECRET, user_id="u1")
    assert rotated.decrypt(old_blob, user_id="u1") == SECRET
    assert rotated.needs_rotation(old_blob, user_id="u1")
    new_blob = rotated.encrypt(SECRET, user_id="u1")
    assert not rotated.needs_rotation(new_blob, user_id="u1")
    with pytest.raises(DecryptionFailed):
        old.decrypt(new_blob, user_id="u1")
    with pytest.raises(DecryptionFailed):
        rotated.needs_rotation(old_blob, user_id="u2")


@given(
    secret=st.text(max_size=200),
    position=st.integers(min_value=0),
    bit=st.integers(min_value=0, max_value=7),
)
def test_any_bit_flip_fails_to_decrypt(secret: str, position: int, bit: int) -> None:
    cipher = TokenCipher(EncryptionConfig(key=KEY))
    blob = bytearray(cipher.encrypt(secret, user_id="u1"))
    blob[position % len(blob)] ^= 1 << bit
    with pytest.raises(DecryptError):
        cipher.decrypt(bytes(blob), user_id="u1")


@given(secret=st.text(max_size=200), user_id=st.text(min_size=1, max_size=40))
def test_round_trip_any_text(secret: str, user_id: str) -> None:
    cipher = TokenCipher(EncryptionConfig(key=KEY, previous_keys=(OLD_KEY,)))
    assert cipher.decrypt(cipher.encrypt(secret, user_id=user_id), user_id=user_id) == secret


@given(st.binary(max_size=100))
def test_random_bytes_never_decrypt(blob: bytes) -> None:
    cipher = TokenCipher(EncryptionConfig(key=KEY))
    with pytest.raises(DecryptError):
        cipher.decrypt(blob, user_id="u1")


@pytest.mark.parametrize("length", [0, 16, 24, 31, 33, 64])
def test_config_requires_32_byte_keys(length: int) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        EncryptionConfig(key=b"k" * length)
    with pytest.raises(ValueError, match="32 bytes"):
        EncryptionConfig(key=KEY, previous_keys=(b"k" * length,))


def test_config_from_base64url_text() -> None:
    config = EncryptionConfig.from_text(encode_key_text(KEY), [encode_key_text(OLD_KEY)])
    assert (config.key, config.previous_keys) == (KEY, (OLD_KEY,))
    padded = base64.urlsafe_b64encode(KEY).decode()
    assert EncryptionConfig.from_text(padded).key == KEY
    with pytest.raises(ValueError, match="base64url") as caught:
        EncryptionConfig.from_text("%%%secret%%%")
    assert "%%%secret%%%" not in str(caught.value)


def test_keys_and_plaintext_never_shown(
    cipher: TokenCipher, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    config = EncryptionConfig(key=KEY, previous_keys=(OLD_KEY,))
    shown = f"{config!r} {config} {TokenCipher(config)!r}"
    for key in (KEY, OLD_KEY):
        assert repr(key) not in shown and encode_key_text(key) not in shown
    blob = cipher.encrypt(SECRET, user_id="u1")
    with pytest.raises(DecryptError) as caught:
        cipher.decrypt(blob, user_id="u2")
    assert SECRET not in str(caught.value)
    assert SECRET not in caplog.text
