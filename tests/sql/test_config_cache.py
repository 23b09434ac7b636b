"""The configuration cache: shared reads that never outlive the state they came from."""

from __future__ import annotations

from collections.abc import Iterator

import attrs
import pytest
import sqlalchemy as sa
from sqlalchemy import event

from reserver.core import ConflictError, Principal, ReservationRequest, Reserver
from reserver.core.adapters.clock import FixedClock
from reserver.core.errors import Rule
from reserver.core.identity.models import RefreshToken, SessionId
from reserver.core.ids import ResourceId, UserId
from reserver.core.models import ResourceStatus
from reserver.core.schedules import Scope, WeeklyHours
from reserver.core.spans import TimeSpan
from reserver.core.testing.builders import (
    T0,
    at,
    make_blackout,
    make_reservation,
    make_resource,
    store,
)
from reserver.core.testing.identity_builders import make_grant, make_user
from reserver.sql import SqlStorage, db
from reserver.sql.config_cache import ConfigCache

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
ROOM = ResourceId("room-1")


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))


@pytest.fixture
def storages(url: str) -> Iterator[tuple[SqlStorage, SqlStorage]]:
    """Two storages on one database: two processes of one deployment."""
    first = SqlStorage.from_url(url)
    second = SqlStorage.from_url(url, migrate=False)
    store(first, make_resource(id=ROOM, name="Room one"))
    yield first, second
    first.close()
    second.close()


def name_of(storage: SqlStorage, resource_id: ResourceId = ROOM) -> str:
    with storage.transaction(readonly=True) as tx:
        return tx.resources.get(resource_id).name


def rename(storage: SqlStorage, name: str, resource_id: ResourceId = ROOM) -> None:
    change(storage, resource_id, name=name)


def change(storage: SqlStorage, resource_id: ResourceId = ROOM, **changes: object) -> None:
    with storage.transaction() as tx:
        resource = tx.resources.get(resource_id)
        tx.resources.update(
            attrs.evolve(resource, **changes, version=resource.version + 1),
            expected_version=resource.version,
        )


def statements(storage: SqlStorage) -> list[str]:
    """Record the statements ``storage`` runs from now on."""
    seen: list[str] = []

    @event.listens_for(storage.engine, "before_cursor_execute")
    def record(*args: object) -> None:
        seen.append(" ".join(str(args[2]).split()))

    return seen


def test_a_second_read_of_the_same_configuration_asks_the_database_only_for_the_generation(
    storages: tuple[SqlStorage, SqlStorage],
) -> None:
    first, _ = storages
    name_of(first)
    seen = statements(first)
    assert name_of(first) == "Room one"
    # The generation is read through the driver, unseen by SQLAlchemy's events; the tests
    # below show that it is read, and heeded.
    assert [s for s in seen if s.startswith("SELECT")] == []


def test_a_change_through_another_storage_is_seen_at_once(
    storages: tuple[SqlStorage, SqlStorage],
) -> None:
    first, second = storages
    assert name_of(first) == name_of(second) == "Room one"
    rename(second, "Room uno")
    assert name_of(first) == "Room uno"


def test_a_change_by_hand_bypassing_reserver_is_seen_at_once(
    storages: tuple[SqlStorage, SqlStorage],
) -> None:
    first, _ = storages
    assert name_of(first) == "Room one"
    with first.engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE resources SET name = 'By hand' WHERE id = :id"), {"id": ROOM}
        )
    assert name_of(first) == "By hand"


@pytest.mark.postgres
@pytest.mark.parametrize(
    "mishap",
    [
        # What psycopg sends on a connection after a ROLLBACK (or an ALTER).
        ("first", "DEALLOCATE ALL"),
        # A migration, elsewhere, that changes what the prepared read returns.
        ("second", "ALTER TABLE config_generation ALTER COLUMN generation TYPE numeric"),
    ],
)
def test_the_counters_are_read_after_the_connection_lost_or_outgrew_its_prepared_read(
    pg_url: str, mishap: tuple[str, str]
) -> None:
    first = SqlStorage.from_url(pg_url)
    second = SqlStorage.from_url(pg_url, migrate=False)
    try:
        store(first, make_resource(id=ROOM, name="Room one"))
        assert name_of(first) == "Room one"  # its one pooled connection prepared the read
        where, statement = mishap
        with (first if where == "first" else second).engine.connect() as connection:
            connection.exec_driver_sql(statement)
            connection.commit()
        rename(second, "Room uno")
        assert name_of(first) == "Room uno"
        rename(second, "Room due")
        assert name_of(first) == "Room due"
        with first.transaction() as tx:  # the conflict check: a prepared statement too
            assert tx.reservations.blocking_overlaps([ROOM], TimeSpan(at(0), at(1))) == []
        reserver = Reserver(storage=first, clock=FixedClock(T0))
        book(reserver, 1)  # the counters and the conflict check in one pipeline
        with (first if where == "first" else second).engine.connect() as connection:
            connection.exec_driver_sql(statement.replace("numeric", "bigint"))
            connection.commit()
        book(reserver, 2)
        rename(second, "Room tre")
        with pytest.raises(ConflictError):
            book(reserver, 2)
        assert name_of(first) == "Room tre"
    finally:
        first.close()
        second.close()


def test_a_unit_sees_its_own_uncommitted_change_and_nobody_keeps_it_after_a_rollback(
    storages: tuple[SqlStorage, SqlStorage],
) -> None:
    first, second = storages
    assert name_of(first) == "Room one"
    with pytest.raises(RuntimeError), first.transaction() as tx:  # noqa: PT012
        resource = tx.resources.get(ROOM)
        changed = attrs.evolve(resource, name="Never", version=resource.version + 1)
        tx.resources.update(changed, expected_version=resource.version)
        assert tx.resources.get(ROOM).name == "Never"
        raise RuntimeError("roll back")
    assert name_of(first) == name_of(second) == "Room one"


def test_hours_and_blackouts_follow_their_tables(storages: tuple[SqlStorage, SqlStorage]) -> None:
    first, second = storages
    scopes = [Scope.resource(ROOM), Scope.everywhere()]
    with first.transaction(readonly=True) as tx:
        assert tx.hours.nearest(scopes) is None
    weekly = WeeklyHours.always_open()
    with second.transaction() as tx:
        tx.hours.put(Scope.everywhere(), weekly)
    with first.transaction(readonly=True) as tx:
        assert tx.hours.nearest(scopes) == weekly
    with second.transaction() as tx:
        tx.hours.delete(Scope.everywhere())
    with first.transaction(readonly=True) as tx:
        assert tx.hours.nearest(scopes) is None


def test_grants_and_blackouts_are_read_whole_once_and_afresh_by_a_unit_that_writes_them(
    storages: tuple[SqlStorage, SqlStorage],
) -> None:
    """One query per generation serves every resource and scope; a writing unit reads afresh."""
    first, second = storages
    other = ResourceId("room-2")
    store(first, make_resource(id=other, name="Room two"))
    mine, everyone = make_blackout(Scope.resource(ROOM)), make_blackout(Scope.everywhere())
    store(second, mine, everyone)
    with second.transaction() as tx:
        tx.identity.grants.add(make_grant(ROOM))
    with first.transaction(readonly=True) as tx:
        tx.blackouts.for_scopes([Scope.everywhere()])
        tx.identity.grants.for_resource(other)
    seen = statements(first)
    with first.transaction(readonly=True) as tx:
        assert tx.blackouts.for_scopes([Scope.resource(ROOM), Scope.everywhere()]) == sorted(
            [mine, everyone], key=lambda b: b.id
        )
        assert tx.blackouts.for_scopes([Scope.resource(other)]) == []
        assert [g.resource_id for g in tx.identity.grants.for_resource(ROOM)] == [ROOM]
        assert tx.identity.grants.for_resource(other) == []
    assert [s for s in seen if s.startswith("SELECT")] == []
    later = make_blackout(Scope.resource(other))
    with first.transaction() as tx:
        tx.blackouts.add(later)
        assert tx.blackouts.for_scopes([Scope.resource(other)]) == [later]
        tx.identity.grants.add(make_grant(other))
        assert len(tx.identity.grants.for_resource(other)) == 1
    with second.transaction(readonly=True) as tx:
        assert tx.blackouts.for_scopes([Scope.resource(other)]) == [later]
        assert len(tx.identity.grants.for_resource(other)) == 1


def test_a_reader_of_an_older_generation_stores_nothing() -> None:
    cache = ConfigCache()
    assert cache.get(5, "k", lambda: "at five") == "at five"
    assert cache.get(6, "k", lambda: "at six") == "at six"
    assert cache.get(5, "k", lambda: "older") == "older"  # a unit that started before 6
    assert cache.get(6, "k", lambda: "missed") == "at six"
    assert cache.get(7, "k", lambda: "at seven") == "at seven"


def test_the_cache_starts_afresh_when_full() -> None:
    cache = ConfigCache(size=2)
    for key in "abc":
        cache.get(1, key, lambda key=key: key.upper())
    loads: list[str] = []

    def load(key: str) -> str:
        loads.append(key)
        return key.upper()

    assert [cache.get(1, key, lambda key=key: load(key)) for key in "abc"] == ["A", "B", "C"]
    assert loads  # something was evicted: the cache stayed within its size


def test_a_session_revoked_through_another_storage_is_dead_at_once(
    storages: tuple[SqlStorage, SqlStorage],
) -> None:
    first, second = storages
    family = SessionId("family-1")
    token = RefreshToken(
        token_hash="digest-1",
        family_id=family,
        user_id=UserId("user-1"),
        issued_at=at(0),
        expires_at=at(24),
    )
    with second.transaction() as tx:
        tx.identity.users.add(make_user(id=UserId("user-1")))
        tx.identity.sessions.add(token)
    with first.transaction(readonly=True) as tx:
        assert not tx.identity.sessions.is_revoked(family)
    with second.transaction() as tx:
        tx.identity.sessions.revoke_family(family, at(1))
    with first.transaction(readonly=True) as tx:
        assert tx.identity.sessions.is_revoked(family)


def book(reserver: Reserver, hour: int) -> None:
    request = ReservationRequest(ROOM, at(hour), at(hour + 1), title=f"Hour {hour}")
    reserver.reservations.reserve(Principal.user("ann"), request)


def counter_reads(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Record each round trip that reads the counters on their own (PostgreSQL)."""
    reads: list[object] = []
    alone = db.read_pg_generations

    def counted(driver: object) -> dict[int, int]:
        reads.append(driver)
        return alone(driver)  # type: ignore[arg-type]

    monkeypatch.setattr(db, "read_pg_generations", counted)
    return reads


def test_work_run_scoped_sees_a_change_made_through_another_storage(
    storages: tuple[SqlStorage, SqlStorage],
) -> None:
    """Cached data a scope served before it sent anything is checked before the work returns.

    On PostgreSQL the first run of the work below reads the renamed room from the cache, sends
    no statement, and is then found stale: the work runs again and sees the new name.
    """
    first, second = storages
    runs: list[str] = []

    def work() -> str:
        runs.append(name := name_of(first))
        return name

    assert first.run_scoped(work) == "Room one"
    rename(second, "Room uno")
    runs.clear()
    assert first.run_scoped(work) == "Room uno"
    assert runs == (
        ["Room one", "Room uno"] if first.engine.dialect.name == "postgresql" else ["Room uno"]
    )


def test_a_read_only_unit_checks_the_caches_with_its_begin(
    storages: tuple[SqlStorage, SqlStorage], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scoped read whose first statement goes through SQLAlchemy: the counters ride along.

    On PostgreSQL the read-only unit's BEGIN and the counters go in one round trip, and the
    room renamed through another storage is found stale there: the work runs again.
    """
    first, second = storages
    booked = make_reservation(ROOM, at(0), at(1))
    store(first, booked)
    runs: list[str] = []

    def work() -> str:
        with first.transaction(readonly=True) as tx:
            name = tx.resources.get(ROOM).name  # from the cache, unchecked
            assert tx.reservations.get(booked.id) == booked  # the first statement
        runs.append(name)
        return name

    assert first.run_scoped(work) == "Room one"
    rename(second, "Room uno")
    runs.clear()
    reads = counter_reads(monkeypatch)
    assert first.run_scoped(work) == "Room uno"
    assert runs == ["Room uno"]  # on PostgreSQL the first run stopped at its first statement
    if first.engine.dialect.name == "postgresql":
        assert len(reads) == 1  # the rerun's, read first; the first run's rode with its BEGIN


def test_a_booking_on_a_room_disabled_through_another_storage_is_refused_at_once(
    storages: tuple[SqlStorage, SqlStorage],
) -> None:
    """The cache that served the room as available is found stale with the conflict check."""
    first, second = storages
    reserver = Reserver(storage=first, clock=FixedClock(T0))
    book(reserver, 1)  # the room, its rules and grants are cached now
    change(second, status=ResourceStatus.DISABLED)
    with pytest.raises(ConflictError) as refused:
        book(reserver, 3)
    assert [v.rule for v in refused.value.violations] == [Rule.RESOURCE_DISABLED]
    change(second, status=ResourceStatus.AVAILABLE)
    book(reserver, 3)


@pytest.mark.postgres
def test_a_booking_reads_the_counters_only_with_its_first_query(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One round trip fewer: the counters ride along with the conflict check."""
    storage = SqlStorage.from_url(pg_url)
    try:
        store(storage, make_resource(id=ROOM, name="Room one"))
        reserver = Reserver(storage=storage, clock=FixedClock(T0))
        book(reserver, 1)
        reads = counter_reads(monkeypatch)
        book(reserver, 2)
        assert reads == []
        with storage.request_scope():  # a scope that reads them first, for comparison
            book(reserver, 3)
        assert len(reads) == 1
        with storage.transaction(readonly=True) as tx:
            booked = tx.reservations.blocking_overlaps([ROOM], TimeSpan(at(0), at(4)))
        assert len(booked) == 3
    finally:
        storage.close()
