"""The database itself refuses overlapping blocking reservations: plain SQL cannot double-book.

The SQLite trigger and the PostgreSQL exclusion constraint are the second wall behind the
core's check; these tests write through a bare SQLAlchemy engine, without Reserver in between.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
import sqlalchemy as sa

from reserver.sql import UtcDateTime, migrate

T0 = datetime(2030, 1, 7, 9, tzinfo=UTC)
_ids = count()

INSERT = sa.text(
    "INSERT INTO reservations (id, resource_id, holder, booked_by, span_start, span_end,"
    " block_start, block_end, status, title, notes, version)"
    " VALUES (:id, :resource_id, 'alice', 'alice', :start, :end, :start, :end, :status,"
    " '', '', 1)"
).bindparams(sa.bindparam("start", type_=UtcDateTime()), sa.bindparam("end", type_=UtcDateTime()))
MOVE = sa.text(
    "UPDATE reservations SET block_start = :start, block_end = :end WHERE id = :id"
).bindparams(sa.bindparam("start", type_=UtcDateTime()), sa.bindparam("end", type_=UtcDateTime()))
SET_STATUS = sa.text("UPDATE reservations SET status = :status WHERE id = :id")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> Iterator[sa.Engine]:
    """A plain engine (no Reserver set-up at all) on a migrated database."""
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    migrate(url)
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    yield engine
    engine.dispose()


def insert(
    engine: sa.Engine,
    start: float,
    end: float,
    *,
    status: str = "confirmed",
    resource_id: str = "room",
) -> str:
    """Insert a reservation of hours ``[start, end)`` after T0 in a transaction of its own."""
    rid = f"raw-{next(_ids)}"
    with engine.begin() as connection:
        connection.execute(
            INSERT,
            {
                "id": rid,
                "resource_id": resource_id,
                "start": T0 + timedelta(hours=start),
                "end": T0 + timedelta(hours=end),
                "status": status,
            },
        )
    return rid


def assert_refused(engine: sa.Engine, statement: sa.TextClause, values: dict[str, object]) -> None:
    with pytest.raises(sa.exc.IntegrityError) as info, engine.begin() as connection:
        connection.execute(statement, values)
    assert "overlap" in str(info.value.orig)


@pytest.mark.parametrize(
    ("start", "end"),
    [(10, 11), (8, 10), (11, 13), (8, 13), (9, 12), (11.99, 12.5), (8.5, 9.01)],
    ids=["inside", "over-start", "over-end", "around", "same", "last-minute", "first-minute"],
)
def test_an_overlapping_insert_is_refused(engine: sa.Engine, start: float, end: float) -> None:
    insert(engine, 9, 12)
    values = {
        "id": "intruder",
        "resource_id": "room",
        "start": T0 + timedelta(hours=start),
        "end": T0 + timedelta(hours=end),
        "status": "confirmed",
    }
    assert_refused(engine, INSERT, values)
    with engine.connect() as connection:
        assert connection.scalar(sa.text("SELECT count(*) FROM reservations")) == 1


@pytest.mark.parametrize("status", ["pending_approval", "offered", "checked_in"])
def test_every_blocking_status_is_walled(engine: sa.Engine, status: str) -> None:
    insert(engine, 9, 12, status=status)
    values = {
        "id": "intruder",
        "resource_id": "room",
        "start": T0 + timedelta(hours=10),
        "end": T0 + timedelta(hours=11),
        "status": "confirmed",
    }
    assert_refused(engine, INSERT, values)


def test_touching_cancelled_and_other_resources_are_accepted(engine: sa.Engine) -> None:
    insert(engine, 9, 12)
    insert(engine, 12, 13)
    insert(engine, 8, 9)
    insert(engine, 9, 12, status="cancelled")
    insert(engine, 10, 11, status="completed")
    insert(engine, 9, 12, resource_id="desk")
    with engine.connect() as connection:
        assert connection.scalar(sa.text("SELECT count(*) FROM reservations")) == 6


def test_an_update_into_an_overlap_is_refused(engine: sa.Engine) -> None:
    insert(engine, 9, 10)
    later = insert(engine, 11, 12)
    assert_refused(
        engine,
        MOVE,
        {"id": later, "start": T0 + timedelta(hours=9.5), "end": T0 + timedelta(hours=12)},
    )
    with engine.begin() as connection:  # over its own old slot is fine
        connection.execute(
            MOVE, {"id": later, "start": T0 + timedelta(hours=10), "end": T0 + timedelta(hours=13)}
        )


def test_reviving_a_cancelled_reservation_into_an_overlap_is_refused(engine: sa.Engine) -> None:
    ghost = insert(engine, 9, 12, status="cancelled")
    insert(engine, 10, 11)
    assert_refused(engine, SET_STATUS, {"id": ghost, "status": "confirmed"})
