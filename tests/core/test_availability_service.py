from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from reserver.core import (
    Attributes,
    BookingPolicy,
    ConflictError,
    GroupDraft,
    Principal,
    ReservationRequest,
    Reserver,
    ResourceDraft,
    ResourceQuery,
    Scope,
    TimeSpan,
    ValidationError,
    WeeklyHours,
)
from reserver.core.adapters.clock import FixedClock
from reserver.core.ids import GroupId, ResourceId
from reserver.core.services.availability import BusyBlocks

DAY = date(2026, 6, 2)


@pytest.fixture
def office(reserver: Reserver, admin: Principal):
    room = reserver.resources.create(admin, ResourceDraft(name="Office", timezone="Europe/Berlin"))
    reserver.schedules.set_hours(admin, Scope.everywhere(), WeeklyHours.weekdays(time(9), time(12)))
    return room


def test_free_slots_of_a_day_follow_local_hours_and_bookings(
    reserver: Reserver, ann: Principal, office
) -> None:
    nine = datetime(2026, 6, 2, 7, 0, tzinfo=UTC)  # 09:00 in Berlin
    reserver.reservations.reserve(
        ann, ReservationRequest(office.id, nine + timedelta(hours=1), nine + timedelta(hours=2))
    )
    slots = reserver.availability.free_slots(ann, office.id, timedelta(hours=1), day=DAY)
    starts = [s.start for s in slots]
    assert starts == [nine, nine + timedelta(hours=2)]


def test_next_available_skips_taken_and_closed_time(
    reserver: Reserver, ann: Principal, bob: Principal, office, clock: FixedClock
) -> None:
    nine = datetime(2026, 6, 2, 7, 0, tzinfo=UTC)
    reserver.reservations.reserve(
        ann, ReservationRequest(office.id, nine, nine + timedelta(hours=3))
    )
    clock.set(datetime(2026, 6, 2, 6, 0, tzinfo=UTC))
    found = reserver.availability.next_available(bob, office.id, timedelta(hours=1))
    assert found == TimeSpan(nine + timedelta(days=1), nine + timedelta(days=1, hours=1))


def test_find_ranks_free_resources_by_earliest_start(
    reserver: Reserver, admin: Principal, ann: Principal
) -> None:
    big = reserver.resources.create(
        admin,
        ResourceDraft(
            name="Big",
            timezone="UTC",
            tags=frozenset({"video"}),
            attributes=Attributes(capacity=12),
        ),
    )
    small = reserver.resources.create(
        admin,
        ResourceDraft(
            name="Small",
            timezone="UTC",
            tags=frozenset({"video"}),
            attributes=Attributes(capacity=4),
        ),
    )
    reserver.resources.create(admin, ResourceDraft(name="Plain", timezone="UTC"))
    start = datetime(2026, 6, 2, 9, 0, tzinfo=UTC)
    reserver.reservations.reserve(
        ann, ReservationRequest(big.id, start, start + timedelta(hours=2))
    )
    span = TimeSpan(start, start + timedelta(hours=1))
    free = reserver.availability.find(ann, ResourceQuery(tags_all=frozenset({"video"})), span=span)
    assert [f.resource.id for f in free] == [small.id]
    window = TimeSpan(start, start + timedelta(hours=8))
    ranked = reserver.availability.find(
        ann,
        ResourceQuery(tags_all=frozenset({"video"})),
        duration=timedelta(hours=1),
        window=window,
    )
    assert [(f.resource.id, f.slot.start) for f in ranked] == [
        (small.id, start),
        (big.id, start + timedelta(hours=2)),
    ]
    roomy = reserver.availability.find(ann, ResourceQuery(min_capacity=10), span=span)
    assert roomy == []


def test_slots_respect_buffers_and_notice(
    reserver: Reserver, admin: Principal, ann: Principal, clock: FixedClock
) -> None:
    policy = BookingPolicy(buffer_after=timedelta(minutes=30), min_notice=timedelta(hours=2))
    desk = reserver.resources.create(
        admin, ResourceDraft(name="Desk", timezone="UTC", policy=policy)
    )
    start = clock.now() + timedelta(hours=3)
    reserver.reservations.reserve(
        ann, ReservationRequest(desk.id, start, start + timedelta(hours=1))
    )
    window = TimeSpan(clock.now(), clock.now() + timedelta(hours=6))
    slots = reserver.availability.free_slots(ann, desk.id, timedelta(hours=1), window=window)
    # 10:00 is the earliest notice allows, but its own 30-minute buffer would touch 11:00:
    # nothing fits before the existing block (11:00-12:30) ends.
    assert [s.start for s in slots][:2] == [
        start + timedelta(minutes=90),
        start + timedelta(minutes=105),
    ]
    assert all(s.start >= clock.now() + timedelta(hours=2) for s in slots)


def test_find_needs_a_span_or_a_duration(reserver: Reserver, ann: Principal) -> None:
    with pytest.raises(ValidationError):
        reserver.availability.find(ann)


@pytest.mark.parametrize("limit", [0, -1, 501, True, 2.5])
def test_find_refuses_a_limit_outside_a_page(
    reserver: Reserver, ann: Principal, limit: object
) -> None:
    nine = datetime(2026, 6, 2, 7, 0, tzinfo=UTC)
    with pytest.raises(ValidationError) as refused:
        reserver.availability.find(
            ann,
            span=TimeSpan(nine, nine + timedelta(hours=1)),
            limit=limit,  # type: ignore[arg-type]
        )
    assert set(refused.value.fields) == {"limit"}


def test_busy_shows_spans_without_holders(
    reserver: Reserver, ann: Principal, bob: Principal, office
) -> None:
    nine = datetime(2026, 6, 2, 7, 0, tzinfo=UTC)
    reserver.reservations.reserve(
        ann, ReservationRequest(office.id, nine, nine + timedelta(hours=1))
    )
    busy = reserver.availability.busy(
        bob, office.id, TimeSpan(nine - timedelta(hours=1), nine + timedelta(hours=5))
    )
    assert busy == [TimeSpan(nine, nine + timedelta(hours=1))]


def test_find_for_a_span_reads_past_busy_resources_in_name_order_and_stops_at_the_limit(
    reserver: Reserver, admin: Principal, ann: Principal
) -> None:
    """The span search reads the bookings a batch at a time; the busy first batches are skipped."""
    start = datetime(2026, 6, 2, 9, 0, tzinfo=UTC)
    span = TimeSpan(start, start + timedelta(hours=1))
    made = [
        reserver.resources.create(
            admin, ResourceDraft(name=f"Desk {i:02d}", timezone="UTC", tags=frozenset({"desk"}))
        )
        for i in range(40)
    ]
    for desk in made[:25]:  # more than two batches of limit + slack are taken
        reserver.reservations.reserve(ann, ReservationRequest(desk.id, start, span.end))
    desks = ResourceQuery(tags_all=frozenset({"desk"}))
    found = reserver.availability.find(ann, desks, span=span, limit=4)
    assert [f.resource.name for f in found] == ["Desk 25", "Desk 26", "Desk 27", "Desk 28"]
    everything = reserver.availability.find(ann, desks, span=span, limit=50)
    assert [f.resource.id for f in everything] == [d.id for d in made[25:]]


def test_free_slots_keep_a_new_bookings_buffer_clear_of_a_booking_before_the_window(
    reserver: Reserver, admin: Principal, ann: Principal, clock: FixedClock
) -> None:
    """The blocks read reach back by the new span's buffer before, not by its buffer after."""
    policy = BookingPolicy(buffer_before=timedelta(hours=1))
    lab = reserver.resources.create(admin, ResourceDraft(name="Lab", timezone="UTC", policy=policy))
    start = clock.now() + timedelta(hours=3)
    reserver.reservations.reserve(
        ann, ReservationRequest(lab.id, start, start + timedelta(hours=1))
    )
    window = TimeSpan(start + timedelta(minutes=90), start + timedelta(hours=6))
    slots = reserver.availability.free_slots(ann, lab.id, timedelta(hours=1), window=window)
    # 10:30 and 10:45 would put their hour of buffer over the booking that ends at 10:00.
    assert slots[0].start == start + timedelta(hours=2)


def test_busy_blocks_read_two_windows_wanted_for_one_resource_as_their_hull(
    reserver: Reserver, ann: Principal, room, clock: FixedClock
) -> None:
    """A second window for a resource widens the read; it never narrows the first one."""
    start = clock.now() + timedelta(hours=3)
    early = reserver.reservations.reserve(
        ann, ReservationRequest(room.id, start, start + timedelta(hours=1))
    )
    late = reserver.reservations.reserve(
        ann, ReservationRequest(room.id, start + timedelta(hours=5), start + timedelta(hours=6))
    )
    policy = BookingPolicy()
    with reserver.storage.transaction(readonly=True) as tx:
        busy = BusyBlocks(tx)
        busy.want(room.id, TimeSpan(start, start + timedelta(hours=1)), policy)
        busy.want(room.id, TimeSpan(start + timedelta(hours=5), start + timedelta(hours=6)), policy)
        assert busy.of(room.id) == [early.block, late.block]


def test_find_and_alternatives_skip_what_a_blackout_closes(
    reserver: Reserver, admin: Principal, ann: Principal, bob: Principal, clock: FixedClock
) -> None:
    """Blackouts of a resource, of its group and of everything close it to every search."""
    site = reserver.groups.create(admin, GroupDraft(name="Site"))

    def room(name: str, group: GroupId | None) -> ResourceId:
        draft = ResourceDraft(
            name=name, kind="room", timezone="UTC", tags=frozenset({"t"}), group_id=group
        )
        return reserver.resources.create(admin, draft).id

    a, b, c = room("A", site.id), room("B", site.id), room("C", site.id)
    outside = room("Outside", None)
    hour = TimeSpan(clock.now() + timedelta(hours=3), clock.now() + timedelta(hours=4))
    tagged = ResourceQuery(tags_all=frozenset({"t"}))

    def free_for_the_hour() -> list[ResourceId]:
        return [f.resource.id for f in reserver.availability.find(ann, tagged, span=hour)]

    reserver.schedules.add_blackout(admin, Scope.resource(a), span=hour)
    assert free_for_the_hour() == [b, c, outside]
    ranked = reserver.availability.find(
        ann,
        tagged,
        duration=timedelta(hours=1),
        window=TimeSpan(hour.start, hour.end + hour.duration),
    )
    assert [(f.resource.id, f.slot.start) for f in ranked] == [
        (b, hour.start),
        (c, hour.start),
        (outside, hour.start),
        (a, hour.end),
    ]
    reserver.reservations.reserve(ann, ReservationRequest(b, hour.start, hour.end))
    with pytest.raises(ConflictError) as refused:
        reserver.reservations.reserve(bob, ReservationRequest(b, hour.start, hour.end))
    offered = {(alt.resource_id, alt.start) for alt in refused.value.alternatives}
    assert (c, hour.start.isoformat()) in offered
    assert all(alt.resource_id != a for alt in refused.value.alternatives)

    reserver.schedules.add_blackout(admin, Scope.group(site.id), span=hour)
    assert free_for_the_hour() == [outside]
    reserver.schedules.add_blackout(admin, Scope.everywhere(), span=hour)
    assert free_for_the_hour() == []
