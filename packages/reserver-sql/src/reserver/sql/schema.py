"""Running the Alembic migrations that live inside this package; no ``alembic.ini`` needed.

Alembic is imported only when a database needs migrating: every process start migrates, and a
database already at ``HEAD`` costs one query instead of Alembic's import (about 10 MiB in
every web worker).
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from reserver.core.errors import ConfigurationError, StorageError
from reserver.sql.engine import create_engine

if TYPE_CHECKING:
    from alembic.config import Config

VERSION_TABLE = "reserver_alembic_version"
HEAD = "0003"  # the newest migration's revision; a test keeps it true


def alembic_config(connection: sa.Connection | None = None, url: str | None = None) -> Config:
    """Return an Alembic configuration for Reserver's migrations.

    Args:
        connection: run on this connection, inside its transaction.
        url: or connect to this URL (ignored when ``connection`` is given).
    """
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(resources.files("reserver.sql") / "migrations"))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def migrate(target: sa.Engine | str, *, revision: str = "head") -> None:
    """Bring the database of ``target`` (an engine or a URL) to ``revision``; safe to rerun.

    Concurrent runs are serialized (``BEGIN IMMEDIATE`` on SQLite, an advisory lock on
    PostgreSQL), so every process of a deployment may migrate at start-up.

    Raises:
        ConfigurationError: the database carries a revision this package does not know.
        StorageError: the database failed.
    """
    engine = create_engine(target) if isinstance(target, str) else target
    try:
        if revision == "head" and _revision(engine) == HEAD:
            return
        _upgrade(engine, revision)
    except sa_exc.SQLAlchemyError as exc:
        raise StorageError(f"migrating the database failed: {exc}") from exc
    finally:
        if isinstance(target, str):
            engine.dispose()


def _upgrade(engine: sa.Engine, revision: str) -> None:
    from alembic import command
    from alembic.util import CommandError

    try:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), revision)
    except CommandError as exc:
        raise ConfigurationError(f"cannot migrate the database: {exc}") from exc


def _revision(engine: sa.Engine) -> str | None:
    """The database's revision, or ``None`` (no version table yet, or no row in it)."""
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
    except sa_exc.SQLAlchemyError:
        return None  # Alembic will create the table, or report what is wrong
