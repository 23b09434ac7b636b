from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from reserver.core import (
    ConflictError,
    Frequency,
    OccurrenceScope,
    Principal,
    RecurrenceRule,
    ReservationRequest,
    ReservationStatus,
    Reserver,
    ResourceDraft,
    Rule,
    SeriesEdit,
    SeriesRequest,
    ValidationError,
)

NY = ZoneInfo("America/New_York")
FIRST = datetime(2027, 3, 1, 9, 0, tzinfo=NY)  # a Monday; DST starts 2027-03-14


@pytest.fixture
def room(reserver: Reserver, admin: Principal):
    return reserver.resources.create(
        admin, ResourceDraft(name="Board room", timezone="America/New_York")
    )


def weekly(count: int = 4, **kw: object) -> RecurrenceRule:
    return RecurrenceRule(Frequency.WEEKLY, count=count, **kw)  # type: ignore[arg-type]


def test_weekly_series_stays_at_nine_local_across_dst(
    reserver: Reserver, ann: Principal, room
) -> None:
    booked = reserver.series.reserve(
        ann, SeriesRequest(room.id, FIRST, FIRST + timedelta(minutes=90), weekly(4))
    )
    local = [r.span.start.astimezone(NY) for r in booked.reservations]
    assert [t.hour for t in local] == [9, 9, 9, 9]
    assert [t.utcoffset() for t in local] == [timedelta(hours=-5)] * 2 + [timedelta(hours=-4)] * 2
    assert {r.span.duration for r in booked.reservations} == {timedelta(minutes=90)}
    assert {r.series_id for r in booked.reservations} == {booked.series.id}


def test_series_is_all_or_nothing_by_default(
    reserver: Reserver, ann: Principal, bob: Principal, room
) -> None:
    third = FIRST + timedelta(weeks=2)
    reserver.reservations.reserve(
        bob, ReservationRequest(room.id, third, third + timedelta(hours=1))
    )
    with pytest.raises(ConflictError) as refused:
        reserver.series.reserve(
            ann, SeriesRequest(room.id, FIRST, FIRST + timedelta(hours=1), weekly(4))
        )
    assert refused.value.rules == {Rule.OVERLAP}
    assert [v.start for v in refused.value.violations] == [third.astimezone(UTC).isoformat()]
    assert reserver.reservations.mine(ann).items == ()


def test_skip_conflicts_books_the_rest_and_reports(
    reserver: Reserver, ann: Principal, bob: Principal, room
) -> None:
    third = FIRST + timedelta(weeks=2)
    reserver.reservations.reserve(
        bob, ReservationRequest(room.id, third, third + timedelta(hours=1))
    )
    booked = reserver.series.reserve(
        ann,
        SeriesRequest(room.id, FIRST, FIRST + timedelta(hours=1), weekly(4), skip_conflicts=True),
    )
    assert len(booked.reservations) == 3
    assert [v.rule for v in booked.skipped] == [Rule.OVERLAP]


def test_a_series_cannot_overlap_itself(reserver: Reserver, ann: Principal, room) -> None:
    rule = RecurrenceRule(Frequency.DAILY, count=3)
    with pytest.raises(ConflictError) as refused:
        reserver.series.reserve(
            ann, SeriesRequest(room.id, FIRST, FIRST + timedelta(hours=50), rule)
        )
    assert Rule.OVERLAP in refused.value.rules


def test_rule_past_the_cap_is_a_validation_error(reserver: Reserver, ann: Principal, room) -> None:
    with pytest.raises(ValidationError) as bad:
        RecurrenceRule(Frequency.DAILY, count=731)
    assert "count" in bad.value.fields
    rule = RecurrenceRule(Frequency.DAILY, until=FIRST + timedelta(days=800))
    with pytest.raises(ValidationError) as bad:
        reserver.series.reserve(
            ann, SeriesRequest(room.id, FIRST, FIRST + timedelta(hours=1), rule)
        )
    assert "rule" in bad.value.fields


def test_cancel_one_this_and_following_and_all(reserver: Reserver, ann: Principal, room) -> None:
    booked = reserver.series.reserve(
        ann, SeriesRequest(room.id, FIRST, FIRST + timedelta(hours=1), weekly(5))
    )
    keys = [r.occurrence_key for r in booked.reservations]
    sid = booked.series.id
    assert len(reserver.series.cancel(ann, sid, OccurrenceScope.ONE, occurrence_key=keys[1])) == 1
    assert (
        len(
            reserver.series.cancel(
                ann, sid, OccurrenceScope.THIS_AND_FOLLOWING, occurrence_key=keys[3]
            )
        )
        == 2
    )
    left = [
        r for r in reserver.series.occurrences(ann, sid) if r.status is ReservationStatus.CONFIRMED
    ]
    assert [r.occurrence_key for r in left] == [keys[0], keys[2]]
    assert len(reserver.series.cancel(ann, sid)) == 2
    with pytest.raises(ConflictError):
        reserver.series.cancel(ann, sid)


def test_edit_this_and_following_moves_local_time_across_dst(
    reserver: Reserver, ann: Principal, room
) -> None:
    booked = reserver.series.reserve(
        ann, SeriesRequest(room.id, FIRST, FIRST + timedelta(hours=1), weekly(4))
    )
    second = booked.reservations[1]
    new_start = second.span.start.astimezone(NY).replace(hour=10)
    moved = reserver.series.edit(
        ann,
        booked.series.id,
        SeriesEdit(start=new_start, duration=timedelta(minutes=30)),
        OccurrenceScope.THIS_AND_FOLLOWING,
        occurrence_key=second.occurrence_key,
    )
    assert [r.span.start.astimezone(NY).hour for r in moved] == [10, 10, 10]
    assert {r.span.duration for r in moved} == {timedelta(minutes=30)}
    first = reserver.reservations.get(ann, booked.reservations[0].id)
    assert first.span.start.astimezone(NY).hour == 9


def test_series_edit_into_a_conflict_changes_nothing(
    reserver: Reserver, ann: Principal, bob: Principal, room
) -> None:
    booked = reserver.series.reserve(
        ann, SeriesRequest(room.id, FIRST, FIRST + timedelta(hours=1), weekly(3))
    )
    blocker = FIRST + timedelta(weeks=2, hours=2)
    reserver.reservations.reserve(
        bob, ReservationRequest(room.id, blocker, blocker + timedelta(hours=1))
    )
    with pytest.raises(ConflictError):
        reserver.series.edit(ann, booked.series.id, SeriesEdit(start=FIRST + timedelta(hours=2)))
    assert [r.span for r in reserver.series.occurrences(ann, booked.series.id)] == [
        r.span for r in booked.reservations
    ]


def test_other_users_cannot_touch_a_series(
    reserver: Reserver, ann: Principal, bob: Principal, room
) -> None:
    from reserver.core import NotFoundError

    booked = reserver.series.reserve(
        ann, SeriesRequest(room.id, FIRST, FIRST + timedelta(hours=1), weekly(2))
    )
    with pytest.raises(NotFoundError):
        reserver.series.cancel(bob, booked.series.id)
