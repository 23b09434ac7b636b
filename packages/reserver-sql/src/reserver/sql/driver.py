"""What goes straight to the DB-API driver: the appends of every booking, the counter read.

A booking queues three prebuilt INSERTs (reservation, history, outbox). SQLAlchemy's execution
path costs 20-60 us a statement on top of the driver's own work, as much as the statement
itself on SQLite (bench/RESULTS.md). For these inserts the SQL text and each column's bind
processor are compiled once per dialect; the rows still bind through SQLAlchemy's processors
(``UtcDateTime`` refuses a naive datetime), and a driver error is wrapped as SQLAlchemy wraps
it, so ``reserver.sql.errors.translate`` sees one kind of error.
"""

from __future__ import annotations

import itertools
import re
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from typing import TYPE_CHECKING, Any, NoReturn, cast

import attrs
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect

if TYPE_CHECKING:
    import psycopg
    from psycopg import pq
    from psycopg.abc import Buffer, Transformer

Processor = Callable[[Any], Any] | None


@attrs.frozen
class PgCommand:
    """A statement for ``run_pg_pipeline``, its parameters dumped as text (``None``: none).

    One with a ``name`` is this module's own: prepared once per connection, then run by name.
    """

    sql: bytes
    params: Sequence[Buffer | None] | None = None
    name: bytes | None = None


GENERATIONS_SQL = "SELECT id, generation FROM config_generation"


@attrs.frozen
class DriverInsert:
    """One INSERT compiled for one dialect and one set of columns."""

    statement: sa.Insert  # kept alive: the cache is keyed by its id
    sql: str
    names: tuple[str, ...]  # bind order (positional drivers) or names (named drivers)
    processors: tuple[Processor, ...]
    positional: bool
    # PostgreSQL: the text with ``$n`` placeholders, in ``names`` order, and a name of its own.
    pg_sql: bytes = b""
    pg_name: bytes | None = None

    def parameters(self, values: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        """The driver's parameters for ``values``, through each column's bind processor."""
        return _bind(self.names, self.processors, self.positional, values)

    def pg_command(self, transformer: Transformer, values: Mapping[str, Any]) -> PgCommand:
        """The insert of ``values`` as a PostgreSQL command for ``run_pg_pipeline``."""
        from psycopg.adapt import PyFormat

        bound = _bound(self.names, self.processors, values)
        params = transformer.dump_sequence(bound, [PyFormat.TEXT] * len(bound))
        return PgCommand(self.pg_sql, params, self.pg_name)


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
    postgres = dialect.name == "postgresql"
    found = DriverInsert(
        statement,
        compiled.string,
        names,
        processors,
        positional,
        pg_sql=_dollar(compiled.string, names) if postgres else b"",
        pg_name=f"{_WRITES}{next(_names)}".encode() if postgres else None,
    )
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
    # PostgreSQL: a name of this process's own and the text with ``$n`` placeholders, in
    # ``names`` order (``run_idle``).
    pg_name: bytes | None = None
    pg_sql: bytes = b""

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

    def run_idle(self, driver: psycopg.Connection[Any], values: Mapping[str, Any]) -> list[Any]:
        """Run the query on a PostgreSQL connection outside any transaction; its raw rows.

        The statement is this module's own, prepared on the connection at its first use, and
        goes straight through libpq: psycopg's cursor spends about as long again on bookkeeping
        (bench/RESULTS.md). Outside a transaction a statement the connection lost costs only
        a second try, so inside one ``Db.fetch`` keeps to the cursor.

        Raises:
            psycopg.Error: the query failed.
        """
        from psycopg.adapt import Transformer

        transformer = Transformer(driver)
        command = self._pg_command(transformer, values)
        assert command.name is not None
        result = exec_own_prepared(driver, command.name, command.sql, command.params or ())
        transformer.set_pgresult(result)
        return transformer.load_rows(0, result.ntuples, tuple)

    def run_first(
        self,
        driver: psycopg.Connection[Any],
        values: Mapping[str, Any],
        *,
        begin: bytes | None = None,
        counters: bool = False,
    ) -> tuple[dict[int, int] | None, list[Any]]:
        """The query as its unit's first statement, in one round trip with what goes first.

        On an idle connection: ``begin``, a BEGIN that opens the unit's transaction (a read-only
        unit's snapshot), then with ``counters`` the generation counters (for a unit that served
        cached data before its first query, ``SqlStorage.run_scoped``), then the query. A
        statement the connection lost costs a second try, the transaction the batch opened
        rolled back first; after any other failure that transaction is left failed, for the
        caller's rollback.

        Raises:
            psycopg.Error: a statement failed.
        """
        from psycopg.adapt import Transformer

        transformer = Transformer(driver)
        commands = [PgCommand(begin)] if begin is not None else []
        if counters:
            commands.append(_GENERATIONS_COMMAND)
        commands.append(self._pg_command(transformer, values))
        try:
            results = run_pg_fresh(driver, commands, began=begin is not None)
        except PipelineFailed as failed:
            raise failed.error from None
        rows = results[-1]
        assert rows is not None
        transformer.set_pgresult(rows)
        found = results[-2] if counters else None
        return None if found is None else _counters_of(found), transformer.load_rows(
            0, rows.ntuples, tuple
        )

    def _pg_command(self, transformer: Transformer, values: Mapping[str, Any]) -> PgCommand:
        from psycopg.adapt import PyFormat

        assert self.pg_name is not None, "a PostgreSQL query's own command"
        bound = _bound(self.names, self.binds, {**self.defaults, **values})
        # Text, as psycopg's cursor sends them: the server parses each for its parameter's type.
        params = transformer.dump_sequence(bound, [PyFormat.TEXT] * len(bound))
        return PgCommand(self.pg_sql, params, self.pg_name)


_queries: dict[tuple[int, str], DriverQuery] = {}
_names = itertools.count(1)
_PYFORMAT = re.compile(r"%\(([^)]+)\)s|%%")


def _dollar(sql: str, names: Sequence[str]) -> bytes:
    """``sql`` in psycopg's ``%(name)s`` style with PostgreSQL's ``$n`` placeholders instead."""
    position = {name: index for index, name in enumerate(names, 1)}

    def placeholder(match: re.Match[str]) -> str:
        return "%" if match.group(1) is None else f"${position[match.group(1)]}"

    return _PYFORMAT.sub(placeholder, sql).encode()


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
    sql = compiled.string
    postgres = dialect.name == "postgresql"
    found = DriverQuery(
        statement,
        sql,
        names,
        defaults,
        binds,
        results,
        positional,
        pg_name=f"reserver_q{next(_names)}".encode() if postgres else None,
        pg_sql=_dollar(sql, names) if postgres else b"",
    )
    with _lock:
        _queries[cache_key] = found
    return found


def _bind(
    names: Sequence[str],
    processors: Sequence[Processor],
    positional: bool,
    values: Mapping[str, Any],
) -> Sequence[Any] | dict[str, Any]:
    bound = _bound(names, processors, values)
    return bound if positional else dict(zip(names, bound, strict=True))


def _bound(
    names: Sequence[str], processors: Sequence[Processor], values: Mapping[str, Any]
) -> list[Any]:
    return [
        value if process is None else process(value)
        for value, process in zip((values[n] for n in names), processors, strict=True)
    ]


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
    command = _GENERATIONS_COMMAND
    assert command.name is not None
    return _counters_of(exec_own_prepared(driver, command.name, command.sql, ()))


def _counters_of(result: pq.abc.PGresult) -> dict[int, int]:
    return _counters(
        (result.get_value(row, 0), result.get_value(row, 1)) for row in range(result.ntuples)
    )


# This module's own statement (psycopg names its statements ``_pg3_...``).
_GENERATIONS_COMMAND = PgCommand(GENERATIONS_SQL.encode(), (), b"reserver_generations")
# Not prepared on this connection: never yet, or dropped by the DEALLOCATE ALL psycopg sends
# after a ROLLBACK.
_UNPREPARED = "26000"
# Prepared before a migration changed the table's columns.
_STALE_PLAN = "0A000"


def exec_own_prepared(
    driver: psycopg.Connection[Any],
    name: bytes,
    sql: bytes,
    params: Sequence[Buffer | None],
) -> pq.abc.PGresult:
    """Run statement ``name`` (``sql``) on an idle connection, preparing it first if need be.

    Only outside a transaction: there a statement the connection lost fails harmlessly, and
    is prepared again; inside one the failure would abort the transaction.

    Raises:
        psycopg.Error: the statement failed (as psycopg raises it: its class by SQLSTATE).
    """
    from psycopg import pq

    pgconn = driver.pgconn
    # libpq takes None for NULL; psycopg's annotation of ``exec_prepared`` leaves it out.
    values = cast("Sequence[Buffer]", params)
    result = pgconn.exec_prepared(name, values)
    if result.status == pq.ExecStatus.FATAL_ERROR:
        state = (result.error_field(pq.DiagnosticField.SQLSTATE) or b"").decode()
        if state == _STALE_PLAN:
            _exec_simple(driver, b"DEALLOCATE " + name, pq.ExecStatus.COMMAND_OK)
        elif state != _UNPREPARED:
            _raise_failed(driver, result)
        _check(driver, pgconn.prepare(name, sql), pq.ExecStatus.COMMAND_OK)
        _prepared.setdefault(driver, set()).add(name)
        result = pgconn.exec_prepared(name, values)
    return _check(driver, result, pq.ExecStatus.TUPLES_OK)


# A read-only unit's transaction: one snapshot for all its reads, and no write.
READ_ONLY_BEGIN = b"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"


def run_pg_fresh(
    driver: psycopg.Connection[Any], commands: Sequence[PgCommand], *, began: bool
) -> list[pq.abc.PGresult | None]:
    """``run_pg_pipeline`` where a statement of ours the connection lost costs a second try.

    Only for a batch on an idle connection, or one whose transaction the batch itself opens
    (``began``: it starts with a BEGIN, which is rolled back first): there a retry undoes
    nothing else.

    Raises:
        PipelineFailed: the first command that failed (on the second try, if there was one).
        psycopg.Error: the connection failed.
    """
    try:
        return run_pg_pipeline(driver, commands)
    except PipelineFailed as failed:
        if not failed.unprepared:
            raise
        if began:
            rollback_pg_transaction(driver)
        learn_prepared(driver, failed.stale)
    return run_pg_pipeline(driver, commands)


def begin_pg_transaction(
    driver: psycopg.Connection[Any], begin: bytes, *, counters: bool = False
) -> dict[int, int] | None:
    """Open a transaction on ``driver``, in autocommit mode, with ``begin``.

    A writing unit of work on PostgreSQL runs its first reads outside any transaction (at READ
    COMMITTED a statement sees the same either way) and opens one only before its first
    statement that may write or lock: a unit refused after its reads then ends with no COMMIT.
    psycopg follows the transaction state libpq reports, so ``commit`` and ``rollback`` end
    this transaction as they end their own. ``begin``: ``pg_begin_command``, the BEGIN psycopg
    would send, or ``READ_ONLY_BEGIN``. With ``counters``, the generation counters are read in
    the same round trip, inside the transaction, and returned.

    Raises:
        psycopg.Error: the BEGIN (or the read) failed.
    """
    from psycopg import pq

    if not counters:
        _exec_simple(driver, begin, pq.ExecStatus.COMMAND_OK)
        return None
    try:
        found = run_pg_fresh(driver, [PgCommand(begin), _GENERATIONS_COMMAND], began=True)[1]
    except PipelineFailed as failed:
        raise failed.error from None
    assert found is not None
    return _counters_of(found)


class PipelineFailed(Exception):
    """A command of ``run_pg_pipeline`` failed: which one, and psycopg's error for it.

    ``unprepared``: it failed because the statements of ours on the connection were not what
    this module believed (psycopg's ``DEALLOCATE ALL`` after a ``ROLLBACK`` drops them), or
    because one of them, named by ``stale``, was prepared before a migration changed what it
    returns: outside any transaction, ``learn_prepared(driver, failed.stale)``, then the same
    batch succeeds.
    """

    def __init__(
        self, index: int, error: Exception, *, unprepared: bool = False, stale: bytes | None = None
    ) -> None:
        super().__init__(str(error))
        self.index = index
        self.error = error
        self.unprepared = unprepared or stale is not None
        self.stale = stale


# The statements of this module prepared on each connection (for ``run_pg_pipeline``).
_prepared: weakref.WeakKeyDictionary[Any, set[bytes]] = weakref.WeakKeyDictionary()
# The name of a statement that is already prepared.
_DUPLICATE = "42P05"
# Every statement this module prepares is named ``reserver_...``; those of writes and locks
# ``reserver_w...``.
_OURS = "reserver_"
_WRITES = _OURS + "w"
_OURS_PREPARED = (
    b"SELECT name FROM pg_prepared_statements WHERE starts_with(name, '" + _OURS.encode() + b"')"
)
# A transaction-level advisory lock on a 64-bit hash of a key: for psycopg's cursor, and (with
# PostgreSQL's placeholder) for ``run_pg_pipeline``.
LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"
_LOCK = LOCK_SQL.replace("%s", "$1").encode()


def pg_lock_command(key: str) -> PgCommand:
    """A transaction-level advisory lock on a 64-bit hash of ``key``, for ``run_pg_pipeline``."""
    return PgCommand(_LOCK, [key.encode()], (_WRITES + "lock").encode())


def run_pg_pipeline(
    driver: psycopg.Connection[Any], commands: Sequence[PgCommand], *, named: bool = True
) -> list[pq.abc.PGresult | None]:
    """Run ``commands`` in one round trip, in libpq's pipeline mode; the rows of each query.

    For the writes of a unit of work (BEGIN, its locks, its inserts, COMMIT): psycopg's own
    pipeline spends 0.34 ms of CPU on such a batch, libpq 0.09 (bench/RESULTS.md). Commands
    with a name run as statements prepared once per connection (the prepare goes in the same
    batch), unless ``named`` is false: then every statement goes unnamed, parsed and planned
    afresh. After a failure the server skips the rest up to the sync, as psycopg's pipeline
    does; a transaction the batch opened is then left failed, for the caller's rollback. The
    result is, for each command, the result that holds its rows (``None``: it returns none).

    Raises:
        PipelineFailed: the first command that failed, with psycopg's error for it.
        psycopg.Error: the connection failed.
    """
    from psycopg import pq

    pgconn = driver.pgconn
    known = _prepared.setdefault(driver, set())
    # What each message of the batch is: a command's index, or the name a prepare is for.
    sent: list[int | bytes] = []
    preparing: set[bytes] = set()
    rows: list[pq.abc.PGresult | None] = [None] * len(commands)
    pgconn.enter_pipeline_mode()
    try:
        for index, command in enumerate(commands):
            name = command.name if named else None
            if name is None:
                pgconn.send_query_params(command.sql, command.params)
            else:
                if name not in known and name not in preparing:
                    pgconn.send_prepare(name, command.sql)
                    sent.append(name)
                    preparing.add(name)
                pgconn.send_query_prepared(name, command.params)
            sent.append(index)
        pgconn.pipeline_sync()
        _send_all(pgconn)
        failure: PipelineFailed | None = None
        message = 0
        while True:
            result = _next_result(pgconn)
            if result is None:  # the end of one message's results
                message += 1
                continue
            status = result.status
            if status == pq.ExecStatus.PIPELINE_SYNC:
                break
            what = sent[message]
            if status == pq.ExecStatus.TUPLES_OK and isinstance(what, int):
                rows[what] = result
            elif status == pq.ExecStatus.COMMAND_OK and isinstance(what, bytes):
                known.add(what)  # prepared statements outlive a failed transaction
            elif status == pq.ExecStatus.FATAL_ERROR and failure is None:
                failure = _pipeline_failure(driver, result, what, commands)
    finally:
        if pgconn.pipeline_status != pq.PipelineStatus.OFF:
            with suppress(Exception):  # a broken connection: its error is on its way
                pgconn.exit_pipeline_mode()
    if failure is not None:
        raise failure
    return rows


def _pipeline_failure(
    driver: psycopg.Connection[Any],
    result: pq.abc.PGresult,
    what: int | bytes,
    commands: Sequence[PgCommand],
) -> PipelineFailed:
    """The failure ``result`` reports for message ``what`` (a command's index, or a prepare)."""
    from psycopg import pq

    state = (result.error_field(pq.DiagnosticField.SQLSTATE) or b"").decode()
    index = (
        what if isinstance(what, int) else next(i for i, c in enumerate(commands) if c.name == what)
    )
    error = _error_of(driver, result)
    stale = commands[index].name if state == _STALE_PLAN else None
    return PipelineFailed(index, error, unprepared=state in (_UNPREPARED, _DUPLICATE), stale=stale)


def learn_prepared(driver: psycopg.Connection[Any], stale: bytes | None = None) -> None:
    """Read which statements of this module the connection holds, after a wrong belief.

    ``stale``: a statement of ours to drop first, prepared before its table changed.

    Raises:
        psycopg.Error: a statement failed.
    """
    from psycopg import pq

    if stale is not None:
        _exec_simple(driver, b"DEALLOCATE " + stale, pq.ExecStatus.COMMAND_OK)
    result = _exec_simple(driver, _OURS_PREPARED, pq.ExecStatus.TUPLES_OK)
    _prepared[driver] = {result.get_value(row, 0) or b"" for row in range(result.ntuples)}


def _send_all(pgconn: pq.abc.PGconn) -> None:
    """Flush what libpq holds for the server, reading its answers while the socket is full.

    A batch larger than the sockets' buffers would otherwise deadlock: the server, its answers
    unread, stops reading (libpq's documentation of ``PQflush``).
    """
    import select

    while pgconn.flush():
        if _wait(pgconn, select.POLLOUT | select.POLLIN) & select.POLLIN:
            pgconn.consume_input()


def _next_result(pgconn: pq.abc.PGconn) -> pq.abc.PGresult | None:
    """The next result libpq has, waiting for the server without holding the GIL."""
    import select

    while pgconn.is_busy():
        _wait(pgconn, select.POLLIN)
        pgconn.consume_input()
    return pgconn.get_result()


def _wait(pgconn: pq.abc.PGconn, events: int) -> int:
    """Wait until the connection's socket is ready for one of ``events``; those it is for."""
    import select

    poller = select.poll()
    poller.register(pgconn.socket, events)
    ready = 0
    for _, happened in poller.poll():
        ready |= happened
    return ready


def rollback_pg_transaction(driver: psycopg.Connection[Any]) -> None:
    """End ``driver``'s transaction with ROLLBACK through libpq.

    Through psycopg a ROLLBACK also drops every prepared statement of the connection
    (``DEALLOCATE ALL``), and with them this module's own.

    Raises:
        psycopg.Error: the ROLLBACK failed.
    """
    from psycopg import pq

    _exec_simple(driver, b"ROLLBACK", pq.ExecStatus.COMMAND_OK)


def _exec_simple(
    driver: psycopg.Connection[Any], query: bytes, expect: pq.ExecStatus
) -> pq.abc.PGresult:
    """Run ``query`` through libpq in one round trip (psycopg's cursor costs as much again)."""
    return _check(driver, driver.pgconn.exec_(query), expect)


def _check(
    driver: psycopg.Connection[Any], result: pq.abc.PGresult, expect: pq.ExecStatus
) -> pq.abc.PGresult:
    if result.status != expect:
        _raise_failed(driver, result)
    return result


def _raise_failed(driver: psycopg.Connection[Any], result: pq.abc.PGresult) -> NoReturn:
    """Raise what psycopg raises for ``result``: the error class follows its SQLSTATE."""
    raise _error_of(driver, result)


def _error_of(driver: psycopg.Connection[Any], result: pq.abc.PGresult) -> Exception:
    """The exception psycopg would raise for the failed ``result``."""
    import psycopg
    from psycopg import errors

    if result.error_field(psycopg.pq.DiagnosticField.SQLSTATE) is None:
        message = (result.error_message or b"").decode(errors="replace").strip()
        return psycopg.OperationalError(message or "the statement failed")
    return errors.error_from_result(result, encoding=driver.info.encoding)


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
