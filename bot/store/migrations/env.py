"""Alembic environment: runs on the connection that `Database.migrate` hands over."""

from alembic import context
from sqlalchemy import create_engine

import bot.store.delivery_models  # its table is in Base.metadata too
import bot.store.reporting_models  # its tables are in Base.metadata too
import bot.store.time_bound_models
import bot.store.workload_models  # noqa: F401 (its tables are in Base.metadata too)
from bot.store.models import Base

config = context.config

# APScheduler keeps its own table; migrations leave it alone.
_FOREIGN_TABLES = {"apscheduler_jobs"}


def include_name(name, type_, parent_names):
    return not (type_ == "table" and name in _FOREIGN_TABLES)


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        url = config.get_main_option("sqlalchemy.url")
        if not url:
            raise SystemExit("sqlalchemy.url is not set: run the migrations with `python -m bot db upgrade`")
        with create_engine(url).connect() as conn:
            _migrate(conn)
            conn.commit()
    else:
        _migrate(connection)


def _migrate(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
