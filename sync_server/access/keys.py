"""Reading secret keys from configuration text (base64url, padding optional)."""

from __future__ import annotations

import base64
import binascii


def decode_key_text(text: str, *, name: str) -> bytes:
    """Decode a base64url (or standard base64) key; errors name the setting, never the value."""
    stripped = text.strip()
    # Padding is optional in settings: `secrets.token_urlsafe` and most generators omit it.
    padded = stripped + "=" * (-len(stripped) % 4)
    try:
        return base64.b64decode(padded, altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{name} must be base64url text") from None


def encode_key_text(key: bytes) -> str:
    """Encode a key as unpadded base64url text, the form `decode_key_text` reads."""
    return base64.urlsafe_b64encode(key).rstrip(b"=").decode("ascii")
