"""The connection of one unit of work, shared by its repositories."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Generic, NoReturn, TypeVar

import attrs
import sqlalchemy as sa
from cattrs.preconf.json import JsonConverter
from sqlalchemy import exc as sa_exc
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.dml import UpdateBase

from reserver.core.errors import RunAgain, StorageError
from reserver.core.models import Reservation, Resource
from reserver.sql.config_cache import ConfigCache
from reserver.sql.driver import (
    LOCK_SQL,
    READ_ONLY_BEGIN,
    DriverInsert,
    DriverQuery,
    PgCommand,
    PipelineFailed,
    begin_pg_transaction,
    driver_insert,
    driver_query,
    pg_begin_command,
    pg_lock_command,
    read_generations,
    read_pg_generations,
    run_pg_fresh,
    run_pg_pipeline,
    wrap_driver_error,
)
from reserver.sql.engine import READONLY
from reserver.sql.errors import translate
from reserver.sql.tables import CONFIGURATION, GENERATION_OF_TABLE

if TYPE_CHECKING:
    import psycopg

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")


@attrs.frozen
class _Deferred:
    statement: sa.Insert
    parameters: Mapping[str, Any]
    subject: str
    reservation: Reservation | None = None
    lock: str | None = None


def _culprit(exc: Exception, deferred: Sequence[_Deferred]) -> _Deferred:
    """The queued write a pipeline's error is about.

    That is the reservation whose key the error names (PostgreSQL reports the conflicting
    key), else the first reservation, else the first write.
    """
    orig = getattr(exc, "orig", exc)
    detail = getattr(getattr(orig, "diag", None), "message_detail", None) or ""
    booked = [write for write in deferred if write.reservation is not None]
    named = [w for w in booked if w.reservation and f"({w.reservation.resource_id}, " in detail]
    return (named or booked or list(deferred))[0]


def _locks_rows(statement: Executable) -> bool:
    """Whether ``statement`` is a ``SELECT ... FOR UPDATE`` (or ``FOR SHARE``)."""
    return getattr(statement, "_for_update_arg", None) is not None


def _counter_written(statement: Executable) -> int | None:
    """The generation counter whose tables ``statement`` writes, if any."""
    table = getattr(statement, "table", None) if isinstance(statement, UpdateBase) else None
    return GENERATION_OF_TABLE.get(getattr(table, "name", ""))


class StaleCache(RunAgain):
    """Cached data served before the counters were read was not current (``run_scoped``)."""


@attrs.define
class RequestScope:
    """The units of work of one request in one thread (``SqlStorage.request_scope``).

    The first that needs the generation counters reads them; the others reuse them, until a
    unit writes a table of a counter (its own writes must not be hidden by a cache filled
    before them): then the next reads them afresh.

    ``unchecked`` (``SqlStorage.run_scoped``): until the scope's first statement, cached data
    is served without reading the counters; ``assumed`` notes, for each counter whose cache
    served something, the generation that data was filled at. The first statement reads the
    counters too (with it, where the driver can) and ends that; a counter that moved is
    ``StaleCache``.
    """

    generations: dict[int, int] | None = None
    unchecked: bool = False
    assumed: dict[int, int] = attrs.Factory(dict)


class RowCache(Generic[T]):
    """Models decoded from rows, keyed by the whole row: a row that changed in any column misses.

    Decoding the JSON columns of a resource through cattrs costs far more than hashing its row,
    and resources are read on every booking. Shared by a storage's units of work (the values
    are frozen); at ``size`` entries it starts afresh.
    """

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._decoded: dict[tuple[Any, ...], T] = {}

    def decode(self, row: sa.Row[Any], build: Callable[[sa.Row[Any]], T]) -> T:
        """Return ``build(row)``, reusing the model built from an equal row."""
        key = tuple(row)
        found = self._decoded.get(key)
        if found is None:
            if len(self._decoded) >= self._size:
                self._decoded.clear()
            found = self._decoded[key] = build(row)
        return found


class Db:
    """Runs statements on one connection and translates every driver error on the way out."""

    def __init__(
        self,
        connection: sa.Connection,
        converter: JsonConverter,
        resources: RowCache[Resource] | None = None,
        caches: Mapping[int, ConfigCache] | None = None,
        scope: RequestScope | None = None,
        written: set[int] | None = None,
    ) -> None:
        self.connection = connection
        self.converter = converter
        self.resources: RowCache[Resource] = RowCache() if resources is None else resources
        self.postgres = connection.dialect.name == "postgresql"
        options = connection.get_execution_options()
        self.readonly = bool(options.get(READONLY, False))
        # A unit in autocommit mode (every unit on PostgreSQL, see storage) opens its
        # transaction itself: a writing one before its first statement that may write or lock,
        # a read-only one (its snapshot) with its first statement.
        self._opened = options.get("isolation_level") != "AUTOCOMMIT"
        # Whether the unit may have changed anything or failed a statement: only a unit that
        # ran nothing but successful queries may end with COMMIT when it raises (see storage).
        self.dirty = False
        self._caches: Mapping[int, ConfigCache] = caches or {}
        self._generations: dict[int, int] | None = None
        self._scope = scope
        # The counters whose tables this unit wrote: from then on its reads of them bypass the
        # shared caches, which must never see uncommitted rows. Units sharing one transaction
        # (SQLite's group commit) share the set.
        self._written: set[int] = set() if written is None else written
        self._deferred: list[_Deferred] = []

    def execute(
        self,
        statement: Executable,
        parameters: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        *,
        subject: str,
        reservation: Reservation | None = None,
    ) -> sa.CursorResult[Any]:
        """Run ``statement``; ``subject`` and ``reservation`` name what is at stake in errors."""
        if self._deferred:
            self._flush()
        reads = isinstance(statement, sa.Select)
        if not reads:
            self._note_write(statement)
        try:
            if not reads or _locks_rows(statement) or self.readonly:
                self.begin()  # with the scope's check, when it is due
            else:
                self.check_first()
            return self.connection.execute(statement, parameters)
        except sa_exc.SQLAlchemyError as exc:
            self.dirty = True
            raise translate(exc, subject=subject, reservation=reservation) from exc

    def rows(
        self,
        statement: Executable,
        params: Mapping[str, Any] | None = None,
        *,
        subject: str,
    ) -> Sequence[sa.Row[Any]]:
        """Run a query (with bound ``params``) and fetch every row."""
        return self.execute(statement, params, subject=subject).all()

    def first(
        self,
        statement: Executable,
        params: Mapping[str, Any] | None = None,
        *,
        subject: str,
    ) -> sa.Row[Any] | None:
        """Run a query (with bound ``params``) and fetch its first row, if any."""
        return self.execute(statement, params, subject=subject).first()

    def fetch(
        self, statement: sa.Select[Any], parameters: Mapping[str, Any], *, subject: str
    ) -> list[tuple[Any, ...]]:
        """Run a prebuilt hot query straight on the driver; its rows, processed, as tuples.

        For the reads of every booking and slot search, where SQLAlchemy's execution path
        costs as much as the query (``reserver.sql.driver``). The statement must bind no
        expanding parameters.
        """
        query = driver_query(statement, self.connection.dialect)
        driver: Any = self.connection.connection.driver_connection
        if self.postgres and not self._opened and (self.readonly or self._counts()):
            return self._fetch_first(query, driver, parameters, subject=subject)
        self.check_first()
        if self._deferred:
            self._flush()
        try:
            if self.postgres and not self._opened:
                return query.convert(query.run_idle(driver, parameters))
            cursor = driver.cursor()
            try:
                if self.postgres:
                    cursor.execute(query.sql, query.parameters(parameters), prepare=True)
                else:
                    cursor.execute(query.sql, query.parameters(parameters))
                return query.convert(cursor.fetchall())
            finally:
                cursor.close()
        except Exception as exc:
            self._driver_failed(exc, query.sql, parameters, subject=subject)

    def _counts(self) -> bool:
        """Whether the next statement, the scope's first, carries the scope's counters.

        It does on PostgreSQL, after the scope served unchecked cached data, unless queued
        writes must go first (they go after the check).
        """
        scope = self._scope
        return (
            self.postgres
            and scope is not None
            and scope.unchecked
            and bool(scope.assumed)
            and not self._deferred
        )

    def _fetch_first(
        self, query: DriverQuery, driver: Any, parameters: Mapping[str, Any], *, subject: str
    ) -> list[tuple[Any, ...]]:
        """``fetch`` as the first statement of a PostgreSQL unit with no transaction yet.

        One round trip carries, before the query, what must go first: a read-only unit's
        BEGIN (its snapshot), and the scope's counters when they check unchecked data.
        """
        counted = self._check_with_next()
        if self._deferred:
            self._flush()
        begin = READ_ONLY_BEGIN if self.readonly else None
        try:
            generations, rows = query.run_first(driver, parameters, begin=begin, counters=counted)
        except Exception as exc:
            self._driver_failed(exc, query.sql, parameters, subject=subject)
        finally:
            if begin is not None:
                self._opened = True
        self._checked(generations)
        return query.convert(rows)

    def _check_with_next(self) -> bool:
        """Whether the next statement, which can carry them, reads the scope's counters.

        If so, the scope stops serving unchecked data now and the caller hands what it read to
        ``_checked``; if not, any check due is made first, in a round trip of its own.
        """
        if self._counts():
            assert self._scope is not None
            self._scope.unchecked = False
            return True
        self.check_first()
        return False

    def _checked(self, generations: dict[int, int] | None) -> None:
        """Settle the counters a statement carried (``_check_with_next``), if it carried them."""
        if generations is not None:
            assert self._scope is not None
            self._generations = _settle(self._scope, generations)

    def check_first(self) -> None:
        """Before the scope's first statement: stop serving unchecked data, and check it.

        The counters are read before anything else goes out (a queued write included).

        Raises:
            StaleCache: cached data this scope served was not current.
        """
        scope = self._scope
        if scope is None or not scope.unchecked:
            return
        scope.unchecked = False
        if scope.assumed:
            self._generations = _settle(scope, self._read_counters())

    def defer(
        self,
        statement: sa.Insert,
        parameters: Mapping[str, Any],
        *,
        subject: str,
        reservation: Reservation | None = None,
        lock: str | None = None,
    ) -> None:
        """Queue an insert whose outcome nothing in this unit reads before it ends.

        It runs before this unit's next statement, or at ``commit``, where PostgreSQL gets
        every queued write and the COMMIT in one round trip (psycopg's pipeline mode). An
        error surfaces there, translated as ``execute`` translates it. On PostgreSQL the
        writes queued together take their ``lock`` keys (as ``lock``), in order, first.
        """
        self._note_write(statement)
        self._deferred.append(_Deferred(statement, parameters, subject, reservation, lock))

    def lock(self, key: str) -> None:
        """Serialize, until this unit ends, every unit that locks ``key`` (PostgreSQL only).

        A transaction-level advisory lock on a 64-bit hash of ``key``; the transaction opens
        first, so the lock lasts until it ends. SQLite needs none: its writing units exclude
        each other already.
        """
        if not self.postgres:
            return
        if self._deferred:
            self._flush()
        self.begin()
        try:
            self._driver().execute(LOCK_SQL, (key,), prepare=True)
        except Exception as exc:
            self._driver_failed(exc, LOCK_SQL, {"key": key}, subject=f"lock {key!r}")

    def _note_write(self, statement: Executable) -> None:
        self.dirty = True
        written = _counter_written(statement)
        if written is not None:
            self._written.add(written)

    def commit(self) -> None:
        """Run the queued writes, then commit the unit of work."""
        self._flush(commit=True)

    def flush(self) -> None:
        """Run the queued writes (a unit that shares its transaction ends with this)."""
        if self._deferred:
            self._flush()

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Run the block in a savepoint; the writes queued before it are sent first.

        Otherwise they would go with the block's first statement, inside the savepoint, and a
        rollback to it would silently undo them too.
        """
        if self._deferred:
            self._flush()
        self.begin()
        with self.connection.begin_nested():
            yield

    def begin(self) -> None:
        """Open the unit's transaction now, if it runs in autocommit mode and has none yet.

        ``execute`` opens it before a write or a ``FOR UPDATE``; a plain read runs outside,
        where at READ COMMITTED it sees the same rows. A read with a side effect that must last
        to the end of the unit (an advisory lock) calls this first.
        """
        if not self._opened:
            counted = self._check_with_next()  # the counters may ride with the BEGIN
            driver = self._driver()
            try:
                generations = begin_pg_transaction(
                    driver, self._begin_command(driver), counters=counted
                )
            except Exception as exc:
                self.dirty = True
                raise StorageError(f"storage failed to begin a transaction: {exc}") from exc
            finally:
                self._opened = True
            self._checked(generations)

    def _begin_command(self, driver: psycopg.Connection[Any]) -> bytes:
        """The BEGIN of this unit's transaction: a read-only unit's own, else psycopg's."""
        return READ_ONLY_BEGIN if self.readonly else pg_begin_command(driver)

    def _flush(self, *, commit: bool = False) -> None:
        if self._deferred:
            self.check_first()
        deferred, self._deferred = self._deferred, []
        if self.postgres and deferred:
            self._flush_pipeline(deferred, commit=commit)
        else:
            self._flush_each(deferred)
        if commit:
            # On PostgreSQL the pipeline committed already; this ends SQLAlchemy's own
            # bookkeeping (psycopg sends nothing for an idle connection).
            try:
                self.connection.commit()
            except sa_exc.SQLAlchemyError as exc:
                raise translate(exc, subject="the unit of work") from exc

    def _insert(self, write: _Deferred) -> DriverInsert:
        return driver_insert(write.statement, self.connection.dialect, tuple(write.parameters))

    def _flush_each(self, deferred: Sequence[_Deferred]) -> None:
        driver = self.connection.connection.driver_connection
        for write in deferred:
            insert = self._insert(write)
            try:
                driver.execute(insert.sql, insert.parameters(write.parameters))  # type: ignore[union-attr]
            except Exception as exc:
                self._failed_write(exc, write)

    def _flush_pipeline(self, deferred: Sequence[_Deferred], *, commit: bool) -> None:
        from psycopg.adapt import Transformer

        driver = self._driver()
        transformer = Transformer(driver)
        # BEGIN and COMMIT go as commands of the pipeline: each on its own would wait for a
        # round trip more.
        began = not self._opened
        commands: list[PgCommand] = []
        if began:
            commands.append(PgCommand(self._begin_command(driver)))
        for key in sorted({w.lock for w in deferred if w.lock is not None}):
            commands.append(pg_lock_command(key))
        first_write = len(commands)
        commands += [self._insert(w).pg_command(transformer, w.parameters) for w in deferred]
        if commit:
            commands.append(PgCommand(b"COMMIT"))
        try:
            # Statements of ours by name only where a failure may be retried: in a
            # transaction this batch opens, a ROLLBACK undoes nothing else.
            if began:
                run_pg_fresh(driver, commands, began=True)
            else:
                run_pg_pipeline(driver, commands, named=False)
        except PipelineFailed as failed:
            at = failed.index - first_write
            write = deferred[at] if 0 <= at < len(deferred) else _culprit(failed.error, deferred)
            self._failed_write(failed.error, write)
        except Exception as exc:  # the connection failed
            self._failed_write(exc, _culprit(exc, deferred))
        finally:
            self._opened = True

    def _failed_write(self, error: Exception, write: _Deferred) -> NoReturn:
        sql = self._insert(write).sql
        self._driver_failed(
            error, sql, write.parameters, subject=write.subject, reservation=write.reservation
        )

    def _driver_failed(
        self,
        error: Exception,
        sql: str,
        values: Mapping[str, Any],
        *,
        subject: str,
        reservation: Reservation | None = None,
    ) -> NoReturn:
        """Raise ``error``, from the driver running ``sql``, as ``execute`` would: translated.

        What is no driver error (a ``ReserverError`` from a bind processor, a bug) goes out
        as it is.
        """
        self.dirty = True
        wrapped = wrap_driver_error(sql, values, error, self.connection.dialect)
        if not isinstance(wrapped, sa_exc.SQLAlchemyError):
            raise error
        raise translate(wrapped, subject=subject, reservation=reservation) from error

    def cached(self, key: Hashable, load: Callable[[], T], *, counter: int = CONFIGURATION) -> T:
        """Return ``load()``, a read of the tables of ``counter`` only, through the shared cache.

        ``key`` must name the read completely (its kind and every argument); ``load``'s value
        must be immutable. See ``reserver.sql.config_cache`` for when the cache is bypassed.
        """
        cache = self._caches.get(counter)
        if cache is None or not self.caches(counter):
            return load()
        if self._generations is None:
            served = self._unchecked(cache, counter, key)
            if served is not _NOT_SERVED:
                return served  # type: ignore[no-any-return]
            self._generations = self._current_generations()
        generation = self._generations.get(counter)
        if generation is None:
            raise StorageError(f"generation counter {counter} is missing: migrate the database")
        return cache.get(generation, key, load)

    def _unchecked(self, cache: ConfigCache, counter: int, key: Hashable) -> Any:
        """What ``cache`` holds for ``key``, served before the counters are read, if it may be.

        Only in a scope that has sent nothing yet (``RequestScope.unchecked``), and only at one
        generation per counter; otherwise ``_NOT_SERVED``.
        """
        scope = self._scope
        if scope is None or not scope.unchecked:
            return _NOT_SERVED
        found = cache.peek(key)
        if found is None:
            return _NOT_SERVED
        generation, value = found
        if scope.assumed.setdefault(counter, generation) != generation:
            return _NOT_SERVED
        return value

    def caches(self, counter: int = CONFIGURATION) -> bool:
        """Whether ``cached`` reads of ``counter``'s tables use the shared cache in this unit.

        A repository that caches a whole table asks first: when the unit must read afresh, one
        targeted query beats reloading the table.
        """
        return counter in self._caches and counter not in self._written

    @staticmethod
    def grouped(items: Iterable[V], key: Callable[[V], K]) -> Mapping[K, tuple[V, ...]]:
        """``items`` by ``key``, in their order, read-only: a whole table cached by one column."""
        groups: dict[K, list[V]] = defaultdict(list)
        for item in items:
            groups[key(item)].append(item)
        return MappingProxyType({k: tuple(found) for k, found in groups.items()})

    def cached_list(
        self, key: Hashable, load: Callable[[], Iterable[T]], *, counter: int = CONFIGURATION
    ) -> list[T]:
        """``cached`` for a sequence: the cache keeps a tuple, each caller gets its own list."""
        return list(self.cached(key, lambda: tuple(load()), counter=counter))

    def cached_dict(
        self, key: Hashable, load: Callable[[], Mapping[K, V]], *, counter: int = CONFIGURATION
    ) -> dict[K, V]:
        """``cached`` for a mapping: the cache keeps a read-only view, each caller a dict."""
        return dict(self.cached(key, lambda: MappingProxyType(dict(load())), counter=counter))

    @property
    def wrote_counted(self) -> bool:
        """Whether this unit wrote a table of a generation counter (see ``cached``)."""
        return bool(self._written)

    def _current_generations(self) -> dict[int, int]:
        """The counters: those the unit's request scope read already, else read now."""
        self.check_first()
        scope = self._scope
        if scope is not None and scope.generations is not None:
            return scope.generations
        generations = self._read_generations()
        if scope is not None:
            scope.generations = generations
        return generations

    def _read_generations(self) -> dict[int, int]:
        """Every counter, in one query (on PostgreSQL outside any transaction, if none is open)."""
        if self._deferred:
            self._flush()
        return self._read_counters()

    def _read_counters(self) -> dict[int, int]:
        try:
            if self.postgres:
                return read_pg_generations(self._driver())
            return read_generations(self.connection.connection.driver_connection)
        except Exception as exc:
            self.dirty = True
            raise StorageError(f"storage failed on the generation counters: {exc}") from exc

    def _driver(self) -> psycopg.Connection[Any]:
        driver: psycopg.Connection[Any] = self.connection.connection.driver_connection  # type: ignore[assignment]
        return driver


_NOT_SERVED: Any = object()


def _settle(scope: RequestScope, generations: dict[int, int]) -> dict[int, int]:
    """Record the counters ``scope`` read; ``StaleCache`` if data it served is older."""
    assumed, scope.assumed = scope.assumed, {}
    scope.generations = generations
    stale = sorted(c for c, g in assumed.items() if generations.get(c) != g)
    if stale:
        raise StaleCache(f"cached data of counters {stale} changed before it was checked")
    return generations
