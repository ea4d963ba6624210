"""The schema: SQLAlchemy models of every table, and the column type that keeps datetimes in UTC."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC, on SQLite and PostgreSQL alike."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime()}


class AuditEvent(Base):
    """Append-only, tamper-evident: each row's hash covers its fields and the previous row's hash
    (bot.domain.audit_chain); on PostgreSQL a trigger refuses UPDATE, DELETE and TRUNCATE."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(40))
    outcome: Mapped[str] = mapped_column(String(20), default="ok")
    request_id: Mapped[str | None] = mapped_column(String(16), index=True)
    account: Mapped[str | None] = mapped_column(String(64))
    iam_user: Mapped[str | None] = mapped_column(String(64), index=True)
    key_id: Mapped[str | None] = mapped_column(String(32), index=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    prev_hash: Mapped[str] = mapped_column(String(64), index=True, unique=True)  # unique: the chain cannot fork
    row_hash: Mapped[str] = mapped_column(String(64))


class AuditAnchor(Base):
    """A chain head (event id and hash) recorded outside the audit table: by each scan, and by the audit
    stream for the newest event its endpoint acknowledged. Insert-only (a PostgreSQL trigger refuses the
    rest), so `audit verify` can tell when the log was cut back below a head it once had."""

    __tablename__ = "audit_anchors"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    recorded_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(16))  # scan, stream
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), index=True)
    hash: Mapped[str] = mapped_column(String(64))


class AuditOutbox(Base):
    """Audit events waiting for the audit webhook: written with their audit row, deleted once delivered."""

    __tablename__ = "audit_outbox"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    audit_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    created_at: Mapped[datetime]
    event_type: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(200))


class IamUserRecord(Base):
    """The ownership index: IAM users and their tags, refreshed per account."""

    __tablename__ = "iam_users"

    account: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    arn: Mapped[str] = mapped_column(String(2048))
    owner: Mapped[str | None] = mapped_column(String(256), index=True)
    tags: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    refreshed_at: Mapped[datetime]


class AccountIndex(Base):
    """When each account's ownership index was last rebuilt."""

    __tablename__ = "account_index"

    account: Mapped[str] = mapped_column(String(64), primary_key=True)
    refreshed_at: Mapped[datetime]
    user_count: Mapped[int] = mapped_column(Integer, default=0)


class KnownKey(Base):
    """Key ids seen on a user: `check` explains a key that has since disappeared, the scan reuses the ids."""

    __tablename__ = "known_keys"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account: Mapped[str] = mapped_column(String(64))
    iam_user: Mapped[str] = mapped_column(String(64))
    created: Mapped[datetime | None]  # when AWS created the key; lets a scan match report rows to key ids
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    gone: Mapped[bool] = mapped_column(Boolean, default=False)


class KeyRequest(Base):
    """A request for a key operation. Status changes only through `RequestStore.transition`."""

    __tablename__ = "requests"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    operation: Mapped[str] = mapped_column(String(16))
    account: Mapped[str] = mapped_column(String(64))
    iam_user: Mapped[str] = mapped_column(String(64), index=True)
    key_id: Mapped[str | None] = mapped_column(String(32), index=True)
    requester: Mapped[str] = mapped_column(String(32), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), index=True)
    # Set while the request is open, NULL once it ends: a unique guard against duplicate open requests.
    open_target: Mapped[str | None] = mapped_column(String(200), unique=True)
    approvals_needed: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    decided_by: Mapped[str | None] = mapped_column(String(32))
    decided_at: Mapped[datetime | None]
    deny_reason: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str | None] = mapped_column(String(32))
    message_ts: Mapped[str | None] = mapped_column(String(32))
    dm_channel: Mapped[str | None] = mapped_column(String(32))
    dm_ts: Mapped[str | None] = mapped_column(String(32))
    claimed_at: Mapped[datetime | None]
    reveal_expires_at: Mapped[datetime | None]
    new_key_id: Mapped[str | None] = mapped_column(String(32))
    result: Mapped[str | None] = mapped_column(Text)
    # What the approval message shows about the key and its owner, captured when the request was filed.
    details: Mapped[str] = mapped_column(Text, default="")
    owner_ok: Mapped[bool] = mapped_column(Boolean, default=True)
    # The status the Slack messages last showed; a sweep re-sends what Slack did not accept.
    notified_status: Mapped[str | None] = mapped_column(String(16))
    # The policy rule that applied when the request was filed (NULL without POLICY_FILE) and, as JSON, whom it
    # named: {"approvers": [...], "owner": "<owner tag>", "escalate_to": [...]}; later policy edits do not move it.
    policy_rule: Mapped[str | None] = mapped_column(String(64))
    policy: Mapped[str | None] = mapped_column(Text)
    # Reminders and escalation of a pending request, and the requester's last Nudge.
    reminded_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    nudged_at: Mapped[datetime | None]
    # A time-bound key (`create --for`): how long it lasts, asked for when filing; its end, set with its creation.
    valid_for_hours: Mapped[int | None] = mapped_column(Integer)
    key_ends_at: Mapped[datetime | None]
    retire_role: Mapped[str | None] = mapped_column(String(64))  # `retire --role`: the role named (None: suggested)


class Approval(Base):
    """One approver's approval of one request; the primary key makes a second click a no-op."""

    __tablename__ = "approvals"

    request_id: Mapped[str] = mapped_column(String(16), ForeignKey("requests.id"), primary_key=True)
    approver: Mapped[str] = mapped_column(String(32), primary_key=True)
    at: Mapped[datetime]


class SchedulerLease(Base):
    """Who runs the scheduler, on SQLite (PostgreSQL uses an advisory lock instead)."""

    __tablename__ = "scheduler_lease"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]


class RotationRow(Base):
    """A guided rotation's progress; each stage and its dates are stored so a restart continues."""

    __tablename__ = "rotations"

    id: Mapped[str] = mapped_column(String(16), ForeignKey("requests.id"), primary_key=True)
    account: Mapped[str] = mapped_column(String(64))
    iam_user: Mapped[str] = mapped_column(String(64), index=True)
    old_key_id: Mapped[str] = mapped_column(String(32), index=True)
    new_key_id: Mapped[str] = mapped_column(String(32), index=True)
    owner: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(24), index=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    grace_ends_at: Mapped[datetime]
    next_check_at: Mapped[datetime] = mapped_column(index=True)
    stall_at: Mapped[datetime]
    deactivated_at: Mapped[datetime | None]
    delete_after: Mapped[datetime | None]
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    old_last_used: Mapped[datetime | None]
    old_last_used_where: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]  # a delivered rotation (LOCATIONS_FILE): every location held the new key
    told_at: Mapped[datetime | None]  # its owner last told what holds the cut-over up


class FindingNotice(Base):
    """Memory between scans: one row per (key, finding), to announce each once per interval."""

    __tablename__ = "finding_notices"

    account: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject: Mapped[str] = mapped_column(String(100), primary_key=True)  # key id, or user:<name> / root
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    iam_user: Mapped[str] = mapped_column(String(64))
    severity: Mapped[int] = mapped_column(Integer)
    owner: Mapped[str | None] = mapped_column(String(256))
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    notified_at: Mapped[datetime | None]
    notified_severity: Mapped[int | None] = mapped_column(Integer)
    resolved_at: Mapped[datetime | None]
    notify_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Enforcement(Base):
    """ENFORCE's memory per key: its deadline, the warnings delivered before it, and the deactivation made."""

    __tablename__ = "enforcements"

    account: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    warned_3_at: Mapped[datetime | None]
    warned_1_at: Mapped[datetime | None]
    deactivated_at: Mapped[datetime | None]
    request_id: Mapped[str | None] = mapped_column(String(16))
    deadline: Mapped[datetime | None]  # never earlier than 3 days after the first warning, 1 day after the second
    dry_run: Mapped[bool | None]  # the warnings were sent by ENFORCE_DRY_RUN (they do not count for real)


class Snooze(Base):
    """A key whose alerts are silenced until a time (the owner's Snooze button)."""

    __tablename__ = "snoozes"

    account: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    until: Mapped[datetime]
    by: Mapped[str] = mapped_column(String(32))


class ScanRun(Base):
    """One scan: when it ran, what it found and what it delivered."""

    __tablename__ = "scan_runs"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    trigger: Mapped[str] = mapped_column(String(32))
    summary: Mapped[dict] = mapped_column(JSON, default=dict)


class Exposure(Base):
    """A key id pasted with a secret (or reported exposed by AWS Health), and how far the response got.

    Never the secret: the key id, where it was seen and by whom, and one column per response step, set once
    the step is done, so a retry or a resumed run repeats none of them.
    """

    __tablename__ = "exposures"
    __table_args__ = (UniqueConstraint("origin", "key_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    origin: Mapped[str] = mapped_column(String(160))  # slack/<channel>/<ts> or aws-health/<event id>
    key_id: Mapped[str] = mapped_column(String(32), index=True)
    source: Mapped[str] = mapped_column(String(16))  # slack | aws-health
    channel: Mapped[str | None] = mapped_column(String(32))
    message_ts: Mapped[str | None] = mapped_column(String(32))
    thread_ts: Mapped[str | None] = mapped_column(String(32))
    poster: Mapped[str | None] = mapped_column(String(32))
    permalink: Mapped[str | None] = mapped_column(String(500))
    # AWS Health: the risk event's type (exposed, compromised, suspected, quarantine) and its startTime.
    health_type: Mapped[str | None] = mapped_column(String(64))
    reported_at: Mapped[datetime | None]
    detected_at: Mapped[datetime] = mapped_column(index=True)
    claimed_at: Mapped[datetime | None]
    # What the key lookup found: a configured account and user, or only the AWS account id.
    looked_up_at: Mapped[datetime | None]
    account: Mapped[str | None] = mapped_column(String(64))
    iam_user: Mapped[str | None] = mapped_column(String(64))
    aws_account_id: Mapped[str | None] = mapped_column(String(12))
    owner: Mapped[str | None] = mapped_column(String(32))  # the owner's Slack user id
    # Response steps.
    reply_ts: Mapped[str | None] = mapped_column(String(32))
    deleted: Mapped[str | None] = mapped_column(String(16))  # deleted | failed | skipped
    poster_told_at: Mapped[datetime | None]
    alert_ts: Mapped[str | None] = mapped_column(String(32))
    owner_told_at: Mapped[datetime | None]
    done_at: Mapped[datetime | None]


class AwsEventSeen(Base):
    """EventBridge event ids from the queue, kept 14 days, so each event is handled once."""

    __tablename__ = "aws_events"

    event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    received_at: Mapped[datetime] = mapped_column(index=True)
    claimed_at: Mapped[datetime | None]
    done_at: Mapped[datetime | None]


class WorkItem(Base):
    """Work a Slack request was acknowledged for, kept until done (bot/store/work_queue.py). Never a secret: a
    message's text is not kept, only the key ids the detector found in it."""

    __tablename__ = "work_items"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(32))  # the Slack request's id in the log
    kind: Mapped[str] = mapped_column(String(32))
    function: Mapped[str] = mapped_column(String(100))  # the lazy listener to run, or the window that was lost
    body: Mapped[str] = mapped_column(Text)  # the request's body, as JSON
    found: Mapped[list | None] = mapped_column(JSON)  # key ids found in a text that is not kept
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    owner: Mapped[str | None] = mapped_column(String(80), index=True)  # the process doing it, None: anyone
    lease_until: Mapped[datetime] = mapped_column(index=True)  # after this, another process takes it over
    attempts: Mapped[int] = mapped_column(Integer, default=0)
