"""The table of time-bound keys, beside `models` (same metadata): each key's end and how far it got."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models import Base


class TimeBoundKeyRow(Base):
    """A time-bound key's end: switched off at `ends_at`, deleted a day later. Written in the transaction that
    records the key's creation; each step is one conditional UPDATE (bot/store/time_bound_keys.py)."""

    __tablename__ = "time_bound_keys"

    request_id: Mapped[str] = mapped_column(String(16), ForeignKey("requests.id"), primary_key=True)
    account: Mapped[str] = mapped_column(String(64))
    iam_user: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(32), index=True)
    owner: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    warn_at: Mapped[datetime]
    next_at: Mapped[datetime] = mapped_column(index=True)
    deactivated_at: Mapped[datetime | None]
    delete_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(Text)
