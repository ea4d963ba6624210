"""The IAM credential report: parse its CSV into users and key slots, match slots to key ids, judge freshness.

Pure functions, no I/O. The report names keys only by slot (1 or 2); ListAccessKeys gives the ids,
and the two meet on the creation time (a never-rotated key's `last_rotated` is when it was created).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from bot.domain.keys import ACTIVE, INACTIVE, KeyFacts

ROOT_USER = "<root_account>"
SLOTS = (1, 2)
MAX_AGE_HOURS = 4.0
_MISSING = {"", "n/a", "no_information", "not_supported"}
_REQUIRED = (
    "user",
    "arn",
    "user_creation_time",
    *(f"access_key_{n}_{c}" for n in SLOTS for c in ("active", "last_rotated")),
)


class ListedKey(Protocol):
    """A key as ListAccessKeys describes it (bot.aws.AccessKey fits)."""

    @property
    def key_id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def created(self) -> datetime: ...


@dataclass(frozen=True)
class ReportKey:
    """One access key slot of a user in the credential report."""

    slot: int
    active: bool
    last_rotated: datetime | None
    last_used: datetime | None = None
    last_service: str | None = None
    last_region: str | None = None


@dataclass(frozen=True)
class ReportUser:
    """One row of the credential report: an IAM user (or the root user) and its key slots."""

    account: str
    user: str
    arn: str
    is_root: bool
    created: datetime
    keys: tuple[ReportKey, ...] = ()
    password_enabled: bool = False


def parse_credential_report(content: bytes | str, account: str) -> list[ReportUser]:
    """Every row of the report CSV as a ReportUser; ValueError when required columns are missing."""
    text = content.decode("utf-8-sig") if isinstance(content, bytes) else content.lstrip("\ufeff")
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in _REQUIRED if c not in (reader.fieldnames or [])]
    if missing:
        raise ValueError(f"The credential report has no column {', '.join(missing)}.")
    users: list[ReportUser] = []
    for row in reader:
        created = _date(row["user_creation_time"])
        if created is None:
            raise ValueError(f"The credential report has no creation time for user `{row['user']}`.")
        keys = tuple(k for k in (_slot(row, slot) for slot in SLOTS) if k is not None)
        password = (row.get("password_enabled") or "").strip().lower() == "true"
        users.append(ReportUser(account, row["user"], row["arn"], row["user"] == ROOT_USER, created, keys, password))
    return users


def _slot(row: dict[str, str], slot: int) -> ReportKey | None:
    """The key in one slot, or None when the slot is empty (inactive and never rotated)."""
    prefix = f"access_key_{slot}_"
    active = (row.get(prefix + "active") or "").strip().lower() == "true"
    rotated = _date(row.get(prefix + "last_rotated"))
    if not active and rotated is None:
        return None
    return ReportKey(
        slot,
        active,
        rotated,
        _date(row.get(prefix + "last_used_date")),
        _value(row.get(prefix + "last_used_service")),
        _value(row.get(prefix + "last_used_region")),
    )


def _value(raw: str | None) -> str | None:
    """The cell's text, or None for the report's ways of saying nothing (N/A, no_information, ...)."""
    text = (raw or "").strip()
    return None if text.lower() in _MISSING else text


def _date(raw: str | None) -> datetime | None:
    """An ISO 8601 cell (`+00:00` or `Z`) as an aware UTC datetime, or None when empty or N/A."""
    text = _value(raw)
    if text is None:
        return None
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def report_key_facts(user: ReportUser, key_ids: dict[int, str] | None = None) -> list[KeyFacts]:
    """One KeyFacts per key slot of the user; key ids come from `key_ids` by slot when known."""
    ids = key_ids or {}
    return [
        KeyFacts(
            user.account,
            user.user,
            ids.get(key.slot),
            ACTIVE if key.active else INACTIVE,
            key.last_rotated or user.created,
            key.last_used,
            key.last_service,
            key.last_region,
            user.is_root,
        )
        for key in user.keys
    ]


def listed_key_facts(
    user: ReportUser, listed: Iterable[ListedKey], tolerance: timedelta = timedelta(seconds=2)
) -> list[KeyFacts]:
    """The user's keys as ListAccessKeys just showed them, which a reused report may contradict.

    Status and creation date are live; last use comes from the report slot the key matches. A slot with
    no listed key is a key deleted since the report was made: it is dropped. A listed key with no slot was
    made since then: it has no recorded use yet.
    """
    keys = list(listed)
    slots = {key.slot: key for key in user.keys}
    by_id = {key_id: slots[slot] for slot, key_id in match_key_ids(user.keys, keys, tolerance).items()}
    facts = []
    for key in sorted(keys, key=lambda k: (k.created, k.key_id)):
        slot = by_id.get(key.key_id)
        facts.append(
            KeyFacts(
                user.account,
                user.user,
                key.key_id,
                key.status,
                key.created,
                slot.last_used if slot else None,
                slot.last_service if slot else None,
                slot.last_region if slot else None,
                user.is_root,
            )
        )
    return facts


def match_key_ids(
    report_keys: Iterable[ReportKey], listed: Iterable[ListedKey], tolerance: timedelta = timedelta(seconds=2)
) -> dict[int, str]:
    """{slot: key id}: each slot paired with the listed key created nearest its last_rotated, status breaking ties."""
    keys = list(listed)
    pairs = []
    for slot in report_keys:
        if slot.last_rotated is None:
            continue
        for index, key in enumerate(keys):
            gap = abs(key.created.replace(microsecond=0) - slot.last_rotated.replace(microsecond=0))
            if gap <= tolerance:
                pairs.append((gap, (key.status == ACTIVE) != slot.active, index, slot.slot))
    matched: dict[int, str] = {}
    taken: set[int] = set()
    for _gap, _mismatch, index, slot_no in sorted(pairs):
        if slot_no not in matched and index not in taken:
            matched[slot_no] = keys[index].key_id
            taken.add(index)
    return matched


@dataclass(frozen=True)
class SeenKey:
    """A key id seen earlier on a user, with the key's creation date."""

    key_id: str
    created: datetime


def remembered_key_ids(
    report_keys: Iterable[ReportKey], seen: Iterable[SeenKey], tolerance: timedelta = timedelta(seconds=2)
) -> dict[int, str] | None:
    """{slot: key id} from keys seen earlier, or None unless each dated slot has exactly one seen key created then.

    A slot with no seen key means a key made since the user was last listed; two candidates mean keys made
    within seconds of each other. Either way only ListAccessKeys can tell, so the answer is None.
    """
    keys = list(seen)
    matched: dict[int, str] = {}
    for slot in report_keys:
        if slot.last_rotated is None:
            continue
        rotated = slot.last_rotated.replace(microsecond=0)
        near = [k.key_id for k in keys if abs(k.created.replace(microsecond=0) - rotated) <= tolerance]
        if len(near) != 1 or near[0] in matched.values():
            return None
        matched[slot.slot] = near[0]
    return matched


def report_is_fresh(generated: datetime, now: datetime, max_age_hours: float = MAX_AGE_HOURS) -> bool:
    """True while the report is younger than `max_age_hours` (a report from the future counts as fresh)."""
    return now - generated < timedelta(hours=max_age_hours)
