"""What goes straight to the DB-API driver: the appends of every booking, the counter read.

A booking queues three prebuilt INSERTs (reservation, history, outbox). SQLAlchemy's execution
path costs 20-60 us a statement on top of the driver's own work, as much as the statement
itself on SQLite (bench/RESULTS.md). For these inserts the SQL text and each column's bind
processor are compiled once per dialect; the rows still bind through SQLAlchemy's processors
(``UtcDateTime`` refuses a naive datetime), and a driver error is wrapped as SQLAlchemy wraps
it, so ``reserver.sql.errors.translate`` sees one kind of error.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import attrs
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect

if TYPE_CHECKING:
    import psycopg
    from psycopg import pq

Processor = Callable[[Any], Any] | None
GENERATIONS_SQL = "SELECT id, generation FROM config_generation"


@attrs.frozen
class DriverInsert:
    """One INSERT compiled for one dialect and one set of columns."""

    statement: sa.Insert  # kept alive: the cache is keyed by its id
    sql: str
    names: tuple[str, ...]  # bind order (positional drivers) or names (named drivers)
    processors: tuple[Processor, ...]
    positional: bool

    def parameters(self, values: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        """The driver's parameters for ``values``, through each column's bind processor."""
        return _bind(self.names, self.processors, self.positional, values)


_compiled: dict[tuple[int, str, tuple[str, ...]], DriverInsert] = {}
_lock = threading.Lock()


def driver_insert(statement: sa.Insert, dialect: Dialect, keys: Sequence[str]) -> DriverInsert:
    """Return ``statement`` compiled for ``dialect`` and the columns ``keys`` (cached)."""
    cache_key = (id(statement), dialect.name, tuple(keys))
    found = _compiled.get(cache_key)
    if found is not None:
        return found
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))
    positional = bool(compiled.positional)
    names = tuple(compiled.positiontup or ()) if positional else tuple(keys)
    table = statement.table
    processors = tuple(
        table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
    )
    found = DriverInsert(statement, compiled.string, names, processors, positional)
    with _lock:
        _compiled[cache_key] = found
    return found


@attrs.frozen
class DriverQuery:
    """One SELECT compiled for one dialect, with the processors of its binds and its columns."""

    statement: sa.Select[Any]  # kept alive: the cache is keyed by its id
    sql: str
    names: tuple[str, ...]  # bind order (positional drivers) or names (named drivers)
    defaults: Mapping[str, Any]  # the values the statement binds itself (LIMIT 1, ...)
    binds: tuple[Processor, ...]
    results: tuple[Processor, ...]
    positional: bool

    def parameters(self, values: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        """The driver's parameters for ``values``, through each bind's processor."""
        return _bind(self.names, self.binds, self.positional, {**self.defaults, **values})

    def convert(self, rows: Iterable[Sequence[Any]]) -> list[tuple[Any, ...]]:
        """The driver's rows as SQLAlchemy would have returned them (column order kept)."""
        results = self.results
        return [
            tuple(v if p is None else p(v) for v, p in zip(row, results, strict=True))
            for row in rows
        ]


_queries: dict[tuple[int, str], DriverQuery] = {}


def driver_query(statement: sa.Select[Any], dialect: Dialect) -> DriverQuery:
    """Return ``statement`` compiled for ``dialect`` (cached); it may not expand binds."""
    cache_key = (id(statement), dialect.name)
    found = _queries.get(cache_key)
    if found is not None:
        return found
    compiled = statement.compile(dialect=dialect)
    positional = bool(compiled.positional)
    by_name = {name: bind for bind, name in compiled.bind_names.items()}
    names = tuple(compiled.positiontup or ()) if positional else tuple(by_name)
    binds = tuple(
        by_name[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
    )
    results = tuple(
        column.type.dialect_impl(dialect).result_processor(dialect, None)
        for column in statement.selected_columns
    )
    defaults = {name: b.value for name, b in by_name.items() if not b.required}
    found = DriverQuery(statement, compiled.string, names, defaults, binds, results, positional)
    with _lock:
        _queries[cache_key] = found
    return found


def _bind(
    names: Sequence[str],
    processors: Sequence[Processor],
    positional: bool,
    values: Mapping[str, Any],
) -> Sequence[Any] | dict[str, Any]:
    bound = [
        value if process is None else process(value)
        for value, process in zip((values[n] for n in names), processors, strict=True)
    ]
    return bound if positional else dict(zip(names, bound, strict=True))


def wrap_driver_error(
    sql: str, values: Mapping[str, Any], error: Exception, dialect: Dialect
) -> Exception:
    """``error``, raised by the driver for ``sql``, as SQLAlchemy would have raised it."""
    dbapi = dialect.loaded_dbapi
    if not isinstance(error, dbapi.Error):
        return error
    return sa_exc.DBAPIError.instance(sql, dict(values), error, dbapi.Error, dialect=dialect)


def read_generations(driver: Any) -> dict[int, int]:
    """The generation counters (``reserver.sql.config_cache``), through a DB-API connection."""
    return _counters(driver.execute(GENERATIONS_SQL).fetchall())


def read_pg_generations(driver: psycopg.Connection[Any]) -> dict[int, int]:
    """The counters in one round trip, outside any transaction when none is open.

    An idle connection runs the statement it prepared for this once, straight through libpq
    (neither parsed nor planned again, and without psycopg's cursor, which costs as much as
    the query); a unit served from the caches then needs no BEGIN and no COMMIT at all. Its
    first real query opens its transaction (or snapshot) a moment after the counters were
    read, as at READ COMMITTED, where every statement has a snapshot of its own anyway.

    Raises:
        psycopg.Error: the query failed.
    """
    from psycopg import pq

    if driver.info.transaction_status != pq.TransactionStatus.IDLE:
        with driver.cursor() as cursor:
            cursor.execute(GENERATIONS_SQL, prepare=True)
            return _counters(cursor.fetchall())
    result = _exec_generations(driver)
    return _counters(
        (result.get_value(row, 0), result.get_value(row, 1)) for row in range(result.ntuples)
    )


# This module's own statement (psycopg names its statements ``_pg3_...``).
_GENERATIONS_STATEMENT = b"reserver_generations"
# Not prepared on this connection: never yet, or dropped by the DEALLOCATE ALL psycopg sends
# after a ROLLBACK.
_UNPREPARED = "26000"
# Prepared before a migration changed the table's columns.
_STALE_PLAN = "0A000"


def _exec_generations(driver: psycopg.Connection[Any]) -> pq.abc.PGresult:
    """Run the prepared counter read on an idle connection, preparing it first if need be."""
    from psycopg import pq

    pgconn, sql = driver.pgconn, GENERATIONS_SQL.encode()
    result = pgconn.exec_prepared(_GENERATIONS_STATEMENT, [])
    if result.status == pq.ExecStatus.FATAL_ERROR:
        state = (result.error_field(pq.DiagnosticField.SQLSTATE) or b"").decode()
        if state == _STALE_PLAN:
            _exec_simple(driver, b"DEALLOCATE " + _GENERATIONS_STATEMENT, pq.ExecStatus.COMMAND_OK)
        elif state != _UNPREPARED:
            _raise_failed(result, sql)
        _check(pgconn.prepare(_GENERATIONS_STATEMENT, sql), sql, pq.ExecStatus.COMMAND_OK)
        result = pgconn.exec_prepared(_GENERATIONS_STATEMENT, [])
    return _check(result, sql, pq.ExecStatus.TUPLES_OK)


def begin_pg_transaction(driver: psycopg.Connection[Any]) -> None:
    """Open a transaction on ``driver``, in autocommit mode, with the BEGIN psycopg would send.

    A writing unit of work on PostgreSQL runs its first reads outside any transaction (at READ
    COMMITTED a statement sees the same either way) and opens one only before its first
    statement that may write or lock: a unit refused after its reads then ends with no COMMIT.
    psycopg follows the transaction state libpq reports, so ``commit`` and ``rollback`` end
    this transaction as they end their own.

    Raises:
        psycopg.Error: the BEGIN failed.
    """
    from psycopg import pq

    _exec_simple(driver, pg_begin_command(driver), pq.ExecStatus.COMMAND_OK)


def _exec_simple(
    driver: psycopg.Connection[Any], query: bytes, expect: pq.ExecStatus
) -> pq.abc.PGresult:
    """Run ``query`` through libpq in one round trip (psycopg's cursor costs as much again)."""
    return _check(driver.pgconn.exec_(query), query, expect)


def _check(result: pq.abc.PGresult, query: bytes, expect: pq.ExecStatus) -> pq.abc.PGresult:
    if result.status != expect:
        _raise_failed(result, query)
    return result


def _raise_failed(result: pq.abc.PGresult, query: bytes) -> NoReturn:
    import psycopg

    message = (result.error_message or b"").decode(errors="replace").strip()
    raise psycopg.OperationalError(message or f"{query.decode()!r} failed")


def _counters(rows: Iterable[Sequence[Any]]) -> dict[int, int]:
    return {int(counter): int(generation) for counter, generation in rows}


def pg_begin_command(driver: psycopg.Connection[Any]) -> bytes:
    """The BEGIN psycopg itself would send for ``driver``'s transaction settings."""
    from psycopg import IsolationLevel

    parts = [b"BEGIN"]
    if driver.isolation_level is not None:
        level = IsolationLevel(driver.isolation_level).name.replace("_", " ")
        parts += [b"ISOLATION LEVEL", level.encode()]
    if driver.read_only is not None:
        parts.append(b"READ ONLY" if driver.read_only else b"READ WRITE")
    if driver.deferrable is not None:
        parts.append(b"DEFERRABLE" if driver.deferrable else b"NOT DEFERRABLE")
    return b" ".join(parts)
