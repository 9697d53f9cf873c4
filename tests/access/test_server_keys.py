"""The server's own keys: generated once into <data dir>/secrets.json (0600), or from the env.

Every refusal is a ServerKeysError whose message names the file or the setting, never a key.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sync_server.access.crypto import TokenCipher
from sync_server.access.keys import decode_key_text, encode_key_text
from sync_server.access.server_keys import (
    SECRETS_FILE,
    ServerKeys,
    ServerKeysError,
    load_server_keys,
    new_key_text,
)
from sync_server.access.tokens import AccessTokens


def key_text(size: int = 32) -> str:
    return encode_key_text(secrets.token_bytes(size))


@contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_keys_are_generated_once_into_a_private_file_and_reused(tmp_path: Path) -> None:
    data = tmp_path / "taskly-data"  # created on demand
    first = load_server_keys(data)
    path = data / SECRETS_FILE
    assert first.source == str(path)
    assert mode(path) == 0o600
    assert len(first.tokens.signing_key) == 32 and len(first.encryption.key) == 32
    stored = json.loads(path.read_text())
    assert set(stored) == {"signing_key", "encryption_key"}
    assert decode_key_text(stored["signing_key"], name="x") == first.tokens.signing_key
    assert decode_key_text(stored["encryption_key"], name="x") == first.encryption.key
    written = path.read_bytes()

    again = load_server_keys(data)

    assert again.tokens.signing_key == first.tokens.signing_key
    assert again.encryption.key == first.encryption.key
    assert path.read_bytes() == written  # never rewritten
    # What one start signed or sealed, the next start reads.
    token = AccessTokens(first.tokens).issue("user-1").token
    assert AccessTokens(again.tokens).verify(token).sub == "user-1"
    sealed = TokenCipher(first.encryption).encrypt("gho_secret", user_id="user-1")
    assert TokenCipher(again.encryption).decrypt(sealed, user_id="user-1") == "gho_secret"
    # The two keys differ, and differ between data dirs.
    assert first.tokens.signing_key != first.encryption.key
    other = load_server_keys(tmp_path / "elsewhere")
    assert other.tokens.signing_key != first.tokens.signing_key
    assert [p.name for p in data.iterdir()] == [SECRETS_FILE]  # no temporary left behind


def test_the_file_is_private_whatever_the_umask(tmp_path: Path) -> None:
    with umask(0):
        load_server_keys(tmp_path)
    assert mode(tmp_path / SECRETS_FILE) == 0o600


def test_concurrent_first_starts_agree_on_one_set_of_keys(tmp_path: Path) -> None:
    results: list[ServerKeys | BaseException] = []
    barrier = threading.Barrier(8)

    def start() -> None:
        barrier.wait()
        try:
            results.append(load_server_keys(tmp_path))
        except BaseException as exc:  # reported below
            results.append(exc)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    keys = [r for r in results if isinstance(r, ServerKeys)]
    assert len(keys) == 8, results
    assert len({k.tokens.signing_key for k in keys}) == 1
    assert len({k.encryption.key for k in keys}) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [SECRETS_FILE]


def test_environment_keys_win_and_no_file_is_written(tmp_path: Path) -> None:
    signing, encryption = key_text(48), key_text(32)
    keys = load_server_keys(tmp_path, secret_key=signing, encryption_key=encryption)
    assert keys.source == "the environment"
    assert keys.tokens.signing_key == decode_key_text(signing, name="x")
    assert keys.encryption.key == decode_key_text(encryption, name="x")
    assert not (tmp_path / SECRETS_FILE).exists()
    # Even with a file present, the environment is what counts.
    from_file = load_server_keys(tmp_path)
    again = load_server_keys(tmp_path, secret_key=signing, encryption_key=encryption)
    assert again.tokens.signing_key == keys.tokens.signing_key != from_file.tokens.signing_key


def test_previous_encryption_keys_still_decrypt(tmp_path: Path) -> None:
    old, new = key_text(), key_text()
    before = load_server_keys(tmp_path, secret_key=key_text(), encryption_key=old)
    sealed = TokenCipher(before.encryption).encrypt("gho_rotated", user_id="u")
    after = load_server_keys(
        tmp_path, secret_key=key_text(), encryption_key=new, previous_encryption_keys=(old,)
    )
    cipher = TokenCipher(after.encryption)
    assert cipher.decrypt(sealed, user_id="u") == "gho_rotated"
    assert cipher.needs_rotation(sealed, user_id="u")


@pytest.mark.parametrize("which", ["secret_key", "encryption_key"])
def test_only_one_environment_key_is_refused(tmp_path: Path, which: str) -> None:
    given = key_text()
    with pytest.raises(ServerKeysError) as caught:
        load_server_keys(tmp_path, **{which: given})  # type: ignore[arg-type]
    message = str(caught.value)
    assert "TASKLY_SECRET_KEY" in message and "TASKLY_ENCRYPTION_KEY" in message
    assert given not in message
    assert not (tmp_path / SECRETS_FILE).exists()


DAMAGED = {
    "not json": b"{ this is not json",
    "empty": b"",
    "a list": b"[]",
    "missing the encryption key": json.dumps({"signing_key": "S" * 43}).encode(),
    "an unknown field": json.dumps(
        {"signing_key": "S" * 43, "encryption_key": "E" * 43, "extra": "x"}
    ).encode(),
    "a key that is not base64": json.dumps(
        {"signing_key": "S" * 43, "encryption_key": "not base64 at all!*"}
    ).encode(),
    "a key that is a number": json.dumps(
        {"signing_key": 12345, "encryption_key": "E" * 43}
    ).encode(),
    "binary junk": bytes(range(256)),
}


@pytest.mark.parametrize("content", DAMAGED.values(), ids=list(DAMAGED))
def test_a_damaged_file_is_refused_naming_the_file_not_the_key(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / SECRETS_FILE
    path.write_bytes(content)
    with pytest.raises(ServerKeysError) as caught:
        load_server_keys(tmp_path)
    message = str(caught.value)
    assert str(path) in message
    assert "S" * 20 not in message and "E" * 20 not in message and "not base64" not in message
    assert path.read_bytes() == content  # left for the operator to restore, not overwritten


@pytest.mark.parametrize(
    ("signing_bytes", "encryption_bytes", "complaint"),
    [(16, 32, "at least 32 bytes"), (32, 16, "exactly 32 bytes"), (32, 64, "exactly 32 bytes")],
)
def test_wrong_key_sizes_in_the_file_are_refused(
    tmp_path: Path, signing_bytes: int, encryption_bytes: int, complaint: str
) -> None:
    stored = {
        "signing_key": key_text(signing_bytes),
        "encryption_key": key_text(encryption_bytes),
    }
    path = tmp_path / SECRETS_FILE
    path.write_text(json.dumps(stored))
    with pytest.raises(ServerKeysError) as caught:
        load_server_keys(tmp_path)
    message = str(caught.value)
    assert str(path) in message and complaint in message
    assert stored["signing_key"] not in message and stored["encryption_key"] not in message


@pytest.mark.parametrize(
    ("signing_bytes", "encryption_bytes", "complaint"),
    [(31, 32, "at least 32 bytes"), (32, 31, "exactly 32 bytes"), (32, 33, "exactly 32 bytes")],
)
def test_wrong_key_sizes_in_the_environment_are_refused(
    tmp_path: Path, signing_bytes: int, encryption_bytes: int, complaint: str
) -> None:
    signing, encryption = key_text(signing_bytes), key_text(encryption_bytes)
    with pytest.raises(ServerKeysError) as caught:
        load_server_keys(tmp_path, secret_key=signing, encryption_key=encryption)
    message = str(caught.value)
    assert "the environment" in message and complaint in message
    assert signing not in message and encryption not in message


def test_keys_that_are_not_base64_in_the_environment_are_refused(tmp_path: Path) -> None:
    for signing, encryption in [("not base64!", key_text()), (key_text(), "%%%%")]:
        with pytest.raises(ServerKeysError) as caught:
            load_server_keys(tmp_path, secret_key=signing, encryption_key=encryption)
        assert "the environment" in str(caught.value)
        assert "not base64!" not in str(caught.value) and "%%%%" not in str(caught.value)


def test_a_wrong_previous_key_is_refused(tmp_path: Path) -> None:
    short = key_text(16)
    with pytest.raises(ServerKeysError) as caught:
        load_server_keys(
            tmp_path,
            secret_key=key_text(),
            encryption_key=key_text(),
            previous_encryption_keys=(short,),
        )
    assert short not in str(caught.value)


def test_an_unreadable_or_uncreatable_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "dir" / SECRETS_FILE).mkdir(parents=True)  # a directory where the file goes
    with pytest.raises(ServerKeysError, match="cannot read .*secrets.json"):
        load_server_keys(tmp_path / "dir")
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(ServerKeysError, match="cannot (read|create) .*file/secrets.json"):
        load_server_keys(tmp_path / "file")


def test_repr_never_shows_a_key(tmp_path: Path) -> None:
    keys = load_server_keys(tmp_path)
    stored = json.loads((tmp_path / SECRETS_FILE).read_text())
    for shown in (repr(keys), str(keys), repr(keys.tokens), repr(keys.encryption)):
        assert stored["signing_key"] not in shown and stored["encryption_key"] not in shown
        assert repr(keys.tokens.signing_key) not in shown


def test_new_key_text_is_base64url_of_the_size_asked() -> None:
    text = new_key_text()
    assert len(decode_key_text(text, name="x")) == 32
    assert set(text) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert len(decode_key_text(new_key_text(48), name="x")) == 48
    assert new_key_text() != new_key_text()
