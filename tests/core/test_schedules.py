from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from reserver.core.errors import ValidationError
from reserver.core.ids import BlackoutId
from reserver.core.schedules import Blackout, OpeningInterval, Scope, ScopeKind, WeeklyHours
from reserver.core.spans import TimeSpan

T0 = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
SPAN = TimeSpan(T0, T0 + timedelta(hours=2))
EVERYWHERE = Scope.everywhere()


def interval(opens: int, closes: int) -> OpeningInterval:
    return OpeningInterval(time(opens), time(closes % 24))


def blackout(**kwargs: object) -> Blackout:
    return Blackout(BlackoutId("b1"), EVERYWHERE, **kwargs)  # type: ignore[arg-type]


# --- Scope ---------------------------------------------------------------------------------


def test_scope_constructors() -> None:
    assert Scope.everywhere() == Scope(ScopeKind.GLOBAL)
    assert Scope.resource("r1") == Scope(ScopeKind.RESOURCE, "r1")
    assert Scope.group("g1") == Scope(ScopeKind.GROUP, "g1")
    assert Scope("group", "g1") == Scope.group("g1")
    assert Scope("group", "g1").kind is ScopeKind.GROUP


@pytest.mark.parametrize(
    ("kind", "id_"),
    [
        (ScopeKind.GLOBAL, "x"),
        (ScopeKind.GROUP, None),
        (ScopeKind.RESOURCE, None),
        (ScopeKind.RESOURCE, ""),
        (ScopeKind.GROUP, "   "),
        ("planet", "p"),
    ],
)
def test_invalid_scopes_are_refused_naming_scope(kind: ScopeKind, id_: str | None) -> None:
    with pytest.raises(ValidationError) as caught:
        Scope(kind, id_)
    assert set(caught.value.fields) == {"scope"}


def test_scopes_are_hashable_keys() -> None:
    hours = {Scope.group("g1"): 1, Scope.everywhere(): 2}
    assert hours[Scope.group("g1")] == 1
    assert hours[Scope.everywhere()] == 2


# --- OpeningInterval -----------------------------------------------------------------------


def test_closing_at_midnight_means_end_of_day() -> None:
    assert OpeningInterval(time(22), time(0)).closes == time(0)
    assert OpeningInterval(time(0), time(0)).opens == time(0)


@pytest.mark.parametrize(("opens", "closes"), [(time(9), time(9)), (time(17), time(9))])
def test_closing_before_opening_is_refused(opens: time, closes: time) -> None:
    with pytest.raises(ValidationError) as caught:
        OpeningInterval(opens, closes)
    assert set(caught.value.fields) == {"hours"}
    assert "must be after opens" in str(caught.value)


def test_opening_hours_are_local_wall_times() -> None:
    with pytest.raises(ValidationError) as caught:
        OpeningInterval(time(9, tzinfo=ZoneInfo("Europe/Berlin")), time(17))
    assert "local wall times" in str(caught.value)


def test_opening_hours_must_be_times() -> None:
    with pytest.raises(ValidationError):
        OpeningInterval("09:00", time(17))  # type: ignore[arg-type]


# --- WeeklyHours ---------------------------------------------------------------------------


def test_weekly_hours_sort_each_day() -> None:
    hours = WeeklyHours([[interval(13, 17), interval(9, 12)]] + [[]] * 6)
    assert hours.days[0] == (interval(9, 12), interval(13, 17))
    assert hours.days[1] == ()


def test_touching_intervals_are_allowed() -> None:
    hours = WeeklyHours([[interval(9, 12), interval(12, 13)]] * 7)
    assert len(hours.days[6]) == 2


@pytest.mark.parametrize(
    "day",
    [
        [interval(9, 12), interval(11, 13)],
        [interval(9, 12), interval(10, 11)],
        [interval(22, 24), interval(23, 24)],  # closes at end of day, then opens again
        [interval(9, 24), interval(10, 11)],
    ],
)
def test_overlapping_intervals_of_one_day_are_refused(day: list[OpeningInterval]) -> None:
    with pytest.raises(ValidationError) as caught:
        WeeklyHours([day] + [[]] * 6)
    assert "must not overlap" in str(caught.value)


@pytest.mark.parametrize(
    "days",
    [
        [[]] * 6,
        [[]] * 8,
        "mon-fri",
        None,
        [[interval(9, 17)], "closed", [], [], [], [], []],
        [["09:00-17:00"], [], [], [], [], [], []],
    ],
)
def test_weekly_hours_need_seven_lists_of_intervals(days: object) -> None:
    with pytest.raises(ValidationError) as caught:
        WeeklyHours(days)
    assert set(caught.value.fields) == {"hours"}


def test_weekly_hours_presets() -> None:
    always = WeeklyHours.always_open()
    assert all(day == (OpeningInterval(time(0), time(0)),) for day in always.days)
    office = WeeklyHours.weekdays(time(8), time(18))
    assert office.days[4] == (interval(8, 18),)
    assert office.days[5] == office.days[6] == ()


def test_weekly_hours_are_hashable_values() -> None:
    assert hash(WeeklyHours.weekdays(time(8), time(18))) == hash(
        WeeklyHours.weekdays(time(8), time(18))
    )


# --- Blackout ------------------------------------------------------------------------------


def test_blackout_takes_days_or_a_span() -> None:
    assert blackout(first_day=date(2026, 5, 1), last_day=date(2026, 5, 1)).span is None
    assert blackout(span=SPAN, reason="Fire drill").reason == "Fire drill"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({}, "span"),
        ({"first_day": date(2026, 5, 1), "last_day": date(2026, 5, 2), "span": SPAN}, "span"),
        ({"first_day": date(2026, 5, 1)}, "last_day"),
        ({"last_day": date(2026, 5, 1)}, "last_day"),
        ({"first_day": date(2026, 5, 2), "last_day": date(2026, 5, 1)}, "last_day"),
        ({"span": SPAN, "yearly": True}, "yearly"),
        ({"span": SPAN, "reason": "x" * 256}, "reason"),
        (
            {"first_day": datetime(2026, 5, 1, tzinfo=UTC), "last_day": date(2026, 5, 1)},
            "first_day",
        ),
        ({"span": SPAN, "created_at": datetime(2026, 1, 1)}, "created_at"),  # noqa: DTZ001
    ],
)
def test_invalid_blackouts_are_refused_naming_the_field(
    kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        blackout(**kwargs)
    assert field in caught.value.fields


def test_blackout_created_at_is_held_in_utc() -> None:
    created = datetime(2026, 1, 1, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    assert blackout(span=SPAN, created_at=created).created_at == datetime(
        2026, 1, 1, 9, 0, tzinfo=UTC
    )


def test_one_off_blackout_covers_its_days_inclusive() -> None:
    b = blackout(first_day=date(2026, 5, 1), last_day=date(2026, 5, 3))
    assert [b.covers_day(date(2026, 5, d)) for d in range(1, 5)] == [True, True, True, False]
    assert not b.covers_day(date(2026, 4, 30))
    assert not b.covers_day(date(2027, 5, 2))


def test_yearly_blackout_covers_the_same_dates_every_year() -> None:
    b = blackout(first_day=date(2026, 5, 1), last_day=date(2026, 5, 1), yearly=True)
    assert b.covers_day(date(2030, 5, 1))
    assert b.covers_day(date(2020, 5, 1))
    assert not b.covers_day(date(2030, 5, 2))


def test_yearly_blackout_wraps_over_new_year() -> None:
    b = blackout(first_day=date(2026, 12, 24), last_day=date(2027, 1, 2), yearly=True)
    covered = {
        d for d in (date(2030, 12, 1) + timedelta(days=i) for i in range(60)) if b.covers_day(d)
    }
    expected = {date(2030, 12, 24) + timedelta(days=i) for i in range(10)}
    assert covered == expected


def test_yearly_blackout_of_a_whole_year_covers_every_day() -> None:
    b = blackout(first_day=date(2026, 3, 1), last_day=date(2027, 3, 1), yearly=True)
    assert all(b.covers_day(date(2031, 1, 1) + timedelta(days=i)) for i in range(366))


def test_span_blackout_covers_no_whole_day() -> None:
    assert not blackout(span=SPAN).covers_day(date(2026, 1, 10))
