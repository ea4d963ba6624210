"""The audit stream: every audit event POSTed to AUDIT_WEBHOOK_URL, at least once and in order.

`AuditLog.record` writes each event's body into the `audit_outbox` table in the same transaction as the
audit row, so an event exists exactly when the change it describes does. The scheduler process (or the
single process's scheduler thread) calls `deliver_due()` every few seconds: rows are sent one at a time in
id order, and each is deleted once the endpoint answers 2xx. A failure (no answer, a timeout, any other
status) stops the round and pauses the stream with exponential backoff (1 s doubling to 5 minutes); the
failed row is sent first next time, so nothing is lost and nothing overtakes it. A crash between the
endpoint's 2xx and the delete sends that row again: receivers deduplicate by the event's `id`.

Each POST is signed in the Standard Webhooks format (bot/domain/standard_webhooks.py): `webhook-id` (the event's `id`,
the same on every retry), `webhook-timestamp` (when this try was sent) and `webhook-signature`. The older
`X-Keywarden-Signature-256` header is still sent, until the next release.

Redirects are never followed: urllib would turn a 301/302/303 into a body-less GET to wherever the
Location points, signature header included, and its 200 would count as delivered. A 3xx is a failure
like any other (the row stays, the stream backs off, the log names the status and the Location). Each
round ends by recording the newest event the endpoint acknowledged as an anchor of the audit chain
(bot/store/audit_anchors.py): `audit verify` then notices the log being cut back below it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from bot.clock import Clock
from bot.domain import standard_webhooks
from bot.store.audit_outbox import Outbox

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Keywarden-Signature-256"  # deprecated: the webhook-* headers replace it; gone in the next release
FIRST_BACKOFF = timedelta(seconds=1)
MAX_BACKOFF = timedelta(minutes=5)
TIMEOUT_SECONDS = 10.0


class Answer(NamedTuple):
    """The endpoint's answer to one POST: its status, and where it pointed when it redirected."""

    status: int
    location: str | None = None


# (url, body, headers) -> the answer; raises OSError when there is no answer.
Transport = Callable[[str, bytes, dict[str, str]], Answer]


def signature(secret: str, body: bytes) -> str:
    """The deprecated signature header's value: `sha256=` and the hex HMAC-SHA256 of the exact body bytes."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A 3xx is the answer: nothing (no body, no signature) is sent to the address it names."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # urllib then raises the 3xx as an HTTPError


_opener = urllib.request.build_opener(_NoRedirects)


def post(url: str, body: bytes, headers: dict[str, str]) -> Answer:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _opener.open(request, timeout=TIMEOUT_SECONDS) as response:
            return Answer(response.status)
    except urllib.error.HTTPError as e:
        with e:
            return Answer(e.code, e.headers.get("Location") if e.headers else None)


@dataclass(frozen=True)
class Backlog:
    events: int
    oldest_seconds: float | None
    paused_until: datetime | None
    last_error: str | None

    def as_health(self) -> dict[str, object]:
        return {
            "events": self.events,
            "oldest_seconds": None if self.oldest_seconds is None else round(self.oldest_seconds),
            "retrying": self.paused_until is not None,
            "last_error": self.last_error,
        }


class AuditStream:
    def __init__(
        self, outbox: Outbox, clock: Clock, url: str, secret: str | None = None, transport: Transport = post
    ) -> None:
        self._outbox = outbox
        self._clock = clock
        self._url = url
        self._secret = secret
        self._key = standard_webhooks.signing_key(secret) if secret else None
        self._transport = transport
        self._failures = 0
        self._paused_until: datetime | None = None
        self._last_error: str | None = None
        self._lock = threading.Lock()  # one round at a time per process (the scheduler lease: one process)

    def deliver_due(self, limit: int = 1000) -> int:
        """Send what is waiting, oldest first, until it is all sent, `limit` is reached or the endpoint fails."""
        if not self._lock.acquire(blocking=False):
            return 0
        try:
            if self._paused_until is not None and self._clock() < self._paused_until:
                return 0
            sent, acknowledged = self._round(limit)
            if acknowledged is not None:
                self._anchor(acknowledged)
            return sent
        finally:
            self._lock.release()

    def _round(self, limit: int) -> tuple[int, str | None]:
        """(events sent, the body of the last one the endpoint acknowledged)."""
        sent, acknowledged = 0, None
        while sent < limit:
            rows = self._outbox.oldest(min(100, limit - sent))
            if not rows:
                break
            for row_id, kind, body in rows:
                if not self._send(row_id, kind, body):
                    return sent, acknowledged
                sent, acknowledged = sent + 1, body
        return sent, acknowledged

    def _anchor(self, body: str) -> None:
        """The newest event the endpoint holds, as it received it: the database must never end before it."""
        event = json.loads(body)
        if isinstance(event.get("id"), int) and isinstance(event.get("hash"), str):
            self._outbox.anchor(event["id"], event["hash"], self._clock())

    def _send(self, row_id: int, kind: str, body: str) -> bool:
        data = body.encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "keywarden-audit/1",
            "X-Keywarden-Event": kind,
            "X-Keywarden-Delivery": str(row_id),
        }
        if self._secret and self._key:
            headers[SIGNATURE_HEADER] = signature(self._secret, data)
            sent_at = int(self._clock().timestamp())
            headers |= standard_webhooks.headers(self._key, _message_id(body, row_id), sent_at, data)
        try:
            answer = self._transport(self._url, data, headers)
            error = None if 200 <= answer.status < 300 else f"HTTP {answer.status}"
            if error and 300 <= answer.status < 400:
                error += f" to {answer.location or '(no Location)'}, not followed"
        except (OSError, ValueError) as e:  # no answer: refused, reset, timed out, TLS
            reason = getattr(e, "reason", None)  # urllib wraps the socket's error in a URLError
            error = type(reason if isinstance(reason, BaseException) else e).__name__
        if error is None:
            self._outbox.delivered(row_id)
            self._failures, self._paused_until, self._last_error = 0, None, None
            return True
        self._failures += 1
        pause = min(FIRST_BACKOFF * 2 ** (self._failures - 1), MAX_BACKOFF)
        self._paused_until = self._clock() + pause
        self._last_error = error = error[:200]  # the column's size; a Location can be long
        self._outbox.failed(row_id, error)
        log.warning(
            "audit webhook failed (%s) on event %s; %d waiting, next try in %ds",
            error,
            row_id,
            self.backlog().events,
            pause.total_seconds(),
        )
        return False

    def backlog(self) -> Backlog:
        count, oldest = self._outbox.backlog()
        age = (self._clock() - oldest).total_seconds() if oldest is not None else None
        return Backlog(count, age, self._paused_until, self._last_error)


def _message_id(body: str, row_id: int) -> str:
    """`webhook-id`: the event's id, which stays the same on every retry (receivers deduplicate on it)."""
    try:
        event = json.loads(body)
    except ValueError:
        event = None
    if isinstance(event, dict) and isinstance(event.get("id"), int):
        return f"evt_{event['id']}"
    return f"outbox_{row_id}"
