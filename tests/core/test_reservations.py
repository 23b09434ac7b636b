from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from reserver.core import (
    BookingPolicy,
    ConflictError,
    MultiReservationRequest,
    NotFoundError,
    PermissionDeniedError,
    Principal,
    Quota,
    ReservationEdit,
    ReservationRequest,
    ReservationStatus,
    Reserver,
    ResourceDraft,
    ResourcePatch,
    ResourceStatus,
    Rule,
    Scope,
    ValidationError,
    WeeklyHours,
)
from reserver.core.adapters.clock import FixedClock
from reserver.core.adapters.memory import InMemoryStorage
from reserver.core.adapters.memory._reservations import MemoryReservationRepository
from reserver.core.adapters.memory.storage import MemoryTransaction
from reserver.core.models import Resource
from reserver.core.rules import Refusal

T0 = datetime(2026, 6, 2, 9, 0, tzinfo=UTC)  # a Tuesday, 11:00 in Berlin
HOUR = timedelta(hours=1)


def book(r: Reserver, who: Principal, resource: Resource, start: datetime, hours: float = 1):
    request = ReservationRequest(resource.id, start, start + timedelta(hours=hours))
    return r.reservations.reserve(who, request)


def test_booking_a_free_slot_confirms_it(
    reserver: Reserver, ann: Principal, room: Resource
) -> None:
    made = book(reserver, ann, room, T0)
    assert made.status is ReservationStatus.CONFIRMED
    assert (made.holder, made.booked_by) == (ann.id, ann.id)
    assert reserver.reservations.get(ann, made.id) == made


def test_second_booking_of_overlapping_slot_is_refused_with_alternatives(
    reserver: Reserver, ann: Principal, bob: Principal, room: Resource
) -> None:
    book(reserver, ann, room, T0)
    with pytest.raises(ConflictError) as refused:
        book(reserver, bob, room, T0 + timedelta(minutes=30))
    assert refused.value.rules == {Rule.OVERLAP}
    assert refused.value.alternatives, "a refusal offers the next free slots"
    first = refused.value.alternatives[0]
    assert datetime.fromisoformat(first.start) >= T0 + HOUR


def test_alternatives_look_past_the_first_days_when_those_are_full(
    reserver: Reserver, ann: Principal, bob: Principal, room: Resource
) -> None:
    # The room is taken for four days from T0: its next free slots come after that.
    book(reserver, ann, room, T0, hours=96)
    with pytest.raises(ConflictError) as refused:
        book(reserver, bob, room, T0 + 30 * HOUR)
    step = timedelta(minutes=15)  # the default slot step
    starts = [
        datetime.fromisoformat(a.start)
        for a in refused.value.alternatives
        if a.resource_id == room.id
    ]
    assert starts == [T0 + 96 * HOUR + k * step for k in range(3)]


def test_touching_bookings_do_not_overlap(
    reserver: Reserver, ann: Principal, bob: Principal, room: Resource
) -> None:
    book(reserver, ann, room, T0)
    assert book(reserver, bob, room, T0 + HOUR).span.start == T0 + HOUR


def test_refusal_names_every_broken_rule(
    reserver: Reserver, admin: Principal, ann: Principal
) -> None:
    policy = BookingPolicy(max_duration=HOUR, min_notice=timedelta(days=2))
    lab = reserver.resources.create(admin, ResourceDraft(name="Lab", timezone="UTC", policy=policy))
    reserver.schedules.set_hours(
        admin, Scope.resource(lab.id), WeeklyHours.weekdays(time(9), time(17))
    )
    with pytest.raises(ConflictError) as refused:
        book(reserver, ann, lab, T0 + timedelta(hours=7), hours=3)  # 16:00-19:00 UTC, tomorrow
    assert refused.value.rules == {Rule.MIN_NOTICE, Rule.MAX_DURATION, Rule.BUSINESS_HOURS}


def test_business_hours_are_local_time(
    reserver: Reserver, admin: Principal, ann: Principal, room: Resource
) -> None:
    reserver.schedules.set_hours(
        admin, Scope.resource(room.id), WeeklyHours.weekdays(time(9), time(17))
    )
    berlin_nine = datetime(2026, 6, 2, 7, 0, tzinfo=UTC)  # 09:00 CEST
    assert book(reserver, ann, room, berlin_nine).span.start == berlin_nine
    with pytest.raises(ConflictError) as refused:
        book(reserver, ann, room, berlin_nine - HOUR)
    assert refused.value.rules == {Rule.BUSINESS_HOURS}


def test_blackout_refuses_bookings(
    reserver: Reserver, admin: Principal, ann: Principal, room: Resource
) -> None:
    reserver.schedules.add_blackout(
        admin, Scope.everywhere(), reason="holiday", first_day=T0.date(), last_day=T0.date()
    )
    with pytest.raises(ConflictError) as refused:
        book(reserver, ann, room, T0)
    assert refused.value.rules == {Rule.BLACKOUT}
    assert "holiday" in refused.value.violations[0].message


def test_maintenance_blocks_until_it_ends(
    reserver: Reserver, admin: Principal, ann: Principal, room: Resource
) -> None:
    until = T0 + timedelta(hours=2)
    patch = ResourcePatch(status=ResourceStatus.MAINTENANCE, maintenance_until=until)
    reserver.resources.update(admin, room.id, patch, expected_version=room.version)
    with pytest.raises(ConflictError) as refused:
        book(reserver, ann, room, T0)
    assert refused.value.rules == {Rule.MAINTENANCE}
    assert book(reserver, ann, room, until).span.start == until


def test_disabled_and_retired_resources_take_no_bookings(
    reserver: Reserver, admin: Principal, ann: Principal, room: Resource
) -> None:
    disabled = reserver.resources.update(
        admin, room.id, ResourcePatch(status=ResourceStatus.DISABLED), expected_version=1
    )
    with pytest.raises(ConflictError) as refused:
        book(reserver, ann, disabled, T0)
    assert refused.value.rules == {Rule.RESOURCE_DISABLED}
    reserver.resources.retire(admin, room.id)
    with pytest.raises(ConflictError) as refused:
        book(reserver, ann, room, T0)
    assert refused.value.rules == {Rule.RESOURCE_RETIRED}


def test_buffers_keep_bookings_apart(
    reserver: Reserver, admin: Principal, ann: Principal, bob: Principal
) -> None:
    policy = BookingPolicy(buffer_after=timedelta(minutes=15))
    desk = reserver.resources.create(
        admin, ResourceDraft(name="Desk", timezone="UTC", policy=policy)
    )
    book(reserver, ann, desk, T0)
    with pytest.raises(ConflictError):
        book(reserver, bob, desk, T0 + HOUR)
    assert book(reserver, bob, desk, T0 + timedelta(minutes=75)).block.end == T0 + timedelta(
        minutes=150
    )


def test_past_start_is_refused(
    reserver: Reserver, ann: Principal, room: Resource, clock: FixedClock
) -> None:
    with pytest.raises(ConflictError) as refused:
        book(reserver, ann, room, clock.now() - HOUR)
    assert refused.value.rules == {Rule.IN_PAST}


def test_granularity_is_counted_from_local_midnight(
    reserver: Reserver, admin: Principal, ann: Principal
) -> None:
    policy = BookingPolicy(granularity=timedelta(minutes=30))
    room = reserver.resources.create(
        admin, ResourceDraft(name="K", timezone="Asia/Kolkata", policy=policy)
    )
    ok = datetime(2026, 6, 2, 4, 30, tzinfo=UTC)  # 10:00 IST
    assert book(reserver, ann, room, ok).span.start == ok
    with pytest.raises(ConflictError) as refused:
        book(reserver, ann, room, ok + timedelta(hours=2, minutes=15))
    assert refused.value.rules == {Rule.GRANULARITY}


def test_quota_of_active_reservations(
    reserver: Reserver, admin: Principal, ann: Principal, bob: Principal
) -> None:
    policy = BookingPolicy(quota=Quota(max_active=2))
    desk = reserver.resources.create(
        admin, ResourceDraft(name="Desk", timezone="UTC", policy=policy)
    )
    book(reserver, ann, desk, T0)
    book(reserver, ann, desk, T0 + 2 * HOUR)
    with pytest.raises(ConflictError) as refused:
        book(reserver, ann, desk, T0 + 4 * HOUR)
    assert refused.value.rules == {Rule.QUOTA_ACTIVE}
    assert book(reserver, bob, desk, T0 + 4 * HOUR).holder == bob.id


def test_daily_and_weekly_hour_quotas(reserver: Reserver, admin: Principal, ann: Principal) -> None:
    policy = BookingPolicy(quota=Quota(max_hours_per_day=3, max_hours_per_week=5))
    desk = reserver.resources.create(
        admin, ResourceDraft(name="Desk", timezone="UTC", policy=policy)
    )
    book(reserver, ann, desk, T0, hours=2)
    with pytest.raises(ConflictError) as refused:
        book(reserver, ann, desk, T0 + 3 * HOUR, hours=2)
    assert refused.value.rules == {Rule.QUOTA_DAILY_HOURS}
    book(reserver, ann, desk, T0 + timedelta(days=1), hours=3)
    with pytest.raises(ConflictError) as refused:
        book(reserver, ann, desk, T0 + timedelta(days=2), hours=1)
    assert refused.value.rules == {Rule.QUOTA_WEEKLY_HOURS}


def test_group_quota_counts_across_the_subtree(
    reserver: Reserver, admin: Principal, ann: Principal
) -> None:
    from reserver.core import GroupDraft

    site = reserver.groups.create(
        admin, GroupDraft(name="HQ", kind="site", policy=BookingPolicy(quota=Quota(max_active=1)))
    )
    floor = reserver.groups.create(admin, GroupDraft(name="1st", kind="floor", parent_id=site.id))
    a = reserver.resources.create(admin, ResourceDraft(name="A", timezone="UTC", group_id=floor.id))
    b = reserver.resources.create(admin, ResourceDraft(name="B", timezone="UTC", group_id=site.id))
    book(reserver, ann, a, T0)
    with pytest.raises(ConflictError) as refused:
        book(reserver, ann, b, T0 + 3 * HOUR)
    assert refused.value.rules == {Rule.QUOTA_ACTIVE}


def test_approval_policy_makes_pending_reservations_that_block(
    reserver: Reserver, admin: Principal, ann: Principal, bob: Principal
) -> None:
    lab = reserver.resources.create(
        admin,
        ResourceDraft(name="Lab", timezone="UTC", policy=BookingPolicy(requires_approval=True)),
    )
    pending = book(reserver, ann, lab, T0)
    assert pending.status is ReservationStatus.PENDING_APPROVAL
    with pytest.raises(ConflictError):
        book(reserver, bob, lab, T0)


def test_multi_resource_booking_is_all_or_nothing(
    reserver: Reserver, admin: Principal, ann: Principal, bob: Principal, room: Resource
) -> None:
    projector = reserver.resources.create(
        admin, ResourceDraft(name="Projector", kind="equipment", timezone="UTC")
    )
    book(reserver, bob, projector, T0)
    request = MultiReservationRequest((room.id, projector.id), T0, T0 + HOUR)
    with pytest.raises(ConflictError) as refused:
        reserver.reservations.reserve_many(ann, request)
    assert {v.resource_id for v in refused.value.violations} == {projector.id}
    assert reserver.reservations.mine(ann).items == ()
    later = MultiReservationRequest((room.id, projector.id), T0 + HOUR, T0 + 2 * HOUR)
    booking = reserver.reservations.reserve_many(ann, later)
    assert {r.resource_id for r in booking.reservations} == {room.id, projector.id}
    assert {r.booking_id for r in booking.reservations} == {booking.id}


def test_guests_only_look(reserver: Reserver, room: Resource) -> None:
    guest = Principal.guest()
    with pytest.raises(PermissionDeniedError):
        book(reserver, guest, room, T0)
    assert reserver.resources.get(guest, room.id) == room


def test_booking_on_behalf_needs_admin(
    reserver: Reserver, admin: Principal, ann: Principal, room: Resource
) -> None:
    request = ReservationRequest(room.id, T0, T0 + HOUR, holder=ann.id)
    with pytest.raises(PermissionDeniedError):
        reserver.reservations.reserve(Principal.user("bob"), request)
    made = reserver.reservations.reserve(admin, request)
    assert (made.holder, made.booked_by) == (ann.id, admin.id)
    assert reserver.reservations.get(ann, made.id) == made


def test_others_cannot_see_or_cancel_a_reservation(
    reserver: Reserver, ann: Principal, bob: Principal, room: Resource
) -> None:
    made = book(reserver, ann, room, T0)
    with pytest.raises(NotFoundError):
        reserver.reservations.get(bob, made.id)
    with pytest.raises(NotFoundError):
        reserver.reservations.cancel(bob, made.id)
    with pytest.raises(NotFoundError):
        reserver.reservations.history(bob, made.id)
    assert reserver.reservations.list(bob).items == ()


def test_cancel_frees_the_slot_and_keeps_history(
    reserver: Reserver, ann: Principal, bob: Principal, room: Resource
) -> None:
    made = book(reserver, ann, room, T0)
    cancelled = reserver.reservations.cancel(ann, made.id, "meeting moved")
    assert cancelled.status is ReservationStatus.CANCELLED
    assert cancelled.cancel_reason == "meeting moved"
    assert book(reserver, bob, room, T0).holder == bob.id
    actions = [h.action.value for h in reserver.reservations.history(ann, made.id)]
    assert actions == ["created", "cancelled"]
    with pytest.raises(ConflictError):
        reserver.reservations.cancel(ann, made.id)


def test_users_cannot_cancel_after_the_start_but_admins_can_until_the_end(
    reserver: Reserver, admin: Principal, ann: Principal, room: Resource, clock: FixedClock
) -> None:
    made = book(reserver, ann, room, T0)
    clock.set(T0 + timedelta(minutes=10))
    with pytest.raises(ConflictError):
        reserver.reservations.cancel(ann, made.id)
    assert reserver.reservations.cancel(admin, made.id).status is ReservationStatus.CANCELLED


def test_edit_moves_with_version_check_and_history(
    reserver: Reserver, ann: Principal, bob: Principal, room: Resource
) -> None:
    made = book(reserver, ann, room, T0)
    book(reserver, bob, room, T0 + 2 * HOUR)
    moved = reserver.reservations.edit(
        ann,
        made.id,
        ReservationEdit(start=T0 + HOUR, end=T0 + 2 * HOUR, title="standup"),
        expected_version=1,
    )
    assert (moved.span.start, moved.version, moved.title) == (T0 + HOUR, 2, "standup")
    with pytest.raises(ConflictError) as stale:
        reserver.reservations.edit(ann, made.id, ReservationEdit(title="x"), expected_version=1)
    assert stale.value.rules == {Rule.VERSION}
    with pytest.raises(ConflictError) as taken:
        reserver.reservations.edit(
            ann,
            made.id,
            ReservationEdit(end=T0 + timedelta(hours=2, minutes=30)),
            expected_version=2,
        )
    assert taken.value.rules == {Rule.OVERLAP}
    history = reserver.reservations.history(ann, made.id)
    assert [h.action.value for h in history] == ["created", "moved"]
    assert {c.field for c in history[1].changes} == {"start", "end", "title"}


def test_retiring_cancels_future_bookings_and_keeps_history(
    reserver: Reserver, admin: Principal, ann: Principal, room: Resource
) -> None:
    made = book(reserver, ann, room, T0)
    retired = reserver.resources.retire(admin, room.id)
    assert retired.is_retired
    assert reserver.reservations.get(ann, made.id).status is ReservationStatus.CANCELLED
    assert reserver.resources.get(ann, room.id).retired_at is not None


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        (datetime(2026, 6, 2, 9), datetime(2026, 6, 2, 10, tzinfo=UTC), "start"),  # noqa: DTZ001
        (T0, T0, "end"),
        (T0, T0 - HOUR, "end"),
    ],
)
def test_bad_times_are_validation_errors_and_change_nothing(
    reserver: Reserver, ann: Principal, room: Resource, start: datetime, end: datetime, field: str
) -> None:
    with pytest.raises(ValidationError) as bad:
        reserver.reservations.reserve(ann, ReservationRequest(room.id, start, end))
    assert field in bad.value.fields
    assert reserver.reservations.list(Principal.admin()).items == ()


def test_unknown_resource_is_not_found(reserver: Reserver, ann: Principal) -> None:
    from reserver.core.ids import ResourceId

    with pytest.raises(NotFoundError):
        reserver.reservations.reserve(ann, ReservationRequest(ResourceId("nope"), T0, T0 + HOUR))


def test_events_are_written_with_the_change(
    reserver: Reserver, ann: Principal, room: Resource
) -> None:
    seen = []
    reserver.outbox.subscribe(seen.append)
    made = book(reserver, ann, room, T0)
    report = reserver.outbox.dispatch()
    assert report.delivered == 2  # resource.created, reservation.created
    assert [e.topic for e in seen] == ["resource.created", "reservation.created"]
    assert seen[1].reservation == made
    assert reserver.outbox.dispatch().delivered == 0


class CountingStorage(InMemoryStorage):
    """The memory storage, counting the units of work it opens."""

    def __init__(self) -> None:
        super().__init__()
        self.units = 0

    def transaction(self, *, readonly: bool = False) -> MemoryTransaction:
        self.units += 1
        return super().transaction(readonly=readonly)


@pytest.fixture
def counted(clock: FixedClock, admin: Principal) -> tuple[Reserver, CountingStorage, Resource]:
    storage = CountingStorage()
    system = Reserver(storage=storage, clock=clock)
    room = system.resources.create(admin, ResourceDraft(name="Room", timezone="UTC"))
    return system, storage, room


def test_a_refusal_by_a_rule_finds_its_alternatives_in_the_refused_unit_of_work(
    counted: tuple[Reserver, CountingStorage, Resource], ann: Principal, bob: Principal
) -> None:
    system, storage, room = counted
    book(system, ann, room, T0)
    storage.units = 0
    with pytest.raises(Refusal) as refused:
        book(system, bob, room, T0)
    assert storage.units == 1
    assert [a.start for a in refused.value.alternatives][:1] == [(T0 + HOUR).isoformat()]


def test_a_race_lost_at_the_storage_still_offers_alternatives_from_a_fresh_unit(
    counted: tuple[Reserver, CountingStorage, Resource],
    ann: Principal,
    bob: Principal,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The pipeline saw no conflict (a rival committed in between); the storage's wall refused."""
    system, storage, room = counted
    book(system, ann, room, T0)
    unseen = MemoryReservationRepository.blocking_overlaps
    monkeypatch.setattr(
        MemoryReservationRepository,
        "blocking_overlaps",
        lambda self, ids, span, exclude=(): [] if storage.units == 1 else unseen(self, ids, span),
    )
    storage.units = 0
    with pytest.raises(ConflictError) as refused:
        book(system, bob, room, T0)
    assert not isinstance(refused.value, Refusal)
    assert refused.value.rules == {Rule.OVERLAP}
    assert storage.units == 2
    assert [a.start for a in refused.value.alternatives][:1] == [(T0 + HOUR).isoformat()]
    assert [r.holder for r in system.reservations.mine(ann).items] == [ann.id]
