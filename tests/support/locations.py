"""What the location tests share: keys shaped like AWS's, and the check that a secret is nowhere in a text."""

from __future__ import annotations

import base64
import logging
import secrets
import string
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from bot.domain.locations import Credentials, LocationError
from bot.logs import base64_cores

_ALPHABET = string.ascii_letters + string.digits + "+/"


def new_key() -> Credentials:
    """A fresh key each time (a secret remembered by an earlier test would be redacted, hiding a leak)."""
    key_id = "AKIA" + "".join(secrets.choice(string.ascii_uppercase + "234567") for _ in range(16))
    return Credentials(key_id, "".join(secrets.choice(_ALPHABET) for _ in range(40)))


def assert_secret_absent(text: str, key: Credentials) -> None:
    forms = {key.secret, key.secret.replace("/", "\\/"), base64.b64encode(key.secret.encode()).decode()}
    forms |= base64_cores(key.secret.encode())
    found = [form for form in forms if form and form in text]
    assert not found, f"the secret (or an encoding of it) is in: {text[:500]}"


@contextmanager
def refused(key: Credentials, location: str, caplog: pytest.LogCaptureFixture) -> Iterator[list[LocationError]]:
    """Expect a LocationError naming `location` whose message, and the logs meanwhile (DEBUG), hold no secret."""
    caught: list[LocationError] = []
    with caplog.at_level(logging.DEBUG), pytest.raises(LocationError) as e:
        yield caught
    caught.append(e.value)
    assert str(e.value).startswith(f"{location}: "), str(e.value)
    assert e.value.location == location
    assert_secret_absent(str(e.value), key)
    assert_secret_absent(caplog.text, key)
