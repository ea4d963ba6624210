"""The table of deliveries, beside `models` (same metadata): which key each location of a delivered rotation holds."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models import Base


class LocationDeliveryRow(Base):
    """One location of one delivered rotation: the key id written there last and how it went. Never a secret: the
    key itself lives only in its locations (bot/store/deliveries.py)."""

    __tablename__ = "location_deliveries"

    rotation_id: Mapped[str] = mapped_column(String(16), ForeignKey("rotations.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    place: Mapped[str] = mapped_column(String(300))
    key_id: Mapped[str | None] = mapped_column(String(32))
    held: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    transient: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime]
