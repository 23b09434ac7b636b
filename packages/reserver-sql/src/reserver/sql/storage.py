"""``SqlStorage``: the Storage port on SQLAlchemy 2, for SQLite and PostgreSQL."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from reserver.core.errors import ReserverError, StorageError
from reserver.core.models import Resource
from reserver.core.serialization import make_converter
from reserver.sql.config_cache import ConfigCache
from reserver.sql.db import Db, RequestScope, RowCache, StaleCache
from reserver.sql.engine import READONLY, SqliteSettings, Synchronous, create_engine, prepare_engine
from reserver.sql.errors import is_busy, translate
from reserver.sql.identity import SqlIdentityRepositories
from reserver.sql.outbox import SqlOutboxRepository
from reserver.sql.reservations import (
    SqlHistoryRepository,
    SqlReservationRepository,
    SqlSeriesRepository,
)
from reserver.sql.resources import SqlGroupRepository, SqlResourceRepository
from reserver.sql.schedules import SqlBlackoutRepository, SqlHoursRepository
from reserver.sql.schema import migrate as migrate_schema
from reserver.sql.tables import CONFIGURATION, IDENTITY
from reserver.sql.writers import Member, WriterGroups

if TYPE_CHECKING:
    from reserver.core.ports import Storage, Transaction

# Every unit starts in autocommit mode and opens its transaction itself (``Db``): a writing
# one, READ COMMITTED, before its first statement that may write or lock, so one refused after
# its reads never had a transaction to end; a read-only one, REPEATABLE READ READ ONLY (one
# snapshot), in the same round trip as its first query.
_PG_UNIT = {"isolation_level": "AUTOCOMMIT"}

T = TypeVar("T")


class SqlTransaction:
    """One unit of work on one connection; its repositories share the connection."""

    def __init__(self, db: Db) -> None:
        self._db = db
        self.resources = SqlResourceRepository(db)
        self.groups = SqlGroupRepository(db)
        self.reservations = SqlReservationRepository(db)
        self.series = SqlSeriesRepository(db)
        self.history = SqlHistoryRepository(db)
        self.hours = SqlHoursRepository(db)
        self.blackouts = SqlBlackoutRepository(db)
        self.outbox = SqlOutboxRepository(db)

    @cached_property
    def identity(self) -> SqlIdentityRepositories:
        """Accounts, sessions and access control, on this unit of work's connection."""
        return SqlIdentityRepositories(self._db)

    def lock(self, key: str) -> None:
        """Serialize, until this unit of work ends, every unit of work that locks ``key``.

        PostgreSQL takes a transaction-level advisory lock on a 64-bit hash of ``key``. On
        SQLite this is a no-op: a writing unit of work starts with ``BEGIN IMMEDIATE``, which
        already excludes every other writer until it ends.
        """
        self._db.lock(key)


class SqlStorage:
    """Storage on SQLAlchemy 2: SQLite (embedded) and PostgreSQL (production).

    Writing units of work run at ``BEGIN IMMEDIATE`` on SQLite (those of one process that
    queue up share one transaction, each in a savepoint, and one COMMIT: group commit, see
    ``reserver.sql.writers``) and at READ COMMITTED on
    PostgreSQL, where the exclusion constraint is what refuses a concurrent overlap (and the
    transaction opens at the unit's first statement that may write or lock); read-only
    ones run deferred with ``query_only`` on SQLite and at REPEATABLE READ, READ ONLY on
    PostgreSQL (one snapshot, opened with their first query), so a write through them is a
    ``StorageError``. A SQLite
    database that stays locked past the busy timeout is retried a few times, then surfaces as
    ``StorageError``. Deviation from the port, as in the in-memory storage: a writing unit of
    work opened while the same thread has one open raises ``StorageError`` at once, instead
    of waiting for itself.
    """

    def __init__(
        self,
        engine: sa.Engine,
        *,
        synchronous: Synchronous = "FULL",
        busy_timeout: float = 5.0,
        begin_attempts: int = 3,
    ) -> None:
        # The SQLite settings take effect on an engine's first storage (or ``create_engine``).
        prepare_engine(engine, SqliteSettings(synchronous, busy_timeout))
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        self._attempts = max(1, begin_attempts)
        self._converter = make_converter()
        self._resources: RowCache[Resource] = RowCache()
        self._caches = {CONFIGURATION: ConfigCache(), IDENTITY: ConfigCache()}
        self._local = threading.local()
        self._writer: sa.Connection | None = None
        self._writers = (
            None
            if self._postgres
            else WriterGroups(
                engine.url.database,
                busy_timeout * self._attempts,
                begin=self._begin_shared,
                commit=self._commit_shared,
                abort=self._abort_shared,
            )
        )

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        migrate: bool = True,
        synchronous: Synchronous = "FULL",
        busy_timeout: float = 5.0,
    ) -> SqlStorage:
        """Connect to ``url`` and, unless ``migrate=False``, bring its schema up to date.

        Args:
            url: ``sqlite:///path/to/reserver.db`` or ``postgresql+psycopg://user@host/db``.
            migrate: run the Alembic migrations first (safe to run on every start).
            synchronous: SQLite's durability, ``FULL`` (default) or ``NORMAL``.
            busy_timeout: seconds a SQLite writer waits for another one, per attempt.

        Raises:
            ConfigurationError: the URL names no supported database.
            StorageError: the database could not be reached or migrated.
        """
        engine = create_engine(url, SqliteSettings(synchronous, busy_timeout))
        storage = cls(engine, synchronous=synchronous, busy_timeout=busy_timeout)
        if migrate:
            try:
                migrate_schema(engine)
            except BaseException:
                engine.dispose()
                raise
        return storage

    @property
    def engine(self) -> sa.Engine:
        """The engine this storage runs on."""
        return self._engine

    @contextmanager
    def transaction(self, *, readonly: bool = False) -> Iterator[SqlTransaction]:
        """Open a unit of work that commits when the block ends and rolls back if it raises.

        Raises:
            StorageError: a writing unit is already open in this thread (it would wait for
                itself: pass that unit's transaction down instead), or the database failed.
        """
        if readonly:
            with self._unit(readonly=True) as tx:
                yield tx
            return
        if getattr(self._local, "writing", False):
            raise StorageError(
                "a writing unit of work is already open in this thread; pass its transaction "
                "down instead of opening another"
            )
        self._local.writing = True
        try:
            if self._writers is None:
                with self._unit(readonly=False) as tx:
                    yield tx
            else:
                with self._writers.turn() as member, self._member_unit(member) as tx:
                    yield tx
        finally:
            self._local.writing = False

    @contextmanager
    def request_scope(self) -> Iterator[None]:
        """Let this thread's units of work in the block share one reading of the counters.

        See ``Storage.request_scope``: configuration and identity data read through the caches
        are then as of the scope's first unit that read the counters; one round trip a unit
        fewer. A unit that writes such data makes the next one read the counters afresh. A
        scope opened inside another is part of it.
        """
        if getattr(self._local, "scope", None) is not None:
            yield
            return
        self._local.scope = RequestScope()
        try:
            yield
        finally:
            self._local.scope = None

    def run_scoped(self, work: Callable[[], T]) -> T:
        """Run ``work`` in a request scope of its own; on PostgreSQL, one round trip fewer.

        See ``Storage.run_scoped``. On PostgreSQL the scope serves cached data before reading
        the generation counters, and reads them with its first query
        (``reserver.sql.config_cache``); when they moved, ``work`` runs again in a scope that
        reads them first. Inside an open scope, and on SQLite (where reading them costs no
        round trip), ``work`` simply runs in the scope.
        """
        if not self._postgres or getattr(self._local, "scope", None) is not None:
            with self.request_scope():
                return work()
        scope = RequestScope(unchecked=True)
        self._local.scope = scope
        try:
            try:
                return work()
            finally:
                # Data served and never checked (no statement went out): check it now. A
                # StaleCache here replaces what ``work`` returned or raised.
                if scope.unchecked and scope.assumed:
                    with self._unit(readonly=False) as tx:
                        tx._db.check_first()
        except StaleCache:
            pass
        finally:
            self._local.scope = None
        with self.request_scope():
            return work()

    @contextmanager
    def _unit(self, *, readonly: bool) -> Iterator[SqlTransaction]:
        connection = self._begin(readonly)
        scope: RequestScope | None = getattr(self._local, "scope", None)
        db = Db(connection, self._converter, self._resources, self._caches, scope)
        try:
            yield SqlTransaction(db)
        except BaseException as exc:
            if self._postgres and _refused_cleanly(exc, db):
                _commit_unchanged(connection)
            else:
                _rollback(connection)
            raise
        else:
            try:
                db.commit()
            except BaseException:
                _end_after_failed_commit(connection)
                raise
        finally:
            if scope is not None and db.wrote_counted:
                scope.generations = None
            connection.close()

    @contextmanager
    def _member_unit(self, member: Member[_SharedWrite]) -> Iterator[SqlTransaction]:
        """A SQLite writing unit in its group's transaction.

        The group commits after its last member. A unit that raises undoes its own work alone:
        with ``ROLLBACK TO`` its savepoint, or, when no member's work came before it (a lone
        writer's case, where a savepoint would only cost), with a ROLLBACK of the transaction,
        which the next member begins afresh. If that fails, the group's work is lost with it.
        """
        shared = member.shared
        if shared.connection is None:
            shared.connection = self._begin(readonly=False, shared=True)
        connection, alone = shared.connection, not shared.kept
        scope: RequestScope | None = getattr(self._local, "scope", None)
        db = Db(connection, self._converter, self._resources, self._caches, scope, shared.written)
        driver = connection.connection.driver_connection
        try:
            if not alone:
                _savepoint(driver, "SAVEPOINT")
            yield SqlTransaction(db)
            db.flush()
            if not alone:
                _savepoint(driver, "RELEASE")
            shared.kept += 1
        except BaseException:
            try:
                if alone:
                    shared.connection = None
                    connection.rollback()
                else:
                    _savepoint(driver, "ROLLBACK TO")
                    _savepoint(driver, "RELEASE")
            except Exception as exc:
                member.spoil(exc)
            raise
        finally:
            if scope is not None and db.wrote_counted:
                scope.generations = None

    def _begin_shared(self) -> _SharedWrite:
        return _SharedWrite(self._begin(readonly=False, shared=True))

    def _commit_shared(self, shared: _SharedWrite) -> None:
        if shared.connection is None:
            return  # its last member rolled it back and nobody began it again
        try:
            shared.connection.commit()
        except BaseException as exc:
            _end_after_failed_commit(shared.connection)
            self._drop_writer()
            if isinstance(exc, sa_exc.SQLAlchemyError):
                raise translate(exc, subject="a group of units of work") from exc
            raise

    def _abort_shared(self, shared: _SharedWrite) -> None:
        try:
            if shared.connection is not None:
                _rollback(shared.connection)
        finally:
            self._drop_writer()

    def _writer_connection(self) -> sa.Connection:
        """The connection SQLite's writing groups of this process share, one group at a time.

        Its own, outside the pool: pooled connections serve read-only units alone, so neither
        kind switches ``query_only`` (a statement each way, and costlier than it looks) on
        every unit, and a group takes no pool checkout.
        """
        writer = self._writer
        if writer is None or writer.closed or writer.invalidated:
            writer = self._writer = self._engine.connect()
        return writer

    def _drop_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()

    def _begin(self, readonly: bool, *, shared: bool = False) -> sa.Connection:
        attempt = 1
        while True:
            connection: sa.Connection | None = None
            try:
                connection = self._writer_connection() if shared else self._engine.connect()
                if readonly:
                    connection.execution_options(**{READONLY: True})
                if self._postgres:
                    connection.execution_options(**_PG_UNIT)
                connection.begin()
                return connection
            except sa_exc.SQLAlchemyError as exc:
                if shared:
                    self._drop_writer()
                elif connection is not None:
                    connection.close()
                if not is_busy(exc):
                    raise translate(exc, subject="a unit of work") from exc
                if attempt == self._attempts:
                    raise StorageError(
                        f"the database stayed locked by another writer through {attempt} "
                        "attempts; try again later"
                    ) from exc
            # Another writer held the database past the busy timeout: back off, then retry.
            time.sleep(random.uniform(0.5, 1.0) * 0.05 * 2**attempt)
            attempt += 1

    def close(self) -> None:
        """Close every connection; the storage reconnects if it is used again."""
        self._drop_writer()
        self._engine.dispose()


@attrs.define(eq=False)
class _SharedWrite:
    """The transaction a group of SQLite writers shares (``reserver.sql.writers``)."""

    # None after a lone member rolled the transaction back: the next member begins it again.
    connection: sa.Connection | None
    # The generation counters whose tables a member wrote: every later member bypasses the
    # shared caches for them, as the writer itself does.
    written: set[int] = attrs.Factory(set)
    kept: int = 0  # members whose work the transaction holds


def _savepoint(driver: Any, command: str) -> None:
    """``SAVEPOINT``, ``RELEASE`` or ``ROLLBACK TO`` the savepoint of a group member's unit."""
    try:
        driver.execute(f"{command} reserver_unit")
    except Exception as exc:
        raise StorageError(f"storage failed at {command} of a unit of work: {exc}") from exc


def _refused_cleanly(exc: BaseException, db: Db) -> bool:
    """Whether a unit of work ended by a business refusal after only successful queries."""
    return isinstance(exc, ReserverError) and not isinstance(exc, StorageError) and not db.dirty


def _commit_unchanged(connection: sa.Connection) -> None:
    """End a unit of work that changed nothing with COMMIT, which then equals ROLLBACK.

    On PostgreSQL a ROLLBACK makes psycopg drop every prepared statement of the connection
    (``DEALLOCATE ALL``: one more round trip, and each statement is planned afresh), which
    made every refused booking pay twice.
    """
    try:
        connection.commit()
    except sa_exc.SQLAlchemyError:
        _rollback(connection)


def _end_after_failed_commit(connection: sa.Connection) -> None:
    """Roll back at the driver, or drop the connection, after a COMMIT that raised.

    SQLAlchemy counts the transaction as ended then and skips the pool's reset, but psycopg
    may still hold the failed transaction (a pipeline whose insert failed before its COMMIT):
    the next unit of work on that connection would find it aborted.
    """
    try:
        dbapi = connection.connection.dbapi_connection
        if dbapi is not None:
            dbapi.rollback()
    except Exception:
        connection.invalidate()


def _rollback(connection: sa.Connection) -> None:
    try:
        connection.rollback()
    except sa_exc.SQLAlchemyError:
        # The error that led here matters more; a connection that cannot roll back is dropped.
        connection.invalidate()


if TYPE_CHECKING:
    _: type[Storage] = SqlStorage
    _tx: type[Transaction] = SqlTransaction
