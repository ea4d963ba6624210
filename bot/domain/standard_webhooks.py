"""Standard Webhooks signatures (https://www.standardwebhooks.com): pure.

`webhook-signature` is `v1,` and the base64 HMAC-SHA256 of `<webhook-id>.<webhook-timestamp>.<body>`, keyed with the
secret's bytes: a `whsec_` secret is `whsec_` and those bytes in base64 (24 to 64 of them). A secret without the
prefix (the form AUDIT_WEBHOOK_SECRET had before) keys with its UTF-8 bytes; its `whsec_` form for a receiver's
library is `whsec_` + base64 of those bytes (`whsec_form`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

PREFIX = "whsec_"
MIN_KEY_BYTES = 24
MAX_KEY_BYTES = 64
LEGACY_MIN_CHARACTERS = 16
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"


def signing_key(secret: str) -> bytes:
    """The HMAC key a secret stands for; ValueError naming what is wrong with a malformed one."""
    if not secret.startswith(PREFIX):
        if len(secret) < LEGACY_MIN_CHARACTERS:
            raise ValueError(f"too short: a secret without {PREFIX} needs {LEGACY_MIN_CHARACTERS} characters or more")
        return secret.encode()
    encoded = secret[len(PREFIX) :]
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"what follows {PREFIX} is not base64") from None
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise ValueError(
            f"{PREFIX} must be followed by base64 of {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes, not {len(key)}"
        )
    return key


def whsec_form(secret: str) -> str:
    """The secret as Standard Webhooks libraries take it (`whsec_` + base64 of the key)."""
    return PREFIX + base64.b64encode(signing_key(secret)).decode()


def sign(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value for one delivery."""
    signed = message_id.encode() + b"." + str(timestamp).encode() + b"." + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def headers(key: bytes, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers of a signed delivery."""
    return {
        ID_HEADER: message_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(key, message_id, timestamp, body),
    }
