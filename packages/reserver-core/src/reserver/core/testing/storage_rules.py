"""Storage contract, part three: no overlap, optimistic versions, all or nothing."""

from __future__ import annotations

from datetime import date, time, timedelta

import attrs
import pytest

from reserver.core.errors import ConflictError, NotFoundError, Rule
from reserver.core.ids import UserId
from reserver.core.models import BLOCKING_STATUSES, Reservation, ReservationStatus
from reserver.core.ports import Storage
from reserver.core.schedules import Scope, WeeklyHours
from reserver.core.testing.builders import (
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

NON_BLOCKING = sorted(set(ReservationStatus) - BLOCKING_STATUSES)
BLOCKING = sorted(BLOCKING_STATUSES)
HALF_HOUR = timedelta(minutes=30)


class Boom(Exception):
    """Raised inside a unit of work to make it roll back."""


def _exists(storage: Storage, reservation: Reservation) -> bool:
    with storage.transaction(readonly=True) as tx:
        try:
            tx.reservations.get(reservation.id)
        except NotFoundError:
            return False
        return True


def _assert_overlap_refused(storage: Storage, reservation: Reservation) -> None:
    with pytest.raises(ConflictError) as info, storage.transaction() as tx:
        tx.reservations.add(reservation)
    assert Rule.OVERLAP in info.value.rules
    assert reservation.resource_id in str(info.value)
    assert any(v.resource_id == reservation.resource_id for v in info.value.violations)
    assert not _exists(storage, reservation)


class StorageRulesContract:
    """Overlap refusal on ``block``, blocking statuses, versions and atomic units of work."""

    @pytest.mark.parametrize("status", BLOCKING)
    def test_overlapping_booking_is_refused(
        self, storage: Storage, status: ReservationStatus
    ) -> None:
        """A blocking reservation refuses any other blocking one whose block overlaps it."""
        resource = make_resource()
        first = make_reservation(resource.id, at(0), at(2), status=status)
        store(storage, resource, first)
        for start, end in ((1, 3), (-1, 1), (0.5, 1.5), (-1, 3), (0, 2)):
            _assert_overlap_refused(storage, make_reservation(resource.id, at(start), at(end)))
        pending = make_reservation(
            resource.id, at(1), at(3), status=ReservationStatus.PENDING_APPROVAL
        )
        _assert_overlap_refused(storage, pending)

    def test_touching_spans_do_not_overlap(self, storage: Storage) -> None:
        """Spans are half-open: one ending when the next starts is accepted."""
        resource = make_resource()
        middle = make_reservation(resource.id, at(1), at(2))
        before = make_reservation(resource.id, at(0), at(1))
        after = make_reservation(resource.id, at(2), at(3))
        store(storage, resource, middle, before, after)
        assert all(_exists(storage, r) for r in (middle, before, after))

    def test_other_resources_never_conflict(self, storage: Storage) -> None:
        """The same span on two resources is two bookings, not a conflict."""
        room, desk = make_resource(), make_resource()
        store(storage, room, desk, make_reservation(room.id, at(0), at(2)))
        store(storage, make_reservation(desk.id, at(0), at(2)))
        with storage.transaction(readonly=True) as tx:
            assert len(tx.reservations.blocking_overlaps([room.id, desk.id], span(0, 2))) == 2

    def test_buffers_are_part_of_the_block(self, storage: Storage) -> None:
        """The block (span plus buffers) is what may not overlap, on either side."""
        resource = make_resource()
        first = make_reservation(resource.id, at(0), at(1), buffer_after=HALF_HOUR)
        store(storage, resource, first)
        _assert_overlap_refused(storage, make_reservation(resource.id, at(1), at(2)))
        greedy = make_reservation(resource.id, at(2), at(3), buffer_before=timedelta(hours=1))
        _assert_overlap_refused(storage, greedy)
        late = make_reservation(resource.id, at(2), at(3), buffer_before=HALF_HOUR)
        store(storage, late)
        _assert_overlap_refused(storage, make_reservation(resource.id, at(1.5), at(2)))
        with storage.transaction(readonly=True) as tx:
            assert list(tx.reservations.blocking_overlaps([resource.id], span(1.25, 1.75))) == [
                first,
                late,
            ]

    @pytest.mark.parametrize("status", NON_BLOCKING)
    def test_non_blocking_statuses_do_not_block(
        self, storage: Storage, status: ReservationStatus
    ) -> None:
        """Cancelled, rejected, expired, released and completed reservations hold nothing."""
        resource = make_resource()
        ghost = make_reservation(resource.id, at(0), at(2), status=status)
        store(storage, resource, ghost)
        booked = make_reservation(resource.id, at(1), at(3))
        store(storage, booked)
        another_ghost = make_reservation(resource.id, at(1), at(2), status=status)
        store(storage, another_ghost)
        assert all(_exists(storage, r) for r in (ghost, booked, another_ghost))
        with storage.transaction(readonly=True) as tx:
            assert list(tx.reservations.blocking_overlaps([resource.id], span(0, 3))) == [booked]

    def test_cancelled_slot_can_be_booked_again(self, storage: Storage) -> None:
        """Cancelling frees the slot for the next booking in the same place."""
        resource = make_resource()
        first = make_reservation(resource.id, at(0), at(1))
        store(storage, resource, first)
        cancelled = attrs.evolve(first, status=ReservationStatus.CANCELLED, version=2)
        with storage.transaction() as tx:
            tx.reservations.update(cancelled, expected_version=1)
        again = make_reservation(resource.id, at(0), at(1))
        store(storage, again)
        assert _exists(storage, again)

    def test_reviving_into_an_overlap_is_refused(self, storage: Storage) -> None:
        """Turning a non-blocking reservation blocking runs the overlap check."""
        resource = make_resource()
        old = make_reservation(resource.id, at(0), at(2), status=ReservationStatus.CANCELLED)
        taken = make_reservation(resource.id, at(1), at(3))
        store(storage, resource, old, taken)
        revived = attrs.evolve(old, status=ReservationStatus.CONFIRMED, version=2)
        with pytest.raises(ConflictError) as info, storage.transaction() as tx:
            tx.reservations.update(revived, expected_version=1)
        assert Rule.OVERLAP in info.value.rules
        with storage.transaction(readonly=True) as tx:
            assert tx.reservations.get(old.id) == old

    def test_moving_into_an_overlap_is_refused(self, storage: Storage) -> None:
        """``update`` checks the new block against every other blocking reservation."""
        resource = make_resource()
        first = make_reservation(resource.id, at(0), at(1))
        second = make_reservation(resource.id, at(2), at(3))
        store(storage, resource, first, second)
        clash = attrs.evolve(second, span=span(0.5, 2.5), block=span(0.5, 2.5), version=2)
        with pytest.raises(ConflictError) as info, storage.transaction() as tx:
            tx.reservations.update(clash, expected_version=1)
        assert Rule.OVERLAP in info.value.rules
        assert resource.id in str(info.value)
        with storage.transaction(readonly=True) as tx:
            assert tx.reservations.get(second.id) == second

    def test_moving_over_its_own_old_slot_is_accepted(self, storage: Storage) -> None:
        """A reservation never conflicts with its own previous block."""
        resource = make_resource()
        first = make_reservation(resource.id, at(0), at(2))
        store(storage, resource, first)
        moved = attrs.evolve(first, span=span(1, 3), block=span(1, 3), version=2)
        with storage.transaction() as tx:
            tx.reservations.update(moved, expected_version=1)
        store(storage, make_reservation(resource.id, at(0), at(1)))
        with storage.transaction(readonly=True) as tx:
            assert tx.reservations.get(first.id) == moved
            assert len(tx.reservations.blocking_overlaps([resource.id], span(0, 3))) == 2

    def test_reservation_update_with_a_stale_version_is_refused(self, storage: Storage) -> None:
        """A stale ``expected_version`` is a ``ConflictError`` (``Rule.VERSION``)."""
        resource = make_resource()
        reservation = make_reservation(resource.id, at(0), at(1), version=3)
        store(storage, resource, reservation)
        edit = attrs.evolve(reservation, title="Lost update", version=3)
        with pytest.raises(ConflictError) as info, storage.transaction() as tx:
            tx.reservations.update(edit, expected_version=2)
        assert info.value.rules == {Rule.VERSION}
        with storage.transaction(readonly=True) as tx:
            assert tx.reservations.get(reservation.id) == reservation

    def test_an_overlapping_add_is_refused_by_the_end_of_the_unit(self, storage: Storage) -> None:
        """At ``add`` or when the unit ends; it names the rule and the resource, keeps nothing."""
        resource, other = make_resource(), make_resource()
        taken = make_reservation(resource.id, at(0), at(1))
        store(storage, resource, other, taken)
        before = make_reservation(other.id, at(-2), at(-1))
        clash = make_reservation(resource.id, at(0.5), at(1.5))
        after = make_reservation(other.id, at(2), at(3))
        with pytest.raises(ConflictError) as refused, storage.transaction() as tx:  # noqa: PT012
            tx.reservations.add(before)
            tx.reservations.add(clash)
            tx.reservations.add(after)
        assert refused.value.rules == {Rule.OVERLAP}
        assert refused.value.violations[0].resource_id == resource.id
        assert [_exists(storage, r) for r in (taken, before, clash, after)] == [
            True,
            False,
            False,
            False,
        ]

    def test_a_refused_update_keeps_the_adds_before_it(self, storage: Storage) -> None:
        """An update refused (and caught) after an ``add`` leaves that add in place."""
        resource = make_resource()
        taken = make_reservation(resource.id, at(0), at(1))
        moved = make_reservation(resource.id, at(2), at(3))
        store(storage, resource, taken, moved)
        added = make_reservation(resource.id, at(4), at(5))
        with storage.transaction() as tx:
            tx.reservations.add(added)
            clash = attrs.evolve(moved, span=span(0, 1), block=span(0, 1), version=2)
            with pytest.raises(ConflictError):
                tx.reservations.update(clash, expected_version=1)
        assert _exists(storage, added)
        with storage.transaction(readonly=True) as tx:
            assert tx.reservations.get(moved.id).span == moved.span

    def test_a_refused_add_is_refused_before_the_next_read_too(self, storage: Storage) -> None:
        """A read after an ``add`` sees the add, or its refusal: never a silent gap."""
        resource = make_resource()
        taken = make_reservation(resource.id, at(0), at(1))
        store(storage, resource, taken)
        clash = make_reservation(resource.id, at(0), at(1))
        with pytest.raises(ConflictError), storage.transaction() as tx:  # noqa: PT012
            tx.reservations.add(clash)
            tx.reservations.blocking_overlaps([resource.id], span(0, 1))
            pytest.fail("the read after a refused add went through")

    def test_a_conflict_rolls_back_the_whole_unit_of_work(self, storage: Storage) -> None:
        """An uncaught ``ConflictError`` undoes the unit's earlier writes too."""
        resource = make_resource()
        taken = make_reservation(resource.id, at(0), at(1))
        store(storage, resource, taken)
        first_of_series = make_reservation(resource.id, at(-2), at(-1))
        clash = make_reservation(resource.id, at(0.5), at(1.5))
        with pytest.raises(ConflictError):
            store(storage, first_of_series, clash)
        assert not _exists(storage, first_of_series)

    def test_a_failed_unit_of_work_leaves_nothing_behind(self, storage: Storage) -> None:
        """Every repository's writes roll back together when the unit of work raises."""
        resource = make_resource(name="Before")
        old = make_reservation(resource.id, at(0), at(1))
        pending = make_outbox_message()
        store(storage, resource, old, pending)
        group, new_resource = make_group(), make_resource()
        series = make_series(new_resource.id)
        new = make_reservation(new_resource.id, at(0), at(1), series_id=series.id)
        blackout = make_blackout(Scope.resource(new_resource.id))
        message, scope = make_outbox_message(), Scope.resource(new_resource.id)

        def unit() -> None:
            with storage.transaction() as tx:
                tx.groups.add(group)
                tx.resources.add(new_resource)
                tx.resources.update(
                    attrs.evolve(resource, name="After", version=2), expected_version=1
                )
                tx.series.add(series)
                tx.reservations.add(new)
                tx.reservations.update(
                    attrs.evolve(old, status=ReservationStatus.CANCELLED, version=2),
                    expected_version=1,
                )
                tx.history.append(make_history_entry(new.id))
                tx.hours.put(scope, WeeklyHours.weekdays(time(9), time(17)))
                tx.blackouts.add(blackout)
                tx.outbox.add(message)
                tx.outbox.save(attrs.evolve(pending, attempts=1, delivered_at=at(-1)))
                raise Boom

        with pytest.raises(Boom):
            unit()
        with storage.transaction() as tx:
            assert tx.resources.get(resource.id) == resource
            assert tx.reservations.get(old.id) == old
            assert tx.outbox.get(pending.id) == pending
            assert list(tx.outbox.due(at(0), 10)) == [pending]
            assert tx.hours.get(scope) is None
            assert list(tx.history.for_reservation(new.id)) == []
            assert group.id not in {g.id for g in tx.groups.all()}
            assert list(tx.reservations.blocking_overlaps([resource.id], span(0, 1))) == [old]
            missing = (
                lambda: tx.groups.get(group.id),
                lambda: tx.resources.get(new_resource.id),
                lambda: tx.series.get(series.id),
                lambda: tx.reservations.get(new.id),
                lambda: tx.blackouts.get(blackout.id),
                lambda: tx.outbox.get(message.id),
            )
            for lookup in missing:
                with pytest.raises(NotFoundError):
                    lookup()

    def test_blocking_overlaps_is_ordered_and_honours_exclude(self, storage: Storage) -> None:
        """Blocking rows of the given resources whose block overlaps, by block start."""
        room, desk, other = make_resource(), make_resource(), make_resource()
        a = make_reservation(room.id, at(1), at(2), buffer_before=HALF_HOUR)
        b = make_reservation(desk.id, at(0), at(3))
        c = make_reservation(room.id, at(3), at(4))
        d = make_reservation(room.id, at(5), at(6), buffer_before=timedelta(hours=1))
        store(storage, room, desk, other, a, b, c, d)
        store(storage, make_reservation(room.id, at(2), at(3), status=ReservationStatus.EXPIRED))
        store(storage, make_reservation(other.id, at(0), at(9)))
        with storage.transaction(readonly=True) as tx:
            found = tx.reservations.blocking_overlaps([room.id, desk.id], span(0.75, 4.5))
            assert list(found) == [b, a, c, d]
            found = tx.reservations.blocking_overlaps(
                [room.id, desk.id], span(0.75, 4.5), exclude=[b.id, d.id]
            )
            assert list(found) == [a, c]
            assert list(tx.reservations.blocking_overlaps([room.id], span(2, 3))) == []
            assert list(tx.reservations.blocking_overlaps([], span(0, 9))) == []

    def test_busy_blocks_are_the_blocks_overlapping_each_resources_window(
        self, storage: Storage
    ) -> None:
        """``busy_blocks`` pairs each blocking row overlapping its resource's window with it."""
        room, desk = make_resource(), make_resource()
        a = make_reservation(room.id, at(1), at(2), buffer_before=HALF_HOUR, buffer_after=HALF_HOUR)
        b = make_reservation(desk.id, at(0), at(3))
        c = make_reservation(room.id, at(3), at(4))
        store(storage, room, desk, a, b, c)
        store(storage, make_reservation(room.id, at(5), at(6), status=ReservationStatus.CANCELLED))
        with storage.transaction(readonly=True) as tx:
            busy = tx.reservations.busy_blocks
            both = {room.id: span(2.25, 9), desk.id: span(2.25, 9)}
            assert list(busy(both)) == [(desk.id, b.block), (room.id, a.block), (room.id, c.block)]
            assert list(busy({room.id: span(2.5, 3)})) == []
            assert list(busy({room.id: span(2, 3.5)})) == [(room.id, a.block), (room.id, c.block)]
            # Each resource its own window, read together.
            apart = {room.id: span(3.5, 9), desk.id: span(0, 0.5)}
            assert list(busy(apart)) == [(desk.id, b.block), (room.id, c.block)]
            assert list(busy({})) == []

    def test_busy_blocks_keep_to_each_window_however_many_windows(self, storage: Storage) -> None:
        """Many distinct windows in one read: no block outside its own resource's window."""
        rooms = [make_resource() for _ in range(6)]
        booked = [make_reservation(r.id, at(i), at(i + 1)) for i, r in enumerate(rooms)]
        store(storage, *rooms, *booked)
        windows = {r.id: span(i, i + 0.5) for i, r in enumerate(rooms)}
        windows[rooms[0].id] = span(3, 9)  # misses its own booking, covers the others' times
        with storage.transaction(readonly=True) as tx:
            found = tx.reservations.busy_blocks(windows)
        assert list(found) == [(r.id, b.block) for r, b in zip(rooms, booked, strict=True)][1:]

    def test_held_by_lists_the_holders_blocking_reservations(self, storage: Storage) -> None:
        """``held_by`` is the holder's blocking reservations whose span overlaps (quotas)."""
        room, desk = make_resource(), make_resource()
        mine = [
            make_reservation(room.id, at(0), at(1), holder="ann"),
            make_reservation(desk.id, at(0.5), at(2), holder="ann", buffer_after=HALF_HOUR),
            make_reservation(room.id, at(3), at(4), holder="ann", status=ReservationStatus.OFFERED),
        ]
        others = [
            make_reservation(room.id, at(1), at(2), holder="bob"),
            make_reservation(
                room.id, at(2), at(3), holder="ann", status=ReservationStatus.CANCELLED
            ),
            make_reservation(desk.id, at(5), at(6), holder="ann"),
        ]
        store(storage, room, desk, *mine, *others)
        with storage.transaction(readonly=True) as tx:
            held = tx.reservations.held_by(UserId("ann"), span(0, 4.5))
            assert {r.id for r in held} == {r.id for r in mine}
            assert list(tx.reservations.held_by(UserId("ann"), span(2, 2.25))) == []
            assert list(tx.reservations.held_by(UserId("nobody"), span(0, 9))) == []

    def test_committed_work_is_visible_to_the_next_unit(self, storage: Storage) -> None:
        """What one unit of work commits, the next one reads (blackout days included)."""
        resource = make_resource()
        blackout = make_blackout(Scope.everywhere(), days=(date(2030, 1, 1), date(2030, 1, 2)))
        store(storage, resource, blackout)
        with storage.transaction(readonly=True) as tx:
            assert tx.resources.get(resource.id) == resource
            assert tx.blackouts.get(blackout.id) == blackout
