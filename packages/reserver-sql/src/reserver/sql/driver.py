"""The appends of every booking, sent straight to the DB-API driver.

A booking queues three prebuilt INSERTs (reservation, history, outbox). SQLAlchemy's execution
path costs 20-60 us a statement on top of the driver's own work, as much as the statement
itself on SQLite (bench/RESULTS.md). For these inserts the SQL text and each column's bind
processor are compiled once per dialect; the rows still bind through SQLAlchemy's processors
(``UtcDateTime`` refuses a naive datetime), and a driver error is wrapped as SQLAlchemy wraps
it, so ``reserver.sql.errors.translate`` sees one kind of error.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect

Processor = Callable[[Any], Any] | None


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
        bound = [
            value if process is None else process(value)
            for value, process in zip((values[n] for n in self.names), self.processors, strict=True)
        ]
        return bound if self.positional else dict(zip(self.names, bound, strict=True))

    def wrap(self, values: Mapping[str, Any], error: Exception, dialect: Dialect) -> Exception:
        """``error`` from the driver as SQLAlchemy would have raised it."""
        dbapi = dialect.loaded_dbapi
        if not isinstance(error, dbapi.Error):
            return error
        return sa_exc.DBAPIError.instance(
            self.sql, dict(values), error, dbapi.Error, dialect=dialect
        )


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
