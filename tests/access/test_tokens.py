"""Access tokens are issued and verified strictly; opaque tokens are stored only as hashes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
from typing import Any

import msgspec
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypothesis import given
from hypothesis import strategies as st

from sync_server.access import (
    PAT_PREFIX,
    AccessTokens,
    InvalidToken,
    Refusal,
    TokenConfig,
    encode_key_text,
    hash_token,
    is_personal_access_token,
    new_personal_access_token,
    new_refresh_token,
    token_matches,
)

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
NOW = 1_800_000_000


class FakeClock:
    """A settable clock."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _json(value: object) -> str:
    return _b64(json.dumps(value).encode())


def forge(header: dict[str, Any], claims: dict[str, Any], key: bytes = KEY) -> str:
    """Sign arbitrary header and claims with HMAC-SHA256 by hand (no library checks)."""
    signing_input = f"{_json(header)}.{_json(claims)}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def good_claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": "taskly",
        "sub": "user-1",
        "iat": NOW,
        "exp": NOW + 900,
        "jti": "j1",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not ...}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def tokens(clock: FakeClock) -> AccessTokens:
    return AccessTokens(TokenConfig(signing_key=KEY), clock=clock)


def refusal_of(tokens: AccessTokens, token: str) -> Refusal:
    with pytest.raises(InvalidToken) as caught:
        tokens.verify(token)
    # The reason is safe to show: it never echoes the token or any part of it.
    if len(token) > 8:
        assert token not in str(caught.value)
    for part in token.split("."):
        if len(part) > 8:
            assert part not in str(caught.value)
    return caught.value.refusal


# --- issue and verify ----------------------------------------------------------------------


def test_issued_token_round_trips_with_exactly_the_public_claims(tokens: AccessTokens) -> None:
    issued = tokens.issue("user-1")
    claims = tokens.verify(issued.token)
    assert (claims.sub, claims.iss, claims.jti) == ("user-1", "taskly", issued.jti)
    assert (claims.iat, claims.exp) == (NOW, NOW + 15 * 60)
    assert issued.expires_at == NOW + 900
    header_b64, payload_b64, _ = issued.token.split(".")
    header = json.loads(base64.urlsafe_b64decode(header_b64 + "=="))
    payload = json.loads(base64.urlsafe_b64decode(payload_b64 + "=="))
    assert header == {"typ": "JWT", "alg": "HS256"}
    assert set(payload) == {"iss", "sub", "iat", "exp", "jti"}


def test_a_session_token_carries_its_session_id_as_sid(tokens: AccessTokens) -> None:
    issued = tokens.issue("user-1", session_id="family-7")
    claims = tokens.verify(issued.token)
    assert (claims.sub, claims.sid) == ("user-1", "family-7")
    payload = json.loads(base64.urlsafe_b64decode(issued.token.split(".")[1] + "=="))
    assert set(payload) == {"iss", "sub", "iat", "exp", "jti", "sid"}
    assert tokens.verify(tokens.issue("user-1").token).sid is None
    assert tokens.verify(forge({"alg": "HS256"}, good_claims(sid="s"))).sid == "s"
    with pytest.raises(ValueError, match="session_id"):
        tokens.issue("user-1", session_id="")


@pytest.mark.parametrize("value", [None, "", 7, True, ["family-7"], {"id": "family-7"}])
def test_a_sid_of_the_wrong_type_is_an_invalid_claim(tokens: AccessTokens, value: object) -> None:
    token = forge({"alg": "HS256"}, good_claims(sid=value))
    assert refusal_of(tokens, token) is Refusal.INVALID_CLAIM


def test_every_token_gets_its_own_jti(tokens: AccessTokens) -> None:
    assert len({tokens.issue("u").jti for _ in range(50)}) == 50


def test_a_hand_signed_token_with_the_right_key_verifies(tokens: AccessTokens) -> None:
    assert tokens.verify(forge({"alg": "HS256"}, good_claims())).sub == "user-1"


def test_issue_refuses_an_empty_user(tokens: AccessTokens) -> None:
    with pytest.raises(ValueError):
        tokens.issue("")


def test_valid_until_expiry_then_refused(tokens: AccessTokens, clock: FakeClock) -> None:
    token = tokens.issue("u").token
    clock.now = NOW + 899
    tokens.verify(token)
    clock.now = NOW + 900 + 30  # exp plus the leeway
    assert refusal_of(tokens, token) is Refusal.EXPIRED


def test_expired(tokens: AccessTokens) -> None:
    token = forge({"alg": "HS256"}, good_claims(iat=NOW - 2000, exp=NOW - 1000))
    assert refusal_of(tokens, token) is Refusal.EXPIRED


def test_issued_in_the_future_beyond_the_leeway(tokens: AccessTokens) -> None:
    assert tokens.verify(forge({"alg": "HS256"}, good_claims(iat=NOW + 30)))
    token = forge({"alg": "HS256"}, good_claims(iat=NOW + 31, exp=NOW + 2000))
    assert refusal_of(tokens, token) is Refusal.NOT_YET_VALID


def test_not_before_in_the_future(tokens: AccessTokens) -> None:
    token = forge({"alg": "HS256"}, good_claims(nbf=NOW + 600))
    assert refusal_of(tokens, token) is Refusal.NOT_YET_VALID


def test_tampered_signature(tokens: AccessTokens) -> None:
    header, payload, signature = tokens.issue("u").token.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    assert refusal_of(tokens, f"{header}.{payload}.{flipped}") is Refusal.BAD_SIGNATURE


def test_tampered_payload(tokens: AccessTokens) -> None:
    header, _, signature = tokens.issue("user-1").token.split(".")
    payload = _json(good_claims(sub="admin"))
    assert refusal_of(tokens, f"{header}.{payload}.{signature}") is Refusal.BAD_SIGNATURE


def test_wrong_key(tokens: AccessTokens) -> None:
    token = forge({"alg": "HS256"}, good_claims(), key=OTHER_KEY)
    assert refusal_of(tokens, token) is Refusal.BAD_SIGNATURE
    other = AccessTokens(TokenConfig(signing_key=OTHER_KEY), clock=FakeClock())
    assert refusal_of(tokens, other.issue("u").token) is Refusal.BAD_SIGNATURE


@pytest.mark.parametrize("alg", ["none", "None", "NONE", ""])
@pytest.mark.parametrize("signature", ["", "c2ln"])
def test_alg_none(tokens: AccessTokens, alg: str, signature: str) -> None:
    token = f"{_json({'alg': alg, 'typ': 'JWT'})}.{_json(good_claims())}.{signature}"
    assert refusal_of(tokens, token) in {Refusal.UNSUPPORTED_ALGORITHM, Refusal.MALFORMED}


def test_missing_alg(tokens: AccessTokens) -> None:
    token = forge({"typ": "JWT"}, good_claims())
    assert refusal_of(tokens, token) in {Refusal.UNSUPPORTED_ALGORITHM, Refusal.MALFORMED}


def test_hs512_header_even_with_a_valid_hs512_signature(tokens: AccessTokens) -> None:
    signing_input = f"{_json({'alg': 'HS512', 'typ': 'JWT'})}.{_json(good_claims())}"
    signature = hmac.new(KEY, signing_input.encode(), hashlib.sha512).digest()
    token = f"{signing_input}.{_b64(signature)}"
    assert refusal_of(tokens, token) is Refusal.UNSUPPORTED_ALGORITHM


def test_hs256_signature_under_an_hs512_header(tokens: AccessTokens) -> None:
    token = forge({"alg": "HS512"}, good_claims())
    assert refusal_of(tokens, token) is Refusal.UNSUPPORTED_ALGORITHM


def test_rs256_header(tokens: AccessTokens) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signing_input = f"{_json({'alg': 'RS256', 'typ': 'JWT'})}.{_json(good_claims())}"
    signature = private.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    assert refusal_of(tokens, f"{signing_input}.{_b64(signature)}") is (
        Refusal.UNSUPPORTED_ALGORITHM
    )


def test_other_typ_is_refused(tokens: AccessTokens) -> None:
    token = forge({"alg": "HS256", "typ": "at+jwt"}, good_claims())
    assert refusal_of(tokens, token) is Refusal.MALFORMED


@pytest.mark.parametrize("claim", ["sub", "exp", "iat", "jti", "iss"])
def test_missing_claim(tokens: AccessTokens, claim: str) -> None:
    token = forge({"alg": "HS256"}, good_claims(**{claim: ...}))
    assert refusal_of(tokens, token) is Refusal.MISSING_CLAIM


@pytest.mark.parametrize("claim", ["sub", "exp", "iat", "jti", "iss"])
def test_null_claim_counts_as_missing(tokens: AccessTokens, claim: str) -> None:
    token = forge({"alg": "HS256"}, good_claims(**{claim: None}))
    assert refusal_of(tokens, token) is Refusal.MISSING_CLAIM


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("exp", str(NOW + 900)),
        ("exp", True),
        ("exp", [NOW + 900]),
        ("exp", 10**400),
        ("iat", "yesterday"),
        ("iat", {"t": NOW}),
        ("nbf", "now"),
        ("sub", 42),
        ("sub", ""),
        ("sub", ["user-1"]),
        ("jti", 7),
        ("jti", ""),
        ("iss", ["taskly"]),
    ],
)
def test_wrong_claim_types(tokens: AccessTokens, claim: str, value: object) -> None:
    token = forge({"alg": "HS256"}, good_claims(**{claim: value}))
    assert refusal_of(tokens, token) is Refusal.INVALID_CLAIM


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_exp(tokens: AccessTokens, raw: str) -> None:
    payload = json.dumps(good_claims(exp=0)).replace('"exp": 0', f'"exp": {raw}')
    signing_input = f"{_json({'alg': 'HS256'})}.{_b64(payload.encode())}"
    signature = hmac.new(KEY, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{_b64(signature)}"
    assert refusal_of(tokens, token) is Refusal.INVALID_CLAIM


def test_lifetime_longer_than_the_configured_ttl(tokens: AccessTokens) -> None:
    assert tokens.verify(forge({"alg": "HS256"}, good_claims(exp=NOW + 900 + 30)))
    token = forge({"alg": "HS256"}, good_claims(exp=NOW + 900 + 31))
    assert refusal_of(tokens, token) is Refusal.INVALID_CLAIM
    longer = AccessTokens(TokenConfig(signing_key=KEY, access_ttl_seconds=3600), clock=FakeClock())
    assert refusal_of(tokens, longer.issue("u").token) is Refusal.INVALID_CLAIM


def test_token_for_another_issuer(tokens: AccessTokens) -> None:
    token = forge({"alg": "HS256"}, good_claims(iss="someone-else"))
    assert refusal_of(tokens, token) is Refusal.WRONG_ISSUER
    other = AccessTokens(TokenConfig(signing_key=KEY, issuer="staging"), clock=FakeClock())
    assert refusal_of(tokens, other.issue("u").token) is Refusal.WRONG_ISSUER


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c",
        "a.b.c.d.e",
        "...",
        "x" * 5000,
        "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.AAAA",
        f"{_b64(b'[1,2]')}.{_b64(b'{}')}.AAAA",
        f"{_b64(b'{}')}.{_b64(b'[]')}.AAAA",
        "é.é.é",
    ],
)
def test_malformed(tokens: AccessTokens, token: str) -> None:
    assert refusal_of(tokens, token) in {
        Refusal.MALFORMED,
        Refusal.UNSUPPORTED_ALGORITHM,
        Refusal.BAD_SIGNATURE,
    }


def test_payload_that_is_not_an_object(tokens: AccessTokens) -> None:
    signing_input = f"{_json({'alg': 'HS256'})}.{_b64(b'[1]')}"
    signature = hmac.new(KEY, signing_input.encode(), hashlib.sha256).digest()
    assert refusal_of(tokens, f"{signing_input}.{_b64(signature)}") is Refusal.MALFORMED


def test_not_a_string(tokens: AccessTokens) -> None:
    with pytest.raises(InvalidToken):
        tokens.verify(b"abc")  # type: ignore[arg-type]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
claim_dicts = st.dictionaries(
    st.sampled_from(["iss", "sub", "iat", "exp", "jti", "nbf", "sid", "aud", "x"])
    | st.text(max_size=5),
    json_values | st.sampled_from([NOW, NOW + 100, NOW - 100, "taskly", "u"]),
    max_size=8,
)


@given(claims=claim_dicts, alg=st.sampled_from(["HS256", "HS512", "none", "RS256", "ES256", "x"]))
def test_random_claims_never_crash_verify(claims: dict[str, Any], alg: str) -> None:
    tokens = AccessTokens(TokenConfig(signing_key=KEY), clock=FakeClock())
    try:
        verified = tokens.verify(forge({"alg": alg}, claims))
    except InvalidToken:
        return
    # Anything accepted really satisfies every rule.
    assert alg == "HS256"
    assert verified.iss == "taskly" and verified.sub and verified.jti
    assert verified.exp > NOW - 30 and verified.iat <= NOW + 30
    assert verified.exp - verified.iat <= 900 + 30
    assert verified.sid is None or (isinstance(verified.sid, str) and verified.sid)


@given(st.text(max_size=400))
def test_random_strings_never_crash_verify(text: str) -> None:
    tokens = AccessTokens(TokenConfig(signing_key=KEY), clock=FakeClock())
    with pytest.raises(InvalidToken):
        tokens.verify(text)


@given(st.integers(min_value=0), st.integers(min_value=0, max_value=7))
def test_any_bit_flip_in_an_issued_token_is_refused(position: int, bit: int) -> None:
    tokens = AccessTokens(TokenConfig(signing_key=KEY), clock=FakeClock())
    token = tokens.issue("user-1").token
    index = position % len(token)
    flipped = chr(ord(token[index]) ^ (1 << bit))
    tampered = token[:index] + flipped + token[index + 1 :]
    try:
        claims = tokens.verify(tampered)
    except InvalidToken:
        return
    # Base64url has slack bits in its last character: a flip there may decode to the same bytes.
    assert claims.sub == "user-1"
    assert base64.urlsafe_b64decode(tampered.split(".")[2] + "==") == (
        base64.urlsafe_b64decode(token.split(".")[2] + "==")
    )


# --- config ---------------------------------------------------------------------------------


def test_config_refuses_a_short_key() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        TokenConfig(signing_key=b"k" * 31)


@pytest.mark.parametrize(
    "options",
    [
        {"access_ttl_seconds": 0},
        {"refresh_ttl_seconds": -1},
        {"leeway_seconds": 301},
        {"issuer": ""},
    ],
)
def test_config_refuses_nonsense(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        TokenConfig(signing_key=KEY, **options)


def test_config_defaults() -> None:
    config = TokenConfig(signing_key=KEY)
    assert config.access_ttl_seconds == 15 * 60
    assert config.refresh_ttl_seconds == 7 * 24 * 3600
    assert config.issuer == "taskly"


def test_config_from_base64url_text() -> None:
    text = encode_key_text(KEY)
    assert TokenConfig.from_text(text).signing_key == KEY
    assert TokenConfig.from_text(text + "=").signing_key == KEY
    with pytest.raises(ValueError, match="base64url") as caught:
        TokenConfig.from_text("not base64 at all!")
    assert "not base64" not in str(caught.value)


def test_config_decodes_from_settings_shaped_data() -> None:
    # msgspec decodes bytes fields from standard base64, and runs __post_init__ validation.
    raw = json.dumps({"signing_key": base64.b64encode(KEY).decode(), "issuer": "t"})
    assert msgspec.json.decode(raw, type=TokenConfig).signing_key == KEY
    short = json.dumps({"signing_key": base64.b64encode(b"k").decode()})
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(short, type=TokenConfig)


def test_secrets_never_show_in_repr(tokens: AccessTokens) -> None:
    config = TokenConfig(signing_key=KEY)
    issued = tokens.issue("u")
    refresh = new_refresh_token(config)
    pat = new_personal_access_token()
    shown = " ".join(map(repr, [config, tokens, issued, refresh, pat]))
    shown += " ".join(map(str, [config, issued, refresh, pat]))
    for secret in [repr(KEY), KEY.hex(), encode_key_text(KEY), issued.token, refresh.token]:
        assert secret not in shown
    assert pat.token not in shown


def test_nothing_is_logged(tokens: AccessTokens, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    token = tokens.issue("u").token
    tokens.verify(token)
    with pytest.raises(InvalidToken):
        tokens.verify(token + "x")
    assert token not in caplog.text


# --- opaque tokens --------------------------------------------------------------------------


def test_hash_token_is_hex_sha256() -> None:
    assert hash_token("abc") == hashlib.sha256(b"abc").hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", hash_token("tsk_pat_x"))


def test_token_matches() -> None:
    assert token_matches("secret", hash_token("secret"))
    assert not token_matches("secret", hash_token("secreT"))
    assert not token_matches("secret", "")
    assert not token_matches("secret", "é" * 64)


def test_refresh_token(clock: FakeClock) -> None:
    config = TokenConfig(signing_key=KEY)
    issued = new_refresh_token(config, clock=clock)
    assert len(base64.urlsafe_b64decode(issued.token + "=")) == 32
    assert issued.token_hash == hash_token(issued.token)
    assert issued.token_hash != issued.token
    assert issued.expires_at == NOW + 7 * 24 * 3600
    assert new_refresh_token(config).token != issued.token
    assert not is_personal_access_token(issued.token) or issued.token.startswith(PAT_PREFIX)


def test_personal_access_token() -> None:
    issued = new_personal_access_token(expires_at=NOW + 86400)
    assert issued.token.startswith("tsk_pat_")
    assert len(base64.urlsafe_b64decode(issued.token.removeprefix("tsk_pat_") + "=")) == 32
    assert is_personal_access_token(issued.token)
    assert token_matches(issued.token, issued.token_hash)
    assert issued.expires_at == NOW + 86400
    assert new_personal_access_token().expires_at is None


def test_a_jwt_is_not_a_personal_access_token(tokens: AccessTokens) -> None:
    assert not is_personal_access_token(tokens.issue("u").token)
