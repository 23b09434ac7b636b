"""Alembic environment of reserver-sql: programmatic (``reserver.sql.migrate``) or CLI."""

from __future__ import annotations

from logging.config import fileConfig

import sqlalchemy as sa
from alembic import context

import reserver.sql.identity_tables  # noqa: F401  (registers the identity tables on metadata)
from reserver.sql.engine import create_engine
from reserver.sql.schema import VERSION_TABLE
from reserver.sql.tables import metadata

MIGRATION_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('reserver-sql migrations', 0))"


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url")
    url = url or context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("give a database URL: alembic -x url=sqlite:///reserver.db upgrade head")
    return url


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
        transactional_ddl=True,  # on SQLite too: the engine emits BEGIN IMMEDIATE itself
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(MIGRATION_LOCK)  # one migrating process at a time
        context.run_migrations()


def run_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(_url())
    try:
        with engine.connect() as connection:
            _run(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.config.config_file_name is not None:  # the command line, with alembic.ini
    fileConfig(context.config.config_file_name, disable_existing_loggers=False)
if context.is_offline_mode():
    run_offline()
else:
    run_online()
