"""What ``SqlStorage`` adds to the contract: engine set-up, units of work, errors, time."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa

import reserver.sql
from reserver.core.errors import (
    ConfigurationError,
    ConflictError,
    NotFoundError,
    Rule,
    StorageError,
    ValidationError,
)
from reserver.core.events import OutboxMessage, ResourceRetired
from reserver.core.ids import EventId, ResourceId, UserId, new_id
from reserver.core.models import Resource
from reserver.core.registry import load_factory
from reserver.core.spans import TimeSpan
from reserver.core.testing.builders import (
    at,
    make_outbox_message,
    make_reservation,
    make_resource,
    store,
)
from reserver.sql import SqlStorage, migrate
from reserver.sql.storage import SqlTransaction

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))


@pytest.fixture
def storage(url: str) -> Iterator[SqlStorage]:
    storage = SqlStorage.from_url(url)
    yield storage
    storage.close()


def test_the_public_api_is_pinned() -> None:
    assert reserver.sql.__all__ == [
        "SqlStorage",
        "SqlTransaction",
        "UtcDateTime",
        "alembic_config",
        "metadata",
        "migrate",
    ]


def test_the_storage_entry_point_builds_a_sql_storage(sqlite_url: str) -> None:
    factory = load_factory("reserver.storage", "sql")
    storage = factory(sqlite_url)
    try:
        assert isinstance(storage, SqlStorage)
        store(storage, make_resource())
    finally:
        storage.close()


# --- time ---------------------------------------------------------------------------------


def test_datetimes_come_back_aware_in_utc(storage: SqlStorage) -> None:
    resource = make_resource()
    plus_five_thirty = timezone(timedelta(hours=5, minutes=30))
    created = datetime(2029, 6, 1, 23, 30, 0, 1, tzinfo=plus_five_thirty)
    reservation = make_reservation(resource.id, at(0), at(1), created_at=created)
    store(storage, resource, reservation)
    with storage.transaction(readonly=True) as tx:
        got = tx.reservations.get(reservation.id)
    assert got.created_at == created
    assert got.created_at is not None
    assert got.created_at.tzinfo == UTC
    assert (got.created_at.hour, got.created_at.microsecond) == (18, 1)
    assert got.span.start.tzinfo == UTC


@pytest.mark.postgres
def test_the_postgres_session_time_zone_does_not_leak(pg_url: str) -> None:
    engine = sa.create_engine(pg_url, connect_args={"options": "-c timezone=Asia/Tokyo"})
    migrate(engine)
    storage = SqlStorage(engine)
    try:
        resource = make_resource(created_at=datetime(2030, 1, 1, tzinfo=UTC))
        store(storage, resource)
        with storage.transaction(readonly=True) as tx:
            got = tx.resources.get(resource.id)
    finally:
        storage.close()
    assert got.created_at == resource.created_at
    assert got.created_at is not None
    assert got.created_at.tzinfo == UTC


def test_a_read_only_unit_reads_one_snapshot(storage: SqlStorage) -> None:
    """What commits while a read-only unit runs stays out of its later reads, fast path or not.

    Its first statement opens the snapshot (on PostgreSQL the BEGIN rides with the query); a
    booking another thread commits between its reads is not seen by either, whether read
    straight through the driver (the conflict check) or through SQLAlchemy (``get``).
    """
    resource = make_resource()
    store(storage, resource)
    booked = make_reservation(resource.id, at(0), at(1))
    whole = TimeSpan(at(-1), at(2))
    with storage.transaction(readonly=True) as tx:
        assert tx.reservations.blocking_overlaps([resource.id], whole) == []
        other = threading.Thread(target=store, args=(storage, booked))
        other.start()
        other.join()
        assert tx.reservations.blocking_overlaps([resource.id], whole) == []
        with pytest.raises(NotFoundError):
            tx.reservations.get(booked.id)
    with storage.transaction(readonly=True) as tx:
        assert tx.reservations.get(booked.id) == booked

    def write_through_a_read_only_unit() -> None:
        with storage.transaction(readonly=True) as tx:
            tx.reservations.add(make_reservation(resource.id, at(3), at(4)))

    with pytest.raises(StorageError):
        write_through_a_read_only_unit()


def test_a_naive_datetime_is_refused(storage: SqlStorage) -> None:
    resource = make_resource(created_at=datetime(2030, 1, 1, 9))  # noqa: DTZ001 - on purpose
    with pytest.raises(ValidationError) as info, storage.transaction() as tx:
        tx.resources.add(resource)
    assert "UTC offset" in str(info.value)
    with storage.transaction(readonly=True) as tx, pytest.raises(NotFoundError):
        tx.resources.get(resource.id)


# --- SQLite set-up and locking ------------------------------------------------------------


def pragmas(storage: SqlStorage) -> dict[str, object]:
    with storage.engine.connect() as connection:
        return {
            name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        }


def test_sqlite_runs_in_wal_with_full_sync_and_foreign_keys(sqlite_url: str) -> None:
    storage = SqlStorage.from_url(sqlite_url)
    try:
        assert pragmas(storage) == {
            "journal_mode": "wal",
            "synchronous": 2,  # FULL
            "foreign_keys": 1,
            "busy_timeout": 5000,
        }
    finally:
        storage.close()


def test_sqlite_normal_sync_and_the_busy_timeout_are_options(sqlite_url: str) -> None:
    storage = SqlStorage.from_url(sqlite_url, synchronous="NORMAL", busy_timeout=0.25)
    try:
        found = pragmas(storage)
    finally:
        storage.close()
    assert (found["synchronous"], found["busy_timeout"]) == (1, 250)


@pytest.mark.parametrize(
    "options", [{"synchronous": "OFF"}, {"busy_timeout": -1.0}], ids=["synchronous", "timeout"]
)
def test_unsafe_sqlite_options_are_refused(sqlite_url: str, options: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        SqlStorage.from_url(sqlite_url, **options)  # type: ignore[arg-type]


def _raw_writer(sqlite_url: str) -> sqlite3.Connection:
    """Another program holding SQLite's write lock, outside Reserver's writer queue."""
    path = sqlite_url.removeprefix("sqlite:///")
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("BEGIN IMMEDIATE")
    return connection


def test_a_writing_unit_takes_the_write_lock_at_its_start(sqlite_url: str) -> None:
    """BEGIN IMMEDIATE: a second writer cannot even begin; it never sees "database is locked"."""
    SqlStorage.from_url(sqlite_url).close()
    second = SqlStorage(sa.create_engine(sqlite_url), busy_timeout=0.05, begin_attempts=2)
    other = _raw_writer(sqlite_url)
    try:
        with pytest.raises(StorageError) as info, second.transaction():
            pass
        assert "locked" in str(info.value)
        assert isinstance(info.value.__cause__, sa.exc.OperationalError)  # chained, not raised
        assert isinstance(info.value.__cause__.orig, sqlite3.OperationalError)
        other.execute("COMMIT")
        with second.transaction() as tx:  # free again once the other writer ended
            tx.resources.add(make_resource())
    finally:
        other.close()
        second.close()


def test_a_busy_database_is_retried_until_the_writer_is_done(sqlite_url: str) -> None:
    SqlStorage.from_url(sqlite_url).close()
    second = SqlStorage(sa.create_engine(sqlite_url), busy_timeout=0.05, begin_attempts=5)
    refused_once = threading.Event()
    resource = make_resource()

    @sa.event.listens_for(second.engine, "handle_error")
    def on_error(context: sa.engine.ExceptionContext) -> None:
        refused_once.set()  # the second writer's BEGIN IMMEDIATE timed out once

    other = _raw_writer(sqlite_url)

    def release_when_refused() -> None:
        refused_once.wait(timeout=30)
        other.execute("COMMIT")

    holder = threading.Thread(target=release_when_refused)
    holder.start()
    try:
        with second.transaction() as tx:
            tx.resources.add(resource)
        assert refused_once.is_set()
    finally:
        refused_once.set()
        holder.join(timeout=30)
        other.close()
        second.close()


def test_writers_queue_instead_of_meeting_in_the_busy_handler(sqlite_url: str) -> None:
    """Two storages on one file (as two processes): the second waits its turn, never busy."""
    first = SqlStorage.from_url(sqlite_url)
    # A busy timeout far shorter than the first unit: without the queue, BEGIN IMMEDIATE would
    # time out (handle_error) and be retried; with it, the second writer waits its turn.
    second = SqlStorage(sa.create_engine(sqlite_url), busy_timeout=0.05, begin_attempts=20)
    busy: list[BaseException] = []
    sa.event.listen(
        second.engine, "handle_error", lambda context: busy.append(context.original_exception)
    )
    started = threading.Event()

    def hold_a_while() -> None:
        with first.transaction() as tx:
            tx.resources.add(make_resource())
            started.set()
            time.sleep(0.3)

    holder = threading.Thread(target=hold_a_while)
    holder.start()
    try:
        assert started.wait(timeout=30)
        with second.transaction() as tx:
            tx.resources.add(make_resource())
        assert busy == [], "the second writer reached SQLite's busy handler"
    finally:
        holder.join(timeout=30)
        first.close()
        second.close()


def test_readers_run_beside_a_writer_and_see_only_committed_work(sqlite_url: str) -> None:
    writer = SqlStorage.from_url(sqlite_url)
    reader = SqlStorage(sa.create_engine(sqlite_url), busy_timeout=0.05)
    resource = make_resource()
    try:
        with writer.transaction() as tx:
            tx.resources.add(resource)
            with reader.transaction(readonly=True) as other, pytest.raises(NotFoundError):
                other.resources.get(resource.id)
        with reader.transaction(readonly=True) as other:
            assert other.resources.get(resource.id) == resource
    finally:
        writer.close()
        reader.close()


# --- units of work ------------------------------------------------------------------------


def test_a_readonly_unit_refuses_writes(storage: SqlStorage) -> None:
    with pytest.raises(StorageError), storage.transaction(readonly=True) as tx:
        tx.resources.add(make_resource())
    with storage.transaction() as tx:  # the pooled connection is writable again
        tx.resources.add(make_resource())


def test_a_nested_writing_unit_in_one_thread_is_refused_at_once(storage: SqlStorage) -> None:
    resource = make_resource()
    with storage.transaction() as tx:
        tx.resources.add(resource)
        with pytest.raises(StorageError, match="already open"), storage.transaction():
            pass
        with storage.transaction(readonly=True):
            pass  # reading beside it is fine
    with storage.transaction(readonly=True) as tx:
        assert tx.resources.get(resource.id) == resource


def test_a_closed_storage_reconnects_when_used_again(storage: SqlStorage) -> None:
    store(storage, make_resource())
    storage.close()
    store(storage, make_resource())


def test_adding_a_taken_id_is_a_conflict(storage: SqlStorage) -> None:
    resource = make_resource()
    reservation = make_reservation(resource.id, at(0), at(1))
    message = make_outbox_message()
    store(storage, resource, reservation, message)
    for twin in (
        resource,
        make_reservation(resource.id, at(5), at(6), id=reservation.id),  # no overlap, same id
        message,
    ):
        with pytest.raises(ConflictError, match="already exists"):
            store(storage, twin)


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["not a url", "mysql+nosuchdriver://db/reserver", "sqlite://", "sqlite:///:memory:"],
    ids=["garbage", "unsupported", "memory", "memory-explicit"],
)
def test_a_url_naming_no_usable_database_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigurationError):
        SqlStorage.from_url(url)


def test_an_unreachable_server_is_a_storage_error() -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:9/nowhere?connect_timeout=2"
    storage = SqlStorage.from_url(url, migrate=False)
    try:
        with pytest.raises(StorageError, match=r"nowhere|connect"), storage.transaction():
            pass
    finally:
        storage.close()
    with pytest.raises(StorageError):
        SqlStorage.from_url(url)


@pytest.mark.postgres
def test_a_bare_postgresql_url_means_psycopg(pg_url: str) -> None:
    storage = SqlStorage.from_url(pg_url.replace("postgresql+psycopg://", "postgresql://"))
    try:
        assert storage.engine.dialect.driver == "psycopg"
        store(storage, make_resource())
    finally:
        storage.close()


@pytest.mark.postgres
def test_two_bookings_taking_two_slots_in_opposite_orders_end_one_won_one_refused(
    pg_url: str,
) -> None:
    """Each resource's writers queue on its lock, taken in order: no deadlock, one overlap."""
    storages = [SqlStorage.from_url(pg_url), SqlStorage.from_url(pg_url)]
    room, desk = make_resource(), make_resource()
    store(storages[0], room, desk)
    both_first = threading.Barrier(2, timeout=30)
    outcomes: list[str] = ["", ""]

    def book(index: int, first: str, then: str) -> None:
        try:
            with storages[index].transaction() as tx:
                tx.reservations.add(make_reservation(first, at(0), at(1)))
                both_first.wait()
                tx.reservations.add(make_reservation(then, at(0), at(1)))
            outcomes[index] = "won"
        except ConflictError as exc:
            outcomes[index] = "overlap" if exc.rules == {Rule.OVERLAP} else repr(exc)
        except Exception as exc:  # reported through the assertion below
            outcomes[index] = repr(exc)

    threads = [
        threading.Thread(target=book, args=(0, room.id, desk.id)),
        threading.Thread(target=book, args=(1, desk.id, room.id)),
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        for storage in storages:
            storage.close()
    assert sorted(outcomes) == ["overlap", "won"]


@pytest.mark.postgres
def test_outbox_dispatchers_skip_messages_another_one_holds(pg_url: str) -> None:
    first, other = SqlStorage.from_url(pg_url), SqlStorage.from_url(pg_url)
    messages = [make_outbox_message(occurred_at=at(-5 + n)) for n in range(5)]
    try:
        store(first, *messages)
        with first.transaction() as tx:
            held = tx.outbox.due(at(0), 2)
            with other.transaction() as tx2:
                rest = tx2.outbox.due(at(0), 10)
        assert [m.id for m in held] == [m.id for m in messages[:2]]
        assert [m.id for m in rest] == [m.id for m in messages[2:]]
    finally:
        first.close()
        other.close()


def _open_transactions(observer: sa.Connection) -> int:
    """How many other sessions of the observer's database are inside a transaction."""
    statement = sa.text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND xact_start IS NOT NULL AND pid <> pg_backend_pid()"
    )
    return int(observer.execute(statement).scalar_one())


def _lock_is_free(observer: sa.Connection, key: str) -> bool:
    statement = sa.text("SELECT pg_try_advisory_xact_lock(hashtextextended(:key, 0))")
    return bool(observer.execute(statement, {"key": key}).scalar_one())


@pytest.fixture
def booked_pg(pg_url: str) -> Iterator[tuple[SqlStorage, Resource, sa.Engine]]:
    """A PostgreSQL storage with a resource booked at(0)-at(1), and an engine to look on."""
    storage = SqlStorage.from_url(pg_url)
    resource = make_resource()
    store(storage, resource, make_reservation(resource.id, at(0), at(1)))
    observer = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    yield storage, resource, observer
    observer.dispose()
    storage.close()


def _driver(tx: SqlTransaction) -> Any:
    """The DB-API connection under a unit of work of ``SqlStorage``."""
    return tx._db.connection.connection.driver_connection


def _lose_server(tx: SqlTransaction, observer: sa.Engine) -> None:
    """End the PostgreSQL backend of ``tx``'s connection, as a server restart would."""
    with observer.connect() as look:
        look.execute(
            sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": _driver(tx).info.backend_pid}
        )


@pytest.mark.postgres
def test_a_writing_unit_opens_its_transaction_at_its_first_lock_and_holds_it_to_the_end(
    booked_pg: tuple[SqlStorage, Resource, sa.Engine],
) -> None:
    """Its reads run outside a transaction (a refusal then has none to end), not its locks."""
    storage, resource, observer = booked_pg
    with observer.connect() as look, storage.transaction() as tx:
        overlaps = tx.reservations.blocking_overlaps([resource.id], TimeSpan(at(0), at(2)))
        busy = tx.reservations.busy_blocks({resource.id: TimeSpan(at(-1), at(3))})
        assert (len(overlaps), len(busy)) == (1, 1)
        assert tx.resources.get(resource.id) == resource
        assert _open_transactions(look) == 0
        tx.lock("the key")
        assert _open_transactions(look) == 1
        assert not _lock_is_free(look, "the key")
        tx.reservations.busy_blocks({resource.id: TimeSpan(at(-1), at(3))})
        assert not _lock_is_free(look, "the key")
    with observer.connect() as look:
        assert _open_transactions(look) == 0
        assert _lock_is_free(look, "the key")


@pytest.mark.postgres
def test_a_write_after_reads_outside_the_transaction_rolls_back_with_the_unit(
    pg_url: str,
) -> None:
    storage = SqlStorage.from_url(pg_url)
    resource = make_resource()
    store(storage, resource)

    def fail_after_writing() -> None:
        with storage.transaction() as tx:
            tx.reservations.blocking_overlaps([resource.id], TimeSpan(at(0), at(1)))
            tx.reservations.add(make_reservation(resource.id, at(0), at(1)))
            tx.outbox.add(make_outbox_message())
            tx.reservations.blocking_overlaps([resource.id], TimeSpan(at(0), at(1)))
            raise RuntimeError("the unit fails after its writes were sent")

    try:
        with pytest.raises(RuntimeError, match="after its writes"):
            fail_after_writing()
        with storage.transaction(readonly=True) as tx:
            assert tx.reservations.blocking_overlaps([resource.id], TimeSpan(at(0), at(9))) == []
            assert tx.outbox.due(at(10), 10) == []
    finally:
        storage.close()


@pytest.mark.postgres
def test_a_read_that_loses_its_server_is_a_storage_error_and_the_next_unit_reconnects(
    booked_pg: tuple[SqlStorage, Resource, sa.Engine],
) -> None:
    """A read before the transaction goes straight to libpq; its failures come out translated."""
    storage, resource, observer = booked_pg
    with pytest.raises(StorageError), storage.transaction() as tx:  # noqa: PT012
        _lose_server(tx, observer)
        tx.reservations.blocking_overlaps([resource.id], TimeSpan(at(0), at(1)))
    with storage.transaction() as tx:
        found = tx.reservations.blocking_overlaps([resource.id], TimeSpan(at(0), at(1)))
    assert len(found) == 1


@pytest.mark.postgres
def test_writes_that_lose_their_server_are_a_storage_error_and_nothing_is_half_written(
    booked_pg: tuple[SqlStorage, Resource, sa.Engine],
) -> None:
    """The queued writes and COMMIT go in one libpq pipeline; a lost server fails it whole."""
    storage, resource, observer = booked_pg
    later = make_reservation(resource.id, at(3), at(4))
    with pytest.raises(StorageError), storage.transaction() as tx:  # noqa: PT012
        tx.reservations.add(later)
        tx.outbox.add(make_outbox_message())
        _lose_server(tx, observer)
    with storage.transaction() as tx:
        assert len(tx.reservations.blocking_overlaps([resource.id], TimeSpan(at(0), at(9)))) == 1
        with pytest.raises(NotFoundError):
            tx.reservations.get(later.id)
        tx.reservations.add(later)  # the next unit reconnects and writes
    with storage.transaction(readonly=True) as tx:
        assert tx.reservations.get(later.id) == later


@pytest.mark.postgres
def test_a_unit_may_queue_megabytes_of_writes(
    booked_pg: tuple[SqlStorage, Resource, sa.Engine],
) -> None:
    """More than the socket takes at once: the batch is sent in parts as the server reads."""
    storage, _, _ = booked_pg
    big = ResourceId("r" * 2000)
    messages = [
        OutboxMessage(
            ResourceRetired(
                id=EventId(new_id()), occurred_at=at(0), actor=UserId("alice"), resource_id=big
            )
        )
        for _ in range(3000)
    ]
    with storage.transaction() as tx:
        for message in messages:
            tx.outbox.add(message)
    with storage.transaction(readonly=True) as tx:
        assert tx.outbox.get(messages[-1].id) == messages[-1]


@pytest.mark.postgres
@pytest.mark.parametrize("loss", ["deallocated", "forgotten"])
def test_queued_writes_survive_a_connection_that_lost_or_kept_the_statements_of_ours(
    booked_pg: tuple[SqlStorage, Resource, sa.Engine], loss: str
) -> None:
    """The writes run as statements prepared once per connection; a wrong belief costs a retry.

    ``deallocated``: psycopg's ``DEALLOCATE ALL`` (after a ROLLBACK) dropped them.
    ``forgotten``: the module believes one unprepared that is (the server refuses to prepare
    it again).
    """
    storage, resource, _ = booked_pg
    for hour in (2, 4):  # the first unit prepares them, the second runs them by name
        store(storage, make_reservation(resource.id, at(hour), at(hour + 1)))
    later = make_reservation(resource.id, at(6), at(7))
    with storage.transaction() as tx:
        driver = _driver(tx)
        if loss == "deallocated":
            driver.pgconn.exec_(b"DEALLOCATE ALL")
        else:
            reserver.sql.driver._prepared[driver].clear()
        tx.reservations.add(later)
    with storage.transaction(readonly=True) as tx:
        assert tx.reservations.get(later.id) == later
        assert len(tx.reservations.blocking_overlaps([resource.id], TimeSpan(at(0), at(9)))) == 4


@pytest.mark.postgres
def test_a_refused_write_in_the_pipeline_names_its_own_reservation(
    booked_pg: tuple[SqlStorage, Resource, sa.Engine],
) -> None:
    """Of several queued inserts, the one the database refused is the one the error is about."""
    storage, resource, _ = booked_pg
    other = make_resource()
    store(storage, other)
    fine = make_reservation(other.id, at(0), at(1))
    clash = make_reservation(resource.id, at(0), at(2))
    with pytest.raises(ConflictError) as info, storage.transaction() as tx:  # noqa: PT012
        tx.reservations.add(fine)
        tx.reservations.add(clash)
    assert [v.resource_id for v in info.value.violations] == [resource.id]
    with storage.transaction(readonly=True) as tx, pytest.raises(NotFoundError):
        tx.reservations.get(fine.id)


def test_a_read_only_unit_may_look_at_the_due_outbox(storage: SqlStorage) -> None:
    messages = [make_outbox_message(occurred_at=at(-5 + n)) for n in range(3)]
    store(storage, *messages)
    with storage.transaction(readonly=True) as tx:
        due = tx.outbox.due(at(0), 10)
    assert [m.id for m in due] == [m.id for m in messages]


def test_an_outbox_row_of_an_unknown_topic_is_a_storage_error(storage: SqlStorage) -> None:
    message = make_outbox_message()
    store(storage, message)
    with storage.engine.begin() as connection:
        connection.exec_driver_sql("UPDATE outbox SET topic = 'from.the.future'")
    with pytest.raises(StorageError, match=r"from\.the\.future"), storage.transaction() as tx:
        tx.outbox.get(message.id)


def test_an_overlap_refused_by_the_database_names_the_rule(storage: SqlStorage) -> None:
    resource = make_resource()
    store(storage, resource, make_reservation(resource.id, at(0), at(2)))
    clash = make_reservation(resource.id, at(1), at(3), buffer_before=timedelta(minutes=5))
    with pytest.raises(ConflictError) as info, storage.transaction() as tx:
        tx.reservations.add(clash)
    assert info.value.rules == {Rule.OVERLAP}
    assert "buffers included" in str(info.value)
    (violation,) = info.value.violations
    assert (violation.resource_id, violation.start) == (resource.id, at(1).isoformat())
