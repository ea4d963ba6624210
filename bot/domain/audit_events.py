"""Audit rows as typed, versioned events: the schema the audit stream and `python -m bot audit --json` share.

Pure: standard library only. docs/audit-events.md describes every type; a test checks the two agree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

SCHEMA_VERSION = 1

# An audit row's `action` -> the event type. `executed` depends on the request's operation (below);
# `rotation_<stage>` is `rotation.stage_changed`, `time_bound_<stage>` `time_bound.stage_changed`, `retirement_<stage>`
# `retirement.stage_changed`; anything else is `audit.recorded` (never dropped).
ACTION_TYPES: dict[str, str] = {
    "requested": "request.filed",
    "approval": "request.approval_added",
    "approved": "request.approved",
    "denied": "request.denied",
    "cancelled": "request.cancelled",
    "expired": "request.expired",
    "executing": "request.executing",
    "failed": "request.failed",
    "reconciled": "request.reconciled",
    "reveal_started": "secret.reveal_started",
    "revealed": "secret.revealed",
    "reveal_failed": "secret.reveal_failed",
    "stored_secret": "secret.stored",
    "key_delivered": "secret.delivered",
    "key_delivery_failed": "secret.delivery_failed",
    "snoozed": "finding.snoozed",
    "finding_opened": "finding.opened",
    "finding_resolved": "finding.resolved",
    "exposed": "exposure.detected",
    "changed_outside": "key.changed_outside",
    "refused": "authorization.refused",
}

EXECUTED_TYPES: dict[str, str] = {
    "create": "key.created",
    "rotate": "key.created",  # a rotation's first step makes the new key
    "deactivate": "key.deactivated",
    "reactivate": "key.reactivated",
    "delete": "key.deleted",
}

ROTATION_PREFIX = "rotation_"
TIME_BOUND_PREFIX = "time_bound_"
RETIREMENT_PREFIX = "retirement_"  # `retire <key-id>`: bot/store/retirements.py
STAGE_PREFIXES = {
    ROTATION_PREFIX: "rotation.stage_changed",
    TIME_BOUND_PREFIX: "time_bound.stage_changed",
    RETIREMENT_PREFIX: "retirement.stage_changed",
}
OTHER = "audit.recorded"

EVENT_TYPES: frozenset[str] = frozenset(
    {*ACTION_TYPES.values(), *EXECUTED_TYPES.values(), "request.executed", *STAGE_PREFIXES.values(), OTHER}
)


def _stage(action: str) -> tuple[str, str] | None:
    """(event type, stage) of a `rotation_<stage>`, `time_bound_<stage>` or `retirement_<stage>` action."""
    for prefix, kind in STAGE_PREFIXES.items():
        if action.startswith(prefix):
            return kind, action[len(prefix) :]
    return None


def event_type(action: str, operation: str | None = None) -> str:
    if action == "executed":
        return EXECUTED_TYPES.get(operation or "", "request.executed")
    staged = _stage(action)
    if staged is not None:
        return staged[0]
    return ACTION_TYPES.get(action, OTHER)


@dataclass(frozen=True)
class AuditRow:
    """The fields of one audit row (bot.store.models.AuditEvent), plus the operation of its request when it has one."""

    id: int
    at: datetime
    actor: str
    action: str
    outcome: str
    request_id: str | None
    account: str | None
    iam_user: str | None
    key_id: str | None
    detail: str
    operation: str | None = None
    row_hash: str | None = None
    prev_hash: str | None = None


def event(row: AuditRow) -> dict[str, object]:
    """The event of one audit row (schema version 1; docs/audit-events.md)."""
    at = row.at if row.at.tzinfo else row.at.replace(tzinfo=UTC)
    body: dict[str, object] = {
        "version": SCHEMA_VERSION,
        "id": row.id,
        "type": event_type(row.action, row.operation),
        "time": at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "actor": row.actor,
        "action": row.action,
        "outcome": row.outcome,
        "request_id": row.request_id,
        "operation": row.operation,
        "account": row.account,
        "iam_user": row.iam_user,
        "key_id": row.key_id,
        "detail": row.detail,
    }
    if row.row_hash:
        body["hash"], body["prev_hash"] = row.row_hash, row.prev_hash
    staged = _stage(row.action)
    if staged is not None:
        body["stage"] = staged[1]
    return body


def event_json(row: AuditRow) -> str:
    return json.dumps(event(row), separators=(",", ":"), sort_keys=True)


def parse_when(value: str) -> datetime:
    """A --since / --until value: an ISO 8601 date or date and time (UTC when no offset is given)."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value!r} is not a date such as 2026-11-30 or 2026-11-30T09:00:00Z") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
