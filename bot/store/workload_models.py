"""The tables of keys on their way to roles, beside `models` (same metadata): each key's last workload profile
(`replace` and the weekly sample), and each approved `retire` watching its key and role."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models import Base


class KeyWorkloadRow(Base):
    """A key's workload as last profiled from CloudTrail: the verdict, not the events (no addresses or agents)."""

    __tablename__ = "key_workloads"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account: Mapped[str] = mapped_column(String(64), index=True)
    iam_user: Mapped[str] = mapped_column(String(64))
    profiled_at: Mapped[datetime] = mapped_column(index=True)
    days: Mapped[int]
    calls: Mapped[int]
    runner: Mapped[str | None] = mapped_column(String(32))
    confidence: Mapped[str] = mapped_column(String(16))
    replaceable: Mapped[bool] = mapped_column(index=True)
    summary: Mapped[str] = mapped_column(Text)  # "all 60 calls from AWS Lambda in us-east-1"
    kind: Mapped[str] = mapped_column(String(48))  # what replaces it (bot/domain/replacement.py Kind)
    role_name: Mapped[str] = mapped_column(String(64))
    lookups: Mapped[int]  # CloudTrail LookupEvents requests the profile took


class RetirementRow(Base):
    """An approved `retire`: the key is switched off once its role is in use and the key quiet, then deleted. Each
    step is one conditional UPDATE (bot/store/retirements.py)."""

    __tablename__ = "retirements"

    request_id: Mapped[str] = mapped_column(String(16), ForeignKey("requests.id"), primary_key=True)
    account: Mapped[str] = mapped_column(String(64))
    iam_user: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(32), index=True)
    owner: Mapped[str] = mapped_column(String(32))  # who is told: the requester
    role_name: Mapped[str] = mapped_column(String(64))
    permission_set: Mapped[bool]  # role_name names an Identity Center permission set
    state: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    next_at: Mapped[datetime] = mapped_column(index=True)
    replacement_since: Mapped[datetime | None]
    told_at: Mapped[datetime | None]
    switched_off_at: Mapped[datetime | None]
    delete_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(Text)
