"""Engines set up for Reserver: SQLite's pragmas and transaction control, PostgreSQL's driver.

SQLite runs in WAL mode with ``synchronous=FULL`` by default (an acknowledged booking survives a
power cut; ``NORMAL`` is the opt-in trade of the last commits for speed), a busy timeout and
foreign keys on. The ``sqlite3`` module's own transaction handling is switched off and the
engine emits ``BEGIN IMMEDIATE`` for writing units of work (so writers queue up at the start,
never fail half-way) and a plain deferred ``BEGIN`` with ``query_only`` for read-only ones, which
WAL lets run beside a writer.
"""

from __future__ import annotations

import sqlite3
import weakref
from pathlib import Path
from typing import Any, Literal

import attrs
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc

from reserver.core.errors import ConfigurationError

Synchronous = Literal["FULL", "NORMAL"]
READONLY = "reserver_readonly"
_QUERY_ONLY = "reserver_query_only"
_prepared: weakref.WeakSet[sa.Engine] = weakref.WeakSet()
PG_POOL_RECYCLE = 1800


@attrs.frozen
class SqliteSettings:
    """How SQLite connections are set up."""

    synchronous: Synchronous = "FULL"
    busy_timeout: float = 5.0

    def __attrs_post_init__(self) -> None:
        if self.synchronous not in ("FULL", "NORMAL"):
            raise ConfigurationError(
                f"synchronous must be FULL or NORMAL, not {self.synchronous!r}"
            )
        if self.busy_timeout < 0:
            raise ConfigurationError(f"busy_timeout must not be negative, not {self.busy_timeout}")


def make_url(url: str | sa.URL) -> sa.URL:
    """Parse ``url``; a bare ``postgresql://`` means psycopg 3, the driver this package ships."""
    try:
        parsed = sa.make_url(url)
    except sa_exc.ArgumentError as exc:
        # The text may hold a password: it stays out of the message.
        raise ConfigurationError(
            "not a database URL; give e.g. sqlite:///reserver.db or "
            "postgresql+psycopg://user:password@host/dbname"
        ) from exc
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def create_engine(url: str | sa.URL, settings: SqliteSettings | None = None) -> sa.Engine:
    """Return an engine for ``url`` (SQLite file or PostgreSQL), set up for Reserver."""
    parsed = make_url(url)
    try:
        engine = sa.create_engine(parsed, **_pool_options(parsed))
    except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError, ImportError) as exc:
        raise ConfigurationError(f"cannot use database URL {parsed!r}: {exc}") from exc
    prepare_engine(engine, settings or SqliteSettings())
    if engine.dialect.name == "sqlite" and parsed.database:
        _make_parent(Path(parsed.database))
    return engine


def _pool_options(url: sa.URL) -> dict[str, Any]:
    """No ping per checkout on PostgreSQL (a round trip per unit of work); recycle instead.

    Connections older than ``pool_recycle`` seconds are replaced before server or network
    timeouts drop them; one dropped all the same fails its unit of work with ``StorageError``
    and is discarded by the pool, as every unit of work may fail.
    """
    if url.get_backend_name() == "postgresql":
        return {"pool_recycle": PG_POOL_RECYCLE}
    return {}


def _make_parent(database: Path) -> None:
    """Create the folder of a SQLite file, as SQLite creates the file itself."""
    try:
        database.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(f"cannot create the folder of {str(database)!r}: {exc}") from exc


def prepare_engine(engine: sa.Engine, settings: SqliteSettings) -> None:
    """Check the engine's database and, for SQLite, install the connection set-up once."""
    backend = engine.dialect.name
    if backend == "postgresql":
        return
    if backend != "sqlite":
        raise ConfigurationError(f"reserver-sql runs on SQLite and PostgreSQL, not {backend!r}")
    if _is_memory(engine.url):
        raise ConfigurationError(
            "an in-memory SQLite database cannot be shared by the connections of a storage; "
            "give a file (sqlite:///reserver.db) or use the core's in-memory storage"
        )
    if engine in _prepared:
        return
    event.listen(engine, "connect", _on_connect(settings))
    event.listen(engine, "begin", _on_begin)
    _prepared.add(engine)
    engine.dispose()  # connections opened before the listeners lack the pragmas


def _is_memory(url: sa.URL) -> bool:
    database = url.database or ""
    return database in ("", ":memory:") or url.query.get("mode") == "memory"


def _on_connect(settings: SqliteSettings) -> Any:
    timeout_ms = round(settings.busy_timeout * 1000)

    def on_connect(dbapi_connection: sqlite3.Connection, record: object) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, see _on_begin
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {timeout_ms}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute(f"PRAGMA synchronous = {settings.synchronous}")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    return on_connect


def _on_begin(connection: sa.Connection) -> None:
    readonly = bool(connection.get_execution_options().get(READONLY, False))
    # query_only makes a write through a read-only unit fail, as READ ONLY does on PostgreSQL.
    # The flag belongs to the pooled connection, so it is switched only when it changes, and
    # before BEGIN: under query_only even BEGIN IMMEDIATE counts as a write.
    if connection.info.get(_QUERY_ONLY, False) != readonly:
        connection.exec_driver_sql(f"PRAGMA query_only = {int(readonly)}")
        connection.info[_QUERY_ONLY] = readonly
    connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")
