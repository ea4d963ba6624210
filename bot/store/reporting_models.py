"""The tables of what security teams read, beside `models` (same metadata): each scan's posture summary, and the
findings sent to each account's Security Hub."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models import Base


class PostureSnapshot(Base):
    """One scan's posture summary (bot/domain/posture.py), kept for the trend."""

    __tablename__ = "posture_snapshots"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    taken_at: Mapped[datetime] = mapped_column(index=True)
    trigger: Mapped[str] = mapped_column(String(16))
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    # When the weekly digest carried this snapshot's chart to the alert channel.
    chart_posted_at: Mapped[datetime | None] = mapped_column(index=True)


class HubFinding(Base):
    """A finding as last sent to an account's Security Hub: re-sent archived when a scan no longer sees it."""

    __tablename__ = "security_hub_findings"

    account: Mapped[str] = mapped_column(String(64), primary_key=True)
    finding_id: Mapped[str] = mapped_column(String(512), primary_key=True)
    aws_account_id: Mapped[str] = mapped_column(String(12))
    record_state: Mapped[str] = mapped_column(String(16), index=True)  # ACTIVE or ARCHIVED
    payload: Mapped[str] = mapped_column(Text)  # the ASFF finding as sent (no secret: key ids, users, owners)
    first_sent_at: Mapped[datetime]
    sent_at: Mapped[datetime]
