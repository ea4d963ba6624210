"""What `list` and `check` say about a key's exposure: the latest time it was pasted (or reported by AWS
Health), and whether AWS quarantined its user as the last scan saw it."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from bot.domain.findings import AWS_QUARANTINE
from bot.slack.messages.exposures import exposure_note, quarantine_note
from bot.store.db import Database
from bot.store.models import Exposure, FindingNotice


class ExposureNotes:
    def __init__(self, db: Database) -> None:
        self._db = db

    def notes_for(self, key_ids: Iterable[str]) -> dict[str, str]:
        """A note on the latest exposure of each of these keys that has one."""
        wanted = sorted(set(key_ids))
        if not wanted:
            return {}
        latest: dict[str, str] = {}
        with self._db.session() as session:
            for r in session.scalars(
                select(Exposure).where(Exposure.key_id.in_(wanted)).order_by(Exposure.detected_at)
            ):
                latest[r.key_id] = exposure_note(
                    r.source, r.detected_at, r.channel, r.poster, r.permalink, r.health_type
                )
        return latest

    def quarantine_notes(self, key_ids: Iterable[str]) -> dict[str, str]:
        """Keys on a user AWS quarantined, as the last scan saw them, with when a scan first saw it."""
        wanted = sorted(set(key_ids))
        if not wanted:
            return {}
        with self._db.session() as session:
            rows = session.scalars(
                select(FindingNotice).where(
                    FindingNotice.code == AWS_QUARANTINE,
                    FindingNotice.subject.in_(wanted),
                    FindingNotice.resolved_at.is_(None),
                )
            )
            return {r.subject: quarantine_note(r.account, r.iam_user, r.first_seen) for r in rows}
