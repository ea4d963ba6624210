"""What the repositories raise when the database cannot answer: callers outside bot/store catch this name."""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError

# Any error of the database or its driver (lost connection, timeout, refused statement).
StoreError = SQLAlchemyError
