"""`audit` in Slack: each audit action under a title people read. `python -m bot audit --json` and the CLI keep
the action codes (bot/domain/audit_events.py); this is the one mapping from a code to its title."""

from __future__ import annotations

from bot.domain.audit_events import AuditRow
from bot.domain.catalogue import CATALOGUE
from bot.slack.messages.common import Blocks, Message, context, escape, plain, section, who

AUDIT_TITLES: dict[str, str] = {
    # Requests
    "requested": "Request filed",
    "approval": "Approval given",
    "approved": "Approved",
    "approval_withdrawn": "Approval withdrawn",
    "approved_by_policy": "Approved by policy",
    "break_glass": "Deactivated at once (break-glass)",
    "denied": "Denied",
    "cancelled": "Cancelled",
    "superseded": "Cancelled by a break-glass",
    "expired": "Expired",
    "executing": "Change started in AWS",
    "executed": "Done in AWS",
    "failed": "Failed in AWS",
    "reconciled": "Interrupted change settled",
    "reminded": "Approvers reminded",
    "escalated": "Escalated",
    "nudged": "Approvers nudged by the requester",
    # The secret
    "reveal_started": "Reveal started",
    "revealed": "Secret shown",
    "reveal_failed": "Reveal failed",
    "stored_secret": "Secret stored in Secrets Manager",
    # Findings, exposures, changes seen in AWS
    "snoozed": "Alerts snoozed",
    "finding_opened": "Finding opened",
    "finding_resolved": "Finding resolved",
    "exposed": "Key exposed",
    "changed_outside": "Changed outside Keywarden",
    "event_not_confirmed": "CloudTrail report not confirmed by IAM",
    "refused": "Refused",
    # Guided rotations
    "rotation_started": "Rotation started",
    "rotation_reminder": "Rotation reminder sent",
    "rotation_grace": "Rotation in grace period",
    "rotation_in_use": "Old key still in use",
    "rotation_stalled": "Rotation stalled",
    "rotation_hold": "Rotation on hold",
    "rotation_deactivating": "Deactivating the old key",
    "rotation_deactivated": "Old key deactivated",
    "rotation_deleting": "Deleting the old key",
    "rotation_deleted": "Old key deleted",
    "rotation_rolling_back": "Rolling back the rotation",
    "rotation_rolled_back": "Rotation rolled back",
    "rotation_retry": "Rotation step to be retried",
    "rotation_cancelled": "Rotation cancelled",
    "rotation_reconciling": "Interrupted rotation step resumed",
    # Delivered rotations (LOCATIONS_FILE)
    "rotation_delivering": "Delivering the new key",
    "rotation_delivered": "New key delivered everywhere",
    "rotation_delivery-failed": "Delivery failed: waiting to try again",
    "rotation_switching-off": "Switching the old key off",
    "rotation_discarding": "Rolling back: deleting the new key",
    "key_delivered": "New key delivered to a place",
    "key_delivery_failed": "A place refused the new key",
    # Time-bound keys (`create --for`)
    "time_bound_started": "Time-bound key: end set",
    "time_bound_active": "Time-bound key active",
    "time_bound_warned": "Time-bound key: owner told of its end",
    "time_bound_deactivating": "Time-bound key: switching it off",
    "time_bound_deactivated": "Time-bound key switched off",
    "time_bound_deleting": "Time-bound key: deleting it",
    "time_bound_deleted": "Time-bound key deleted",
    "time_bound_gone": "Time-bound key already deleted",
    "time_bound_left_alone": "Time-bound key changed by someone else, left alone",
    "time_bound_reconciling": "Interrupted time-bound step resumed",
    "time_bound_retry": "Time-bound step to be retried",
    # Keys retired for the roles that replace them (`retire`)
    "retirement_watching": "Retirement: watching the role and the key",
    "retirement_waiting": "Retirement: owner told what holds it up",
    "retirement_switching-off": "Retirement: switching the key off",
    "retirement_switched-off": "Key switched off: its role took over",
    "retirement_deleting": "Retirement: deleting the key",
    "retirement_deleted": "Retired key deleted",
    "retirement_ended": "Retirement stopped: the key changed outside it",
}
# `executed`, by the request's operation: what was done to the key.
EXECUTED_TITLES: dict[str, str] = {
    "create": "Key created",
    "rotate": "New key created (rotation)",
    "deactivate": "Key deactivated",
    "reactivate": "Key reactivated",
    "delete": "Key deleted",
}
# Outcomes the title already says.
_SAID = {"ok", "refused", "cancelled", "withdrawn"}
AUDIT_SHOWN = 20  # rows `audit` shows; one more is read to know whether there are more
_MAX_LINES_TEXT = 2800  # one section's share of Slack's 3000 characters


def audit_title(row: AuditRow) -> str:
    """The title people read for a row's action; an action added later without a title reads as words."""
    if row.action == "executed" and row.operation in EXECUTED_TITLES:
        return EXECUTED_TITLES[row.operation]
    return AUDIT_TITLES.get(row.action) or row.action.replace("_", " ").capitalize()


def _finding_title(code: str) -> str:
    """A finding's title for its code as the audit recorded it (kebab-case, or the snake_case of older rows)."""
    wanted = code.strip().replace("_", "-")
    entry = next((e for e in CATALOGUE.values() if e.code.replace("_", "-") == wanted), None)
    return entry.title if entry else code


def _title_and_detail(row: AuditRow) -> tuple[str, str]:
    title, detail = audit_title(row), row.detail
    if row.action == "refused":
        attempted, sep, why = detail.partition(": ")
        return (f"Refused: {why}", attempted) if sep else (title, detail)
    if row.action in ("finding_opened", "finding_resolved"):
        code, _, message = detail.partition(": ")
        return f"{title}: {_finding_title(code)}", message
    return title, detail


def audit_line(row: AuditRow) -> str:
    title, detail = _title_and_detail(row)
    target = " ".join(
        x for x in (row.request_id, f"{row.account}:{row.iam_user}" if row.iam_user else None, row.key_id) if x
    )
    outcome = "" if row.outcome in _SAID else f" ({row.outcome.replace('_', ' ')})"
    return f"`{row.at:%Y-%m-%d %H:%M}` {who(row.actor)} *{escape(title)}*{outcome} {target} {escape(detail)}".rstrip()


def _sections(lines: list[str]) -> Blocks:
    """The lines in as few sections as Slack's length limit allows, never cutting a line."""
    blocks: Blocks = []
    chunk: list[str] = []
    for line in lines:
        if chunk and len("\n".join([*chunk, line])) > _MAX_LINES_TEXT:
            blocks.append(section("\n".join(chunk)))
            chunk = []
        chunk.append(line)
    if chunk:
        blocks.append(section("\n".join(chunk)))
    return blocks


def build_audit(events: list[AuditRow], subject: str | None) -> Message:
    """`audit [subject]`: the latest AUDIT_SHOWN rows, newest first; `events` may hold one more, which says there
    are older ones and how to read them."""
    about = f" for `{escape(subject)}`" if subject else ""
    if not events:
        return plain(f"No audit events{about}.")
    shown, more = events[:AUDIT_SHOWN], len(events) > AUDIT_SHOWN
    title = f"Recent audit events{about} (times in UTC):"
    blocks: Blocks = [section(title), *_sections([audit_line(e) for e in shown])]
    if more:
        narrower = "" if subject else " Name a user or key id for theirs: `audit <user | key-id>`."
        blocks.append(
            context(
                f"The latest {len(shown)} are shown; there are older ones.{narrower} "
                "The whole log, with the action codes: `python -m bot audit --json` (ask whoever runs Keywarden)."
            )
        )
    return title, blocks
