"""Storage contract, part one: repositories keep what they are given and report what is missing."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import attrs
import pytest

from reserver.core.errors import ConflictError, NotFoundError, Rule
from reserver.core.ids import (
    BlackoutId,
    BookingId,
    EventId,
    GroupId,
    ReservationId,
    ResourceId,
    SeriesId,
    UserId,
)
from reserver.core.models import (
    Attributes,
    BookingPolicy,
    Change,
    HistoryAction,
    Quota,
    ReservationStatus,
    ResourceStatus,
)
from reserver.core.ports import Storage, Transaction
from reserver.core.recurrence import Frequency, NthWeekday, RecurrenceRule
from reserver.core.schedules import OpeningInterval, Scope, WeeklyHours
from reserver.core.testing.builders import (
    T0,
    at,
    make_blackout,
    make_group,
    make_history_entry,
    make_outbox_message,
    make_reservation,
    make_resource,
    make_series,
    span,
    store,
)

FULL_POLICY = BookingPolicy(
    min_duration=timedelta(minutes=15),
    max_duration=timedelta(hours=8),
    granularity=timedelta(minutes=15),
    buffer_before=timedelta(minutes=5),
    buffer_after=timedelta(minutes=10),
    min_notice=timedelta(hours=1),
    max_advance=timedelta(days=90),
    requires_approval=True,
    quota=Quota(max_active=3, max_hours_per_day=4.5, max_hours_per_week=20),
)

FEATURES: Any = frozenset({"sink", "fume"})  # Any: attrs plugin vs converter=frozenset


class Boom(Exception):
    """Raised inside a unit of work to make it roll back."""


def _assert_aware(*values: datetime | None) -> None:
    for value in values:
        assert value is None or value.utcoffset() is not None, f"{value!r} came back naive"


class StorageRecordsContract:
    """Round trips, missing objects, and the simpler repositories (hours, blackouts, outbox)."""

    def test_resource_round_trips_with_every_field(self, storage: Storage) -> None:
        """A resource comes back equal, every field and aware datetime included."""
        group = make_group(timezone="Europe/Berlin", policy=FULL_POLICY)
        resource = make_resource(
            name="Lab 4 — Spectrometer",
            timezone="America/New_York",
            kind="lab",
            description="Mass spectrometer, bring your own gloves",
            tags={"chemistry", "heavy"},
            attributes=Attributes(capacity=4, location="Building C", features=FEATURES),
            status=ResourceStatus.MAINTENANCE,
            maintenance_until=at(48),
            group_id=group.id,
            policy=FULL_POLICY,
            version=3,
            created_at=datetime(2029, 12, 31, 23, 59, 59, 123456, tzinfo=UTC),
            retired_at=at(1000),
        )
        store(storage, group, resource)
        with storage.transaction(readonly=True) as tx:
            got = tx.resources.get(resource.id)
            assert tx.groups.get(group.id) == group
        assert got == resource
        _assert_aware(got.maintenance_until, got.created_at, got.retired_at)

    def test_get_many_returns_the_existing_ones(self, storage: Storage) -> None:
        """``get_many`` returns the resources that exist and skips unknown ids."""
        a, b, c = make_resource(), make_resource(), make_resource()
        store(storage, a, b, c)
        with storage.transaction(readonly=True) as tx:
            got = tx.resources.get_many([a.id, c.id, ResourceId("no-such-resource")])
            assert len(tx.resources.get_many([])) == 0
        assert sorted(got, key=lambda r: r.id) == sorted([a, c], key=lambda r: r.id)

    def test_resource_update_stores_the_callers_version(self, storage: Storage) -> None:
        """``update`` stores the resource as given, with the version the caller set."""
        resource = make_resource(name="Old name")
        store(storage, resource)
        renamed = attrs.evolve(resource, name="New name", tags={"quiet"}, version=2)
        with storage.transaction() as tx:
            tx.resources.update(renamed, expected_version=1)
        with storage.transaction(readonly=True) as tx:
            assert tx.resources.get(resource.id) == renamed

    def test_resource_update_with_a_stale_version_is_refused(self, storage: Storage) -> None:
        """A stale ``expected_version`` is a ``ConflictError`` (``Rule.VERSION``)."""
        resource = make_resource(name="Kept")
        store(storage, resource)
        stale = attrs.evolve(resource, name="Lost update", version=8)
        with pytest.raises(ConflictError) as info, storage.transaction() as tx:
            tx.resources.update(stale, expected_version=7)
        assert Rule.VERSION in info.value.rules
        with storage.transaction(readonly=True) as tx:
            assert tx.resources.get(resource.id) == resource

    def test_missing_objects_raise_not_found(self, storage: Storage) -> None:
        """``get`` of an unknown id raises ``NotFoundError`` in every repository."""
        resource = make_resource()
        store(storage, resource)
        with storage.transaction(readonly=True) as tx:
            for lookup in (
                lambda: tx.resources.get(ResourceId("missing")),
                lambda: tx.groups.get(GroupId("missing")),
                lambda: tx.reservations.get(ReservationId("missing")),
                lambda: tx.series.get(SeriesId("missing")),
                lambda: tx.blackouts.get(BlackoutId("missing")),
                lambda: tx.outbox.get(EventId("missing")),
            ):
                with pytest.raises(NotFoundError):
                    lookup()

    def test_changing_missing_objects_raises_not_found(self, storage: Storage) -> None:
        """Updating, deleting or saving an unknown object raises ``NotFoundError``."""
        resource = make_resource()
        store(storage, resource)
        ghosts: tuple[Callable[[Transaction], object], ...] = (
            lambda tx: tx.resources.update(make_resource(), expected_version=1),
            lambda tx: tx.groups.update(make_group()),
            lambda tx: tx.groups.delete(GroupId("missing")),
            lambda tx: tx.reservations.update(
                make_reservation(resource.id, at(0), at(1)), expected_version=1
            ),
            lambda tx: tx.series.update(make_series(resource.id)),
            lambda tx: tx.blackouts.delete(BlackoutId("missing")),
            lambda tx: tx.outbox.save(make_outbox_message()),
        )
        for change in ghosts:
            with pytest.raises(NotFoundError), storage.transaction() as tx:
                change(tx)

    def test_groups_round_trip_update_and_delete(self, storage: Storage) -> None:
        """Groups round trip, update in place and disappear on delete."""
        site = make_group(name="Site", kind="site", timezone="Europe/Paris", policy=FULL_POLICY)
        building = make_group(name="Building", kind="building", parent=site)
        store(storage, site, building)
        moved = attrs.evolve(building, name="Building B", policy=BookingPolicy())
        with storage.transaction() as tx:
            tx.groups.update(moved)
        with storage.transaction(readonly=True) as tx:
            assert tx.groups.get(building.id) == moved
            assert sorted(tx.groups.all(), key=lambda g: g.id) == sorted(
                [site, moved], key=lambda g: g.id
            )
        with storage.transaction() as tx:
            tx.groups.delete(building.id)
        with storage.transaction(readonly=True) as tx:
            assert list(tx.groups.all()) == [site]
            with pytest.raises(NotFoundError):
                tx.groups.get(building.id)

    def test_group_subtree_is_the_group_and_its_descendants(self, storage: Storage) -> None:
        """``subtree`` is the group and every group below it, at any depth."""
        site = make_group(name="Site")
        north, south = make_group(name="North", parent=site), make_group(name="South", parent=site)
        floor = make_group(name="Floor 1", parent=north)
        room = make_group(name="Room 101", parent=floor)
        elsewhere = make_group(name="Elsewhere")
        store(storage, site, north, south, floor, room, elsewhere)
        with storage.transaction(readonly=True) as tx:
            assert {g.id for g in tx.groups.subtree(north.id)} == {north.id, floor.id, room.id}
            assert {g.id for g in tx.groups.subtree(site.id)} == {
                site.id,
                north.id,
                south.id,
                floor.id,
                room.id,
            }
            assert [g.id for g in tx.groups.subtree(room.id)] == [room.id]
            assert [g.id for g in tx.groups.subtree(elsewhere.id)] == [elsewhere.id]

    def test_reservation_round_trips_with_every_field(self, storage: Storage) -> None:
        """A reservation comes back equal, every field and aware datetime included."""
        resource = make_resource()
        series = make_series(resource.id)
        reservation = make_reservation(
            resource.id,
            at(1),
            at(2, minutes=30),
            status=ReservationStatus.PENDING_APPROVAL,
            holder="bob",
            buffer_before=timedelta(minutes=5),
            buffer_after=timedelta(minutes=10),
            booked_by=UserId("carol"),
            title="Design review",
            notes="Bring the prototype\nand the charger",
            series_id=series.id,
            occurrence_key="2030-01-07",
            booking_id=BookingId("booking-1"),
            version=4,
            created_at=T0 - timedelta(days=3),
            updated_at=T0 - timedelta(days=1, microseconds=7),
            cancel_reason="none yet",
        )
        store(storage, resource, series, reservation)
        with storage.transaction(readonly=True) as tx:
            got = tx.reservations.get(reservation.id)
        assert got == reservation
        _assert_aware(got.span.start, got.span.end, got.block.start, got.created_at)

    def test_reservation_update_replaces_the_stored_copy(self, storage: Storage) -> None:
        """``update`` replaces the stored reservation with the one given."""
        resource = make_resource()
        reservation = make_reservation(resource.id, at(0), at(1))
        store(storage, resource, reservation)
        moved = attrs.evolve(
            reservation, span=span(3, 4), block=span(3, 4), title="Moved", version=2
        )
        with storage.transaction() as tx:
            tx.reservations.update(moved, expected_version=1)
        with storage.transaction(readonly=True) as tx:
            assert tx.reservations.get(reservation.id) == moved

    def test_series_round_trip_and_update(self, storage: Storage) -> None:
        """A series and its recurrence rule round trip and update."""
        resource = make_resource()
        series = make_series(
            resource.id,
            title="Standup",
            notes="Daily",
            created_at=T0 - timedelta(days=1),
            rule=RecurrenceRule(
                Frequency.MONTHLY,
                interval=2,
                nth_weekday=NthWeekday(-1, 4),
                until=T0 + timedelta(days=300),
                exdates=frozenset({date(2030, 3, 29)}),
            ),
        )
        store(storage, resource, series)
        with storage.transaction(readonly=True) as tx:
            assert tx.series.get(series.id) == series
        shorter = attrs.evolve(series, rule=RecurrenceRule(Frequency.DAILY, count=3))
        with storage.transaction() as tx:
            tx.series.update(shorter)
        with storage.transaction(readonly=True) as tx:
            assert tx.series.get(series.id) == shorter

    def test_history_is_oldest_first_and_keeps_append_order_on_ties(self, storage: Storage) -> None:
        """History is ordered by ``at``; entries of one instant keep their append order."""
        resource = make_resource()
        mine, other = (make_reservation(resource.id, at(i), at(i + 1)) for i in (0, 2))
        changes = (Change("title", None, "Review"), Change("span", "a", "b"))
        first = make_history_entry(mine.id, when=at(-5), changes=changes, note="first")
        tied = [make_history_entry(mine.id, when=at(-3), action=HistoryAction.MOVED) for _ in "abc"]
        earlier = make_history_entry(mine.id, when=at(-4), action=HistoryAction.UPDATED)
        foreign = make_history_entry(other.id, when=at(-4))
        store(storage, resource, mine, other, first, *tied, earlier, foreign)
        with storage.transaction(readonly=True) as tx:
            assert list(tx.history.for_reservation(mine.id)) == [first, earlier, *tied]
            assert list(tx.history.for_reservation(other.id)) == [foreign]
            assert list(tx.history.for_reservation(ReservationId("none"))) == []

    def test_hours_round_trip_per_scope(self, storage: Storage) -> None:
        """Hours are kept per scope; ``get`` is ``None`` where a scope has none."""
        resource = make_resource()
        store(storage, resource)
        office = WeeklyHours.weekdays(time(8), time(18))
        split = WeeklyHours(
            tuple(
                (OpeningInterval(time(9), time(12)), OpeningInterval(time(13), time(0)))
                for _ in range(7)
            )
        )
        everywhere, mine = Scope.everywhere(), Scope.resource(resource.id)
        with storage.transaction() as tx:
            assert tx.hours.get(everywhere) is None
            tx.hours.put(everywhere, office)
            tx.hours.put(mine, office)
            tx.hours.put(mine, split)
        with storage.transaction(readonly=True) as tx:
            assert tx.hours.get(everywhere) == office
            assert tx.hours.get(mine) == split
            assert tx.hours.get(Scope.group("no-such-group")) is None
            assert dict(tx.hours.all()) == {everywhere: office, mine: split}
            assert tx.hours.nearest([mine, everywhere]) == split
            assert tx.hours.nearest([Scope.group("no-such-group"), everywhere]) == office
            assert tx.hours.nearest([Scope.group("no-such-group")]) is None
            assert tx.hours.nearest([]) is None
        with storage.transaction() as tx:
            tx.hours.delete(mine)
        with storage.transaction(readonly=True) as tx:
            assert tx.hours.get(mine) is None
            assert dict(tx.hours.all()) == {everywhere: office}

    def test_blackouts_round_trip_and_filter_by_scope(self, storage: Storage) -> None:
        """Blackouts round trip, ``for_scopes`` picks by scope, ``delete`` removes."""
        resource, group = make_resource(), make_group()
        store(storage, group, resource)
        days = make_blackout(
            Scope.resource(resource.id),
            days=(date(2030, 12, 24), date(2030, 12, 26)),
            yearly=True,
            reason="Holidays",
            created_at=T0,
        )
        during = make_blackout(Scope.group(group.id), during=span(2, 5), reason="Fire drill")
        global_ = make_blackout(Scope.everywhere(), days=(date(2030, 5, 1), date(2030, 5, 1)))
        store(storage, days, during, global_)
        with storage.transaction(readonly=True) as tx:
            assert tx.blackouts.get(days.id) == days
            assert tx.blackouts.get(during.id) == during
            found = tx.blackouts.for_scopes([Scope.resource(resource.id), Scope.everywhere()])
            assert {b.id for b in found} == {days.id, global_.id}
            assert list(tx.blackouts.for_scopes([Scope.group("other")])) == []
        with storage.transaction() as tx:
            tx.blackouts.delete(during.id)
        with storage.transaction(readonly=True) as tx, pytest.raises(NotFoundError):
            tx.blackouts.get(during.id)

    def test_outbox_round_trip_and_save(self, storage: Storage) -> None:
        """An outbox message round trips; ``save`` stores its delivery state."""
        message = make_outbox_message(occurred_at=at(-1))
        store(storage, message)
        with storage.transaction(readonly=True) as tx:
            assert tx.outbox.get(message.id) == message
        retried = attrs.evolve(
            message, attempts=1, next_attempt_at=at(0, minutes=5), last_error="HTTP 503"
        )
        with storage.transaction() as tx:
            tx.outbox.save(retried)
        with storage.transaction(readonly=True) as tx:
            got = tx.outbox.get(message.id)
        assert got == retried
        _assert_aware(got.occurred_at, got.next_attempt_at)

    def test_outbox_due_is_undelivered_ready_and_oldest_first(self, storage: Storage) -> None:
        """``due``: undelivered, next attempt unset or not after now, oldest first."""
        now = at(0)
        ready = [make_outbox_message(occurred_at=at(-h)) for h in (1, 3, 2)]
        retry_now = make_outbox_message(occurred_at=at(-5), attempts=2, next_attempt_at=now)
        retry_past = make_outbox_message(occurred_at=at(-4), attempts=1, next_attempt_at=at(-1))
        later = make_outbox_message(occurred_at=at(-6), attempts=1, next_attempt_at=at(1))
        delivered = make_outbox_message(occurred_at=at(-7), attempts=1, delivered_at=at(-6))
        store(storage, *ready, retry_now, retry_past, later, delivered)
        expected = [retry_now, retry_past, ready[1], ready[2], ready[0]]
        with storage.transaction() as tx:
            assert list(tx.outbox.due(now, 100)) == expected
            assert list(tx.outbox.due(now, 2)) == expected[:2]
            assert tx.outbox.due(at(2), 100)[0] == later
        with storage.transaction() as tx:
            tx.outbox.save(attrs.evolve(retry_now, attempts=3, delivered_at=now))
            tx.outbox.save(attrs.evolve(ready[1], attempts=1, next_attempt_at=at(1)))
        with storage.transaction() as tx:
            due = list(tx.outbox.due(now, 100))
        assert due == [retry_past, ready[2], ready[0]]

    def test_outbox_due_keeps_insertion_order_on_ties(self, storage: Storage) -> None:
        """Messages of one instant come due in the order they were added (causal order)."""
        messages = [make_outbox_message(id=f"evt-{n}", occurred_at=T0) for n in "cab"]
        store(storage, *messages[:2])
        store(storage, messages[2])

        def delivered_then_rolled_back() -> None:
            with storage.transaction() as tx:
                tx.outbox.save(attrs.evolve(messages[0], delivered_at=T0))
                raise Boom

        with pytest.raises(Boom):
            delivered_then_rolled_back()
        with storage.transaction() as tx:
            due = tx.outbox.due(at(1), 10)
        assert [m.id for m in due] == ["evt-c", "evt-a", "evt-b"]

    def test_run_scoped_gives_what_its_work_gives_and_sees_every_change(
        self, storage: Storage
    ) -> None:
        """``run_scoped`` returns or raises what the work does, never with stale data.

        The work reads a resource another thread changed after an earlier scope read it (and a
        storage may have cached it): it must see the change. A unit of the work that raised
        leaves nothing behind.
        """
        resource = make_resource()
        store(storage, resource)

        def name() -> str:
            with storage.transaction(readonly=True) as tx:
                return tx.resources.get(resource.id).name

        assert storage.run_scoped(name) == resource.name
        renamed = attrs.evolve(resource, name="Renamed", version=resource.version + 1)

        def rename() -> None:
            with storage.transaction() as tx:
                tx.resources.update(renamed, expected_version=resource.version)

        other = threading.Thread(target=rename)
        other.start()
        other.join()
        assert storage.run_scoped(name) == "Renamed"

        def failing() -> None:
            with storage.transaction() as tx:
                tx.reservations.add(make_reservation(resource.id, at(0), at(1)))
                raise Boom

        with pytest.raises(Boom):
            storage.run_scoped(failing)
        with storage.request_scope():  # inside an open scope, the work is part of it
            assert storage.run_scoped(name) == "Renamed"
        with storage.transaction(readonly=True) as tx:
            assert tx.reservations.blocking_overlaps([resource.id], span(0, 1)) == []

    def test_a_request_scope_sees_its_own_writes_and_other_units_reservations(
        self, storage: Storage
    ) -> None:
        """Units of one request scope may share a look at their caches, never a stale own write.

        Another thread's reservations are seen at once; the scope's own change of a resource
        is seen by its next unit, even when an earlier unit of the scope read (and maybe
        cached) the resource before the change.
        """
        resource = make_resource()
        store(storage, resource)
        renamed = attrs.evolve(resource, name="Renamed", version=resource.version + 1)
        booked = make_reservation(resource.id, at(0), at(1))
        with storage.request_scope():
            with storage.transaction(readonly=True) as tx:
                assert tx.resources.get(resource.id) == resource
            with storage.transaction() as tx:
                tx.resources.update(renamed, expected_version=resource.version)
            with storage.transaction(readonly=True) as tx:
                assert tx.resources.get(resource.id) == renamed
            other = threading.Thread(target=store, args=(storage, booked))
            other.start()
            other.join()
            with storage.transaction(readonly=True) as tx:
                assert tx.reservations.get(booked.id) == booked
                assert tx.resources.get(resource.id) == renamed
        with storage.transaction(readonly=True) as tx:
            assert tx.resources.get(resource.id) == renamed
