"""The audit log's hash chain: each event's hash covers its fields and the hash of the event before it.

Changing, deleting, inserting or reordering any event breaks the chain from that event on, so
`python -m bot audit verify` can name the first event that is not as it was written. Pure functions;
the serialisation is a format: the migration that chained the existing events uses it too.

A chain alone cannot show that its newest events were cut off: what is left is still a valid chain.
So heads are recorded outside the table (an `Anchor`: each scan's head, and the newest event the audit
stream's endpoint acknowledged), and the check also asks that the chain still holds the newest anchor.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

GENESIS = "0" * 64  # the "previous hash" of the first event
FIELDS = ("at", "actor", "action", "outcome", "request_id", "account", "iam_user", "key_id", "detail")


def canonical(fields: Mapping[str, object]) -> bytes:
    """One event's fields as bytes that do not depend on the database: sorted JSON, UTC times to the microsecond."""
    values = {name: _plain(fields[name]) for name in FIELDS}
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("audit times must be aware")
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"an audit field cannot hold {type(value).__name__}")


def chain_hash(prev_hash: str, fields: Mapping[str, object]) -> str:
    """sha256 (hex) over the previous event's hash and this event's canonical fields."""
    return hashlib.sha256(prev_hash.encode("ascii") + b"\n" + canonical(fields)).hexdigest()


@dataclass(frozen=True)
class ChainedEvent:
    id: int
    prev_hash: str
    row_hash: str
    fields: Mapping[str, object]


@dataclass(frozen=True)
class Anchor:
    """A head of the chain recorded outside the audit table: event `seq` had hash `hash` at `recorded_at`."""

    seq: int
    hash: str
    recorded_at: datetime
    source: str  # scan (each scan's head), stream (the newest event the webhook acknowledged)

    def describe(self) -> str:
        by = {"scan": "a scan", "stream": "the audit stream's endpoint"}.get(self.source, self.source)
        at = self.recorded_at.astimezone(UTC)
        return f"#{self.seq} (hash {self.hash}) was recorded at {at:%Y-%m-%d %H:%M:%S} UTC by {by}"


@dataclass(frozen=True)
class ChainCheck:
    """What `verify` found: how many events were checked, and the first bad one (None when intact).

    `truncated` says why the chain no longer holds `anchor`, the newest head recorded outside it
    (empty when it does, or when nothing was recorded)."""

    count: int
    head: str  # the last good hash: keep it elsewhere to detect a cut-off tail later
    bad_id: int | None = None
    reason: str = ""
    last_id: int | None = None  # the id of the newest event, when the chain is intact
    anchor: Anchor | None = None
    truncated: str = ""

    @property
    def intact(self) -> bool:
        return self.bad_id is None and not self.truncated


def check_chain(events: Iterable[ChainedEvent], anchor: Anchor | None = None) -> ChainCheck:
    """Walk the events in id order; stop at the first one that is not as it was written. Then the chain
    must still hold `anchor` (when given): an event with its id and its hash."""
    expected, count, previous_id = GENESIS, 0, None
    anchored_hash = None  # the hash the chain has at the anchor's id, if it reaches it
    for event in events:
        if event.prev_hash != expected:
            after = f"event {previous_id}" if previous_id is not None else "the start of the log"
            return ChainCheck(
                count, expected, event.id, f"does not follow {after}: an event was deleted, inserted or reordered"
            )
        if chain_hash(event.prev_hash, event.fields) != event.row_hash:
            return ChainCheck(count, expected, event.id, "was changed after it was written: its hash does not match")
        if anchor is not None and event.id == anchor.seq:
            anchored_hash = event.row_hash
        expected, count, previous_id = event.row_hash, count + 1, event.id
    return ChainCheck(
        count, expected, last_id=previous_id, anchor=anchor, truncated=_truncation(previous_id, anchored_hash, anchor)
    )


def _truncation(last_id: int | None, anchored_hash: str | None, anchor: Anchor | None) -> str:
    if anchor is None or anchored_hash == anchor.hash:
        return ""
    ends = f"the chain ends at #{last_id}" if last_id is not None else "the chain is empty"
    if last_id is None or last_id < anchor.seq:
        return f"{ends} but {anchor.describe()}"
    now = f"#{anchor.seq} now has hash {anchored_hash}" if anchored_hash else f"#{anchor.seq} is gone"
    return f"{ends} and {now}, but {anchor.describe()}: events were cut off and others written after them"
