"""Exposures: one row per (origin, key id), inserted once, with one column per response step set once it is done."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bot.store.audit import AuditLog
from bot.store.db import Database
from bot.store.models import Exposure


@dataclass(frozen=True)
class ExposureRecord:
    id: int
    origin: str
    key_id: str
    source: str
    channel: str | None
    message_ts: str | None
    thread_ts: str | None
    poster: str | None
    permalink: str | None
    health_type: str | None
    reported_at: datetime | None
    detected_at: datetime
    looked_up_at: datetime | None
    account: str | None
    iam_user: str | None
    aws_account_id: str | None
    owner: str | None
    reply_ts: str | None
    deleted: str | None
    poster_told_at: datetime | None
    alert_ts: str | None
    owner_told_at: datetime | None
    done_at: datetime | None


_FIELDS = list(ExposureRecord.__dataclass_fields__)


@dataclass(frozen=True)
class LookedUp:
    """Who owns an exposed key, and the audit event that says it was exposed."""

    account: str | None
    iam_user: str | None
    aws_account_id: str | None
    owner: str | None  # the owner's Slack user id
    permalink: str | None
    actor: str
    detail: str


class Exposures:
    def __init__(self, db: Database, audit: AuditLog) -> None:
        self._db = db
        self._audit = audit

    def claim(self, origin: str, key_ids: Sequence[str], now: datetime, **fields: Any) -> list[int]:
        """Insert the rows of keys not seen at this origin yet; their ids, or [] when another run has them."""
        try:
            with self._db.session() as session:
                seen = set(session.scalars(select(Exposure.key_id).where(Exposure.origin == origin)))
                rows = [
                    Exposure(origin=origin, key_id=k, detected_at=now, claimed_at=now, **fields)
                    for k in key_ids
                    if k not in seen
                ]
                session.add_all(rows)
                session.flush()
                return [r.id for r in rows]
        except IntegrityError:  # the same message, delivered twice at once: the other delivery responds
            return []

    def looked_up(self, found: Mapping[int, LookedUp], rows: Iterable[ExposureRecord], now: datetime) -> None:
        """Record each key's owner once, with its `exposed` audit event: a row another run looked up stays as is."""
        with self._db.session() as session:
            for r in rows:
                f = found[r.id]
                values = {
                    "looked_up_at": now,
                    "account": f.account,
                    "iam_user": f.iam_user,
                    "aws_account_id": f.aws_account_id,
                    "owner": f.owner,
                    "permalink": f.permalink,
                }
                won = session.execute(
                    update(Exposure)
                    .where(Exposure.id == r.id, Exposure.looked_up_at.is_(None))
                    .values(**values)
                    .returning(Exposure.id)
                ).first()
                if won:
                    self._audit.record(
                        session,
                        f.actor,
                        "exposed",
                        outcome="critical",
                        account=f.account,
                        iam_user=f.iam_user,
                        key_id=r.key_id,
                        detail=f.detail,
                    )

    def unfinished_origins(self, claimed_before: datetime, detected_after: datetime, limit: int = 50) -> list[str]:
        with self._db.session() as session:
            return list(
                session.scalars(
                    select(Exposure.origin)
                    .where(
                        Exposure.done_at.is_(None),
                        Exposure.claimed_at < claimed_before,
                        Exposure.detected_at > detected_after,
                    )
                    .distinct()
                    .limit(limit)
                )
            )

    def reclaim(self, origin: str, claimed_before: datetime, now: datetime) -> list[int]:
        """Claim the unfinished rows of `origin` that no run claimed since `claimed_before`; their ids."""
        with self._db.session() as session:
            return list(
                session.scalars(
                    update(Exposure)
                    .where(Exposure.origin == origin, Exposure.done_at.is_(None), Exposure.claimed_at < claimed_before)
                    .values(claimed_at=now)
                    .returning(Exposure.id)
                )
            )

    def load(self, row_ids: Iterable[int]) -> list[ExposureRecord]:
        with self._db.session() as session:
            rows = session.scalars(select(Exposure).where(Exposure.id.in_(list(row_ids))).order_by(Exposure.id))
            return [_record(r) for r in rows]

    def latest_by_key(self, key_ids: Iterable[str]) -> dict[str, ExposureRecord]:
        """The latest exposure of each of these keys that has one."""
        latest: dict[str, ExposureRecord] = {}
        with self._db.session() as session:
            for r in session.scalars(
                select(Exposure).where(Exposure.key_id.in_(list(key_ids))).order_by(Exposure.detected_at)
            ):
                latest[r.key_id] = _record(r)
        return latest

    def set(self, row_ids: Iterable[int], **values: Any) -> None:
        with self._db.session() as session:
            session.execute(update(Exposure).where(Exposure.id.in_(list(row_ids))).values(**values))


def _record(row: Exposure) -> ExposureRecord:
    return ExposureRecord(**{name: getattr(row, name) for name in _FIELDS})
