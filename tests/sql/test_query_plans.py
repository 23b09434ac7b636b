"""Conflict checks stay logarithmic: the planner answers them from ``ix_reservations_blocking``.

No timings here (those live in bench/): the plans show that neither the conflict query nor the
SQLite overlap trigger ever scans the reservations table.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from reserver.core.models import ReservationStatus
from reserver.core.testing.builders import at, make_reservation, span
from reserver.sql import SqlStorage
from reserver.sql.mapping import reservation_values
from reserver.sql.reservations import overlaps_parameters, overlaps_statement
from reserver.sql.tables import reservations

RESOURCES = [f"room-{n:03}" for n in range(200)]
ONE, MANY = RESOURCES[:1], RESOURCES[:20]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def storage(request: pytest.FixtureRequest) -> Iterator[SqlStorage]:
    """A storage holding 5,000 reservations (a tenth cancelled) on 200 resources, analyzed."""
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    storage = SqlStorage.from_url(url)
    rows = [
        reservation_values(
            make_reservation(
                resource_id,
                at(2 * n),
                at(2 * n + 1),
                status=ReservationStatus.CANCELLED if n % 10 == 0 else ReservationStatus.CONFIRMED,
            )
        )
        for resource_id in RESOURCES
        for n in range(25)
    ]
    with storage.engine.begin() as connection:
        connection.execute(reservations.insert(), rows)
        connection.exec_driver_sql("ANALYZE")
    yield storage
    storage.close()


def plan(connection: sa.Connection, statement: sa.Select[*tuple[Any, ...]], ids: list[str]) -> str:
    dialect = connection.dialect
    compiled = statement.compile(dialect=dialect)
    parameters = compiled.construct_params(overlaps_parameters(dialect.name, ids, span(50, 51)))
    if dialect.name == "sqlite":
        positional = tuple(parameters[name] for name in compiled.positiontup or ())
        rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", positional)
        return "\n".join(str(row[3]) for row in rows)
    rows = connection.exec_driver_sql(f"EXPLAIN {compiled}", parameters)
    return "\n".join(str(row[0]) for row in rows)


@pytest.mark.parametrize("ids", [ONE, MANY], ids=["one resource", "many resources"])
def test_the_conflict_query_searches_the_blocking_index(
    storage: SqlStorage, ids: list[str]
) -> None:
    statement = overlaps_statement(storage.engine.dialect.name, many=len(ids) > 1)
    with storage.engine.connect() as connection:
        found = plan(connection, statement, ids)
    assert "ix_reservations_blocking" in found
    assert not re.search(r"SCAN (reservations|previous)\b|Seq Scan on reservations", found), found


def test_the_sqlite_trigger_searches_the_blocking_index(sqlite_url: str) -> None:
    storage = SqlStorage.from_url(sqlite_url)
    try:
        with storage.engine.connect() as connection:
            trigger = connection.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE name = 'reservations_no_overlap_insert'"
            ).scalar_one()
            body = trigger[trigger.index("SELECT RAISE") : trigger.rindex("END")].rstrip("; \n")
            query = re.sub(r"NEW\.(\w+)", r":\1", body).replace(
                "RAISE(ABORT, 'reservation overlap')", "1"
            )
            parameters = {
                "id": "x",
                "resource_id": "room",
                "block_start": "2030-01-07 09:00:00.000000",
                "block_end": "2030-01-07 10:00:00.000000",
            }
            rows = connection.execute(sa.text(f"EXPLAIN QUERY PLAN {query}"), parameters)
            found = "\n".join(str(row[3]) for row in rows)
    finally:
        storage.close()
    assert found.count("USING INDEX ix_reservations_blocking") == 2, found
    assert "SCAN other" not in found, found
