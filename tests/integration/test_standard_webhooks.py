"""The audit stream in the Standard Webhooks format: the `standardwebhooks` library (what receivers use) accepts our
signature, refuses a tampered body and a stale timestamp; a retry keeps its id and is signed at its own time; the
older header is still sent; the receiver example in docs/audit-events.md works as written."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from standardwebhooks import Webhook, WebhookVerificationError

from bot.domain.standard_webhooks import whsec_form
from bot.services.audit_stream import Answer, AuditStream
from bot.settings import Settings, SettingsError
from bot.store.audit import AuditLog
from bot.store.audit_outbox import Outbox
from bot.store.db import Database

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
LEGACY = "a-webhook-secret-of-some-length"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "audit-events.md"


class Endpoint:
    """Records what was POSTed; answers each POST with the next status (200 once they run out)."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.posts: list[tuple[dict[str, str], bytes]] = []

    def __call__(self, url: str, body: bytes, headers: dict[str, str]) -> Answer:
        self.posts.append((dict(headers), body))
        return Answer(self.statuses.pop(0) if self.statuses else 200)


@pytest.fixture
def db(sqlite_url: str) -> Iterator[Database]:
    database = Database(sqlite_url)
    yield database
    database.dispose()


def stream(db: Database, clock, endpoint: Endpoint, secret: str = SECRET, events: int = 2) -> AuditStream:
    audit = AuditLog(db, clock, stream=True)
    for n in range(events):
        audit.write("UBOSS", "snoozed", account="default", key_id=f"AKIAEXAMPLE{n:09d}")
    return AuditStream(Outbox(db), clock, "https://siem.example.com/in", secret, endpoint)


def verify_at(when, secret: str, body: bytes, headers: dict[str, str]) -> Any:
    with time_machine.travel(when, tick=False):
        return Webhook(secret).verify(body, headers)


def test_the_library_accepts_our_signature_and_refuses_a_tampered_or_stale_one(db: Database, clock) -> None:
    endpoint = Endpoint()
    assert stream(db, clock, endpoint).deliver_due() == 2
    for headers, body in endpoint.posts:
        event = json.loads(body)
        assert verify_at(clock(), SECRET, body, headers) == event
        assert headers["webhook-id"] == f"evt_{event['id']}"
        assert headers["webhook-timestamp"] == str(int(clock().timestamp()))
        assert re.fullmatch(r"v1,[A-Za-z0-9+/]{43}=", headers["webhook-signature"])
        # the older header, for one more release
        legacy = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-Keywarden-Signature-256"] == legacy
    headers, body = endpoint.posts[0]
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        verify_at(clock(), SECRET, body.replace(b"UBOSS", b"UEVIL"), headers)
    with pytest.raises(WebhookVerificationError, match="too old"):
        verify_at(clock() + timedelta(minutes=6), SECRET, body, headers)
    other = "whsec_" + base64.b64encode(bytes(32)).decode()
    with pytest.raises(WebhookVerificationError):
        verify_at(clock(), other, body, headers)


def test_a_retry_keeps_its_id_and_is_signed_at_its_own_time(db: Database, clock) -> None:
    endpoint = Endpoint(500)
    audit_stream = stream(db, clock, endpoint, events=1)
    assert audit_stream.deliver_due() == 0
    clock.advance(seconds=2)  # the backoff after one failure is a second
    assert audit_stream.deliver_due() == 1
    (first, body), (second, again) = endpoint.posts
    assert body == again and first["webhook-id"] == second["webhook-id"]
    assert int(second["webhook-timestamp"]) == int(first["webhook-timestamp"]) + 2
    assert verify_at(clock(), SECRET, again, second)["id"] == json.loads(body)["id"]


def test_a_secret_of_the_older_form_signs_too(db: Database, clock) -> None:
    endpoint = Endpoint()
    stream(db, clock, endpoint, secret=LEGACY, events=1).deliver_due()
    ((headers, body),) = endpoint.posts
    assert whsec_form(LEGACY) == "whsec_" + base64.b64encode(LEGACY.encode()).decode()
    assert verify_at(clock(), whsec_form(LEGACY), body, headers) == json.loads(body)


def test_the_receiver_example_in_the_docs_works(db: Database, clock, monkeypatch: pytest.MonkeyPatch) -> None:
    text = DOCS.read_text()
    code = re.search(r"<!-- receiver-example -->\n```python\n(.*?)```", text, re.S)
    assert code, "docs/audit-events.md has the receiver example after <!-- receiver-example -->"
    monkeypatch.setenv("AUDIT_WEBHOOK_SECRET", SECRET)
    namespace: dict[str, Any] = {}
    exec(compile(code.group(1), str(DOCS), "exec"), namespace)  # the documentation's own example
    endpoint = Endpoint()
    stream(db, clock, endpoint, events=1).deliver_due()
    ((headers, body),) = endpoint.posts
    with time_machine.travel(clock() + timedelta(seconds=3), tick=False):
        assert namespace["receive"](body, headers) == json.loads(body)
        assert namespace["receive"](body + b" ", headers) is None
    with time_machine.travel(clock() + timedelta(minutes=10), tick=False):
        assert namespace["receive"](body, headers) is None  # replayed later: refused


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        ("whsec_not base64!", "what follows whsec_ is not base64"),
        ("whsec_" + base64.b64encode(bytes(10)).decode(), "24 to 64 bytes, not 10"),
        ("short", "too short"),
    ],
)
def test_a_malformed_secret_stops_the_start_naming_the_variable(secret: str, why: str) -> None:
    env = {
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_SIGNING_SECRET": "s",
        "AUDIT_WEBHOOK_URL": "https://siem.example.com/in",
        "AUDIT_WEBHOOK_SECRET": secret,
    }
    with pytest.raises(SettingsError) as refused:
        Settings.from_env(env)
    assert "AUDIT_WEBHOOK_SECRET" in str(refused.value) and why in str(refused.value)
    assert secret not in str(refused.value) or secret == "short"
