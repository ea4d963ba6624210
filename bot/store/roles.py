"""The PostgreSQL role split: the tables belong to the role that runs the migrations; the bot logs in as
another role, which may only read and append to the audit tables.

A table's owner can always delete rows or disable the append-only triggers (`ALTER TABLE ... DISABLE
TRIGGER`). So the login role must neither own the tables nor be a member of their owner: then no
statement the bot can send removes an audit event or an anchor. `python -m bot db upgrade --grant-to
ROLE`, run as the owner, migrates and then grants the login role what the bot needs (docs/operations.md).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

from bot.store.db import Database

APPEND_ONLY = ("audit_events", "audit_anchors")  # SELECT and INSERT only
READ_ONLY = ("alembic_version",)  # the bot checks the schema's version at start and in /healthz


class GrantRefused(Exception):
    """The role cannot be the bot's login role as it stands (one line, for the operator)."""


def grant_login_role(db: Database, role: str) -> list[str]:
    """Grant `role` what the bot needs on the current schema; returns the tables it may only append to."""
    if not db.is_postgres:
        raise GrantRefused("--grant-to needs PostgreSQL: SQLite has no roles")
    with db.engine.begin() as conn:
        _check(conn, role)
        who = conn.dialect.identifier_preparer.quote(role)
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        tables = list(conn.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = :s"), {"s": schema}))
        quoted = conn.dialect.identifier_preparer.quote_schema(schema)
        conn.execute(text(f"GRANT USAGE ON SCHEMA {quoted} TO {who}"))
        for table in sorted(tables):
            name = f"{quoted}.{conn.dialect.identifier_preparer.quote(table)}"
            conn.execute(text(f"REVOKE ALL ON {name} FROM {who}"))  # whatever it held before
            if table in APPEND_ONLY:
                conn.execute(text(f"GRANT SELECT, INSERT ON {name} TO {who}"))
            elif table in READ_ONLY:
                conn.execute(text(f"GRANT SELECT ON {name} TO {who}"))
            else:
                conn.execute(text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {name} TO {who}"))
        conn.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {quoted} TO {who}"))
    return [t for t in APPEND_ONLY if t in tables]


def _check(conn: Connection, role: str) -> None:
    found = conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = :r"), {"r": role}).first()
    if found is None:
        raise GrantRefused(f"role {role!r} does not exist: create it first (CREATE ROLE ... LOGIN)")
    if found[0]:
        raise GrantRefused(f"role {role!r} is a superuser: it could delete audit events; use an ordinary role")
    owners = conn.scalars(
        text(
            "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = current_schema()"
            " AND pg_has_role(:r, tableowner, 'MEMBER')"
        ),
        {"r": role},
    ).all()
    if owners:
        raise GrantRefused(
            f"role {role!r} is (or acts as) {owners[0]!r}, the tables' owner: it could delete audit events;"
            " run the migrations as the owner and let the bot log in as another role"
        )
