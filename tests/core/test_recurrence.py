import calendar
import itertools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reserver.core.errors import ValidationError
from reserver.core.recurrence import (
    MAX_OCCURRENCES,
    Frequency,
    NthWeekday,
    Occurrence,
    RecurrenceRule,
    expand,
)
from reserver.core.spans import resolve_wall_time

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
HOUR = timedelta(hours=1)
NINETY_MINUTES = timedelta(minutes=90)


def local(occurrence: Occurrence, tz: ZoneInfo) -> datetime:
    return occurrence.span.start.astimezone(tz)


def keys(occurrences: list[Occurrence]) -> list[date]:
    return [date.fromisoformat(o.key) for o in occurrences]


def daily(count: int, **kwargs: object) -> RecurrenceRule:
    return RecurrenceRule(Frequency.DAILY, count=count, **kwargs)  # type: ignore[arg-type]


# --- local wall time across DST --------------------------------------------------------------


@pytest.mark.parametrize("tz", [BERLIN, NEW_YORK, LORD_HOWE], ids=str)
def test_weekly_0900_stays_0900_local_for_104_weeks_with_exact_durations(tz: ZoneInfo) -> None:
    first = datetime(2026, 1, 6, 9, 0, tzinfo=tz)  # a Tuesday
    occurrences = expand(RecurrenceRule(Frequency.WEEKLY, count=104), first, tz, NINETY_MINUTES)
    assert len(occurrences) == 104
    for i, occurrence in enumerate(occurrences):
        start = local(occurrence, tz)
        assert start.date() == date(2026, 1, 6) + timedelta(weeks=i)
        assert (start.hour, start.minute) == (9, 0)
        assert occurrence.span.duration == NINETY_MINUTES
        assert occurrence.key == start.date().isoformat()
    # The series really crosses DST: the UTC start moves while the local one does not.
    assert len({o.span.start.time() for o in occurrences}) == 2


def test_lord_howe_moves_by_half_an_hour_in_utc() -> None:
    first = datetime(2026, 9, 29, 9, 0, tzinfo=LORD_HOWE)  # DST starts on 2026-10-04
    occurrences = expand(RecurrenceRule(Frequency.WEEKLY, count=2), first, LORD_HOWE, HOUR)
    elapsed = occurrences[1].span.start - occurrences[0].span.start
    assert elapsed == timedelta(days=7) - timedelta(minutes=30)


def test_gap_time_moves_forward_by_the_gap() -> None:
    first = datetime(2026, 3, 6, 2, 30, tzinfo=NEW_YORK)
    occurrences = expand(daily(4), first, NEW_YORK, HOUR)
    starts = [local(o, NEW_YORK) for o in occurrences]
    assert [s.isoformat() for s in starts] == [
        "2026-03-06T02:30:00-05:00",
        "2026-03-07T02:30:00-05:00",
        "2026-03-08T03:30:00-04:00",  # 02:30 does not exist that night
        "2026-03-09T02:30:00-04:00",
    ]
    assert all(o.span.duration == HOUR for o in occurrences)
    assert occurrences[2].key == "2026-03-08"


def test_ambiguous_time_takes_the_first_instant() -> None:
    first = datetime(2026, 10, 31, 1, 30, tzinfo=NEW_YORK)
    occurrences = expand(daily(3), first, NEW_YORK, HOUR)
    fall_back = occurrences[1]
    assert fall_back.key == "2026-11-01"
    assert local(fall_back, NEW_YORK).isoformat() == "2026-11-01T01:30:00-04:00"
    assert fall_back.span.start == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    assert fall_back.span.duration == HOUR  # ends 01:30 EST, an exact hour later


def test_first_start_keeps_the_exact_instant_given() -> None:
    second_one_thirty = datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=NEW_YORK)  # EST
    occurrences = expand(daily(2), second_one_thirty, NEW_YORK, HOUR)
    assert occurrences[0].span.start == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    assert local(occurrences[1], NEW_YORK).isoformat() == "2026-11-02T01:30:00-05:00"


# --- monthly and yearly ----------------------------------------------------------------------


def last_weekday_of(year: int, month: int, weekday: int) -> date:
    last = date(year, month, calendar.monthrange(year, month)[1])
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def test_last_friday_of_each_month_for_twelve_months() -> None:
    first = datetime(2026, 1, 30, 17, 0, tzinfo=BERLIN)
    rule = RecurrenceRule(Frequency.MONTHLY, nth_weekday=NthWeekday(-1, 4), count=12)
    occurrences = expand(rule, first, BERLIN, HOUR)
    assert keys(occurrences) == [last_weekday_of(2026, m, 4) for m in range(1, 13)]
    assert all(local(o, BERLIN).time() == time(17) for o in occurrences)


def test_second_tuesday_of_each_month() -> None:
    rule = RecurrenceRule(Frequency.MONTHLY, nth_weekday=NthWeekday(2, 1), count=3)
    occurrences = expand(rule, datetime(2026, 1, 13, 9, tzinfo=BERLIN), BERLIN, HOUR)
    assert keys(occurrences) == [date(2026, 1, 13), date(2026, 2, 10), date(2026, 3, 10)]


def test_the_31st_skips_months_without_one() -> None:
    first = datetime(2026, 1, 31, 9, 0, tzinfo=BERLIN)
    occurrences = expand(RecurrenceRule(Frequency.MONTHLY, count=7), first, BERLIN, HOUR)
    assert [d.month for d in keys(occurrences)] == [1, 3, 5, 7, 8, 10, 12]
    assert all(d.day == 31 for d in keys(occurrences))


def test_month_day_minus_one_is_each_months_last_day() -> None:
    first = datetime(2026, 1, 31, 9, 0, tzinfo=BERLIN)
    rule = RecurrenceRule(Frequency.MONTHLY, month_day=-1, count=12)
    occurrences = expand(rule, first, BERLIN, HOUR)
    assert keys(occurrences) == [
        date(2026, m, calendar.monthrange(2026, m)[1]) for m in range(1, 13)
    ]


def test_yearly_on_feb_29_occurs_in_leap_years_only() -> None:
    first = datetime(2028, 2, 29, 9, 0, tzinfo=BERLIN)
    within_two_years = datetime(2030, 2, 28, 9, 0, tzinfo=BERLIN)
    occurrences = expand(
        RecurrenceRule(Frequency.YEARLY, until=within_two_years), first, BERLIN, HOUR
    )
    assert keys(occurrences) == [date(2028, 2, 29)]
    # The second one would be in 2032: past the two-year cap, so refused rather than cut.
    with pytest.raises(ValidationError) as caught:
        expand(RecurrenceRule(Frequency.YEARLY, count=2), first, BERLIN, HOUR)
    assert {"rule", "count"} <= set(caught.value.fields)


def test_yearly_last_day_of_february_follows_leap_years() -> None:
    first = datetime(2027, 2, 28, 9, 0, tzinfo=BERLIN)
    rule = RecurrenceRule(Frequency.YEARLY, month_day=-1, count=2)
    assert keys(expand(rule, first, BERLIN, HOUR)) == [date(2027, 2, 28), date(2028, 2, 29)]


def test_yearly_by_month_day_repeats_in_the_starting_month_only() -> None:
    first = datetime(2026, 2, 15, 9, 0, tzinfo=BERLIN)
    rule = RecurrenceRule(Frequency.YEARLY, month_day=15, count=2)
    assert keys(expand(rule, first, BERLIN, HOUR)) == [date(2026, 2, 15), date(2027, 2, 15)]


def test_yearly_last_monday_is_of_the_starting_month() -> None:
    first = datetime(2026, 5, 25, 9, 0, tzinfo=BERLIN)
    rule = RecurrenceRule(Frequency.YEARLY, nth_weekday=NthWeekday(-1, 0), count=2)
    assert keys(expand(rule, first, BERLIN, HOUR)) == [date(2026, 5, 25), date(2027, 5, 31)]


# --- interval, count, until, EXDATE ----------------------------------------------------------


def test_daily_interval() -> None:
    first = datetime(2026, 1, 5, 9, 0, tzinfo=BERLIN)
    occurrences = expand(daily(4, interval=3), first, BERLIN, HOUR)
    assert keys(occurrences) == [date(2026, 1, 5) + timedelta(days=3 * i) for i in range(4)]


def test_biweekly_on_two_weekdays() -> None:
    first = datetime(2026, 1, 5, 9, 0, tzinfo=BERLIN)  # Monday
    rule = RecurrenceRule(Frequency.WEEKLY, interval=2, weekdays=(0, 2), count=6)
    assert keys(expand(rule, first, BERLIN, HOUR)) == [
        date(2026, 1, 5),
        date(2026, 1, 7),
        date(2026, 1, 19),
        date(2026, 1, 21),
        date(2026, 2, 2),
        date(2026, 2, 4),
    ]


def test_weeks_start_on_monday_as_in_rfc_5545() -> None:
    # RFC 5545's own example: every other week on Tuesday and Sunday, WKST=MO.
    first = datetime(2026, 1, 6, 9, 0, tzinfo=BERLIN)  # Tuesday
    rule = RecurrenceRule(Frequency.WEEKLY, interval=2, weekdays=(1, 6), count=4)
    assert keys(expand(rule, first, BERLIN, HOUR)) == [
        date(2026, 1, 6),
        date(2026, 1, 11),
        date(2026, 1, 20),
        date(2026, 1, 25),
    ]


def test_first_start_is_always_the_first_occurrence_and_counts() -> None:
    first = datetime(2026, 1, 6, 9, 0, tzinfo=BERLIN)  # a Tuesday, not in the rule
    rule = RecurrenceRule(Frequency.WEEKLY, weekdays=(0, 2), count=3)
    assert keys(expand(rule, first, BERLIN, HOUR)) == [
        date(2026, 1, 6),
        date(2026, 1, 7),
        date(2026, 1, 12),
    ]


@pytest.mark.parametrize("count", [1, 2, 17, MAX_OCCURRENCES])
def test_count_gives_exactly_that_many(count: int) -> None:
    first = datetime(2026, 1, 5, 9, 0, tzinfo=BERLIN)
    assert len(expand(daily(count), first, BERLIN, HOUR)) == count


def test_until_is_inclusive() -> None:
    first = datetime(2026, 1, 5, 9, 0, tzinfo=BERLIN)
    last = datetime(2026, 1, 9, 9, 0, tzinfo=BERLIN)
    on_it = RecurrenceRule(Frequency.DAILY, until=last)
    just_before = RecurrenceRule(Frequency.DAILY, until=last - timedelta(microseconds=1))
    assert keys(expand(on_it, first, BERLIN, HOUR))[-1] == date(2026, 1, 9)
    assert keys(expand(just_before, first, BERLIN, HOUR))[-1] == date(2026, 1, 8)


def test_until_is_an_instant_in_any_zone() -> None:
    first = datetime(2026, 1, 5, 9, 0, tzinfo=BERLIN)
    until = datetime(2026, 1, 7, 3, 0, tzinfo=NEW_YORK)  # 09:00 Berlin
    assert len(expand(RecurrenceRule(Frequency.DAILY, until=until), first, BERLIN, HOUR)) == 3


def test_until_before_the_first_start_is_refused() -> None:
    first = datetime(2026, 1, 5, 9, 0, tzinfo=BERLIN)
    rule = RecurrenceRule(Frequency.DAILY, until=first - HOUR)
    with pytest.raises(ValidationError) as caught:
        expand(rule, first, BERLIN, HOUR)
    assert set(caught.value.fields) == {"until"}


def test_exdates_remove_exactly_those_dates_after_count() -> None:
    first = datetime(2026, 1, 5, 9, 0, tzinfo=BERLIN)
    skipped = {date(2026, 1, 7), date(2026, 1, 11), date(2027, 1, 1)}  # the last matches nothing
    occurrences = expand(daily(10, exdates=skipped), first, BERLIN, HOUR)
    everything = {date(2026, 1, 5) + timedelta(days=i) for i in range(10)}
    assert keys(occurrences) == sorted(everything - skipped)
    assert len(occurrences) == 8


def test_exdate_can_remove_the_first_start() -> None:
    first = datetime(2026, 1, 5, 9, 0, tzinfo=BERLIN)
    occurrences = expand(daily(3, exdates={date(2026, 1, 5)}), first, BERLIN, HOUR)
    assert keys(occurrences) == [date(2026, 1, 6), date(2026, 1, 7)]


def test_exdate_of_a_gap_day_removes_the_moved_occurrence() -> None:
    first = datetime(2026, 3, 7, 2, 30, tzinfo=NEW_YORK)
    occurrences = expand(daily(3, exdates={date(2026, 3, 8)}), first, NEW_YORK, HOUR)
    assert keys(occurrences) == [date(2026, 3, 7), date(2026, 3, 9)]


def test_a_series_with_nothing_left_is_refused() -> None:
    first = datetime(2026, 1, 5, 9, 0, tzinfo=BERLIN)
    with pytest.raises(ValidationError) as caught:
        expand(daily(1, exdates={date(2026, 1, 5)}), first, BERLIN, HOUR)
    assert set(caught.value.fields) == {"rule"}


@pytest.mark.parametrize("bad", [[datetime(2026, 1, 5, tzinfo=UTC)], ["2026-01-05"], "2026-01-05"])
def test_exdates_must_be_dates(bad: object) -> None:
    with pytest.raises(ValidationError) as caught:
        daily(3, exdates=bad)
    assert set(caught.value.fields) == {"exdates"}


# --- caps and validation ---------------------------------------------------------------------


def test_count_past_the_cap_is_refused_naming_count() -> None:
    with pytest.raises(ValidationError) as caught:
        daily(MAX_OCCURRENCES + 1)
    assert set(caught.value.fields) == {"count"}


def test_a_rule_without_an_end_is_refused_naming_count() -> None:
    with pytest.raises(ValidationError) as caught:
        RecurrenceRule(Frequency.WEEKLY)
    assert set(caught.value.fields) == {"count"}


def test_daily_until_three_years_later_is_refused_naming_rule_and_until() -> None:
    first = datetime(2026, 1, 5, 9, 0, tzinfo=BERLIN)
    rule = RecurrenceRule(Frequency.DAILY, until=first.replace(year=2029))
    with pytest.raises(ValidationError) as caught:
        expand(rule, first, BERLIN, HOUR)
    assert set(caught.value.fields) == {"rule", "until"}


def test_weekly_until_three_years_later_is_refused_not_cut_short() -> None:
    first = datetime(2026, 1, 5, 9, 0, tzinfo=BERLIN)
    rule = RecurrenceRule(Frequency.WEEKLY, until=first.replace(year=2029))
    with pytest.raises(ValidationError) as caught:
        expand(rule, first, BERLIN, HOUR)
    assert set(caught.value.fields) == {"rule", "until"}


def test_daily_for_exactly_two_years_has_731_occurrences_and_is_refused() -> None:
    first = datetime(2026, 1, 5, 9, 0, tzinfo=BERLIN)
    rule = RecurrenceRule(Frequency.DAILY, until=first.replace(year=2028))
    with pytest.raises(ValidationError) as caught:
        expand(rule, first, BERLIN, HOUR)
    assert "rule" in caught.value.fields
    assert str(MAX_OCCURRENCES) in caught.value.fields["rule"]


def test_weekly_until_two_years_later_is_accepted() -> None:
    first = datetime(2026, 1, 5, 9, 0, tzinfo=BERLIN)
    rule = RecurrenceRule(Frequency.WEEKLY, until=first.replace(year=2028))
    occurrences = expand(rule, first, BERLIN, HOUR)
    assert keys(occurrences)[-1] == date(2028, 1, 3)


@pytest.mark.parametrize(
    ("rule", "accepted"),
    [
        (RecurrenceRule(Frequency.MONTHLY, count=25), True),  # the 25th is exactly two years on
        (RecurrenceRule(Frequency.MONTHLY, count=26), False),
        (RecurrenceRule(Frequency.WEEKLY, count=105), True),
        (RecurrenceRule(Frequency.WEEKLY, count=106), False),
        (RecurrenceRule(Frequency.WEEKLY, interval=3, count=40), False),
    ],
)
def test_count_that_needs_more_than_two_years_is_refused(
    rule: RecurrenceRule, accepted: bool
) -> None:
    first = datetime(2026, 1, 5, 9, 0, tzinfo=BERLIN)
    if accepted:
        assert len(expand(rule, first, BERLIN, HOUR)) == rule.count
    else:
        with pytest.raises(ValidationError) as caught:
            expand(rule, first, BERLIN, HOUR)
        assert set(caught.value.fields) == {"rule", "count"}


def test_a_rule_that_never_matches_again_ends_within_the_horizon() -> None:
    first = datetime(2026, 2, 10, 9, 0, tzinfo=BERLIN)
    rule = RecurrenceRule(Frequency.YEARLY, month_day=30, count=2)  # February has no 30th
    with pytest.raises(ValidationError) as caught:
        expand(rule, first, BERLIN, HOUR)
    assert "rule" in caught.value.fields


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"frequency": "hourly", "count": 2}, "frequency"),
        ({"frequency": Frequency.DAILY, "count": 2, "interval": 0}, "interval"),
        ({"frequency": Frequency.DAILY, "count": 2, "interval": 100}, "interval"),
        ({"frequency": Frequency.DAILY, "count": 0}, "count"),
        ({"frequency": Frequency.DAILY, "count": 2, "until": datetime(2026, 2, 1)}, "until"),  # noqa: DTZ001
        (
            {"frequency": Frequency.DAILY, "count": 2, "until": datetime(2026, 2, 1, tzinfo=UTC)},
            "until",
        ),
        ({"frequency": Frequency.DAILY, "count": 2, "weekdays": (1,)}, "weekdays"),
        ({"frequency": Frequency.WEEKLY, "count": 2, "weekdays": (7,)}, "weekdays"),
        ({"frequency": Frequency.WEEKLY, "count": 2, "month_day": 3}, "month_day"),
        ({"frequency": Frequency.MONTHLY, "count": 2, "month_day": 0}, "month_day"),
        ({"frequency": Frequency.MONTHLY, "count": 2, "month_day": 32}, "month_day"),
        (
            {
                "frequency": Frequency.MONTHLY,
                "count": 2,
                "month_day": 3,
                "nth_weekday": NthWeekday(1, 1),
            },
            "month_day",
        ),
    ],
)
def test_invalid_rules_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        RecurrenceRule(**kwargs)  # type: ignore[arg-type]
    assert field in caught.value.fields


@pytest.mark.parametrize(("n", "weekday"), [(0, 1), (6, 1), (-6, 1), (1, 7), (1, -1)])
def test_invalid_nth_weekday_is_refused(n: int, weekday: int) -> None:
    with pytest.raises(ValidationError):
        NthWeekday(n, weekday)


def test_frequency_may_be_given_by_name() -> None:
    assert RecurrenceRule("weekly", count=2).frequency is Frequency.WEEKLY


def test_expand_refuses_naive_start_and_empty_duration() -> None:
    with pytest.raises(ValidationError) as naive:
        expand(daily(2), datetime(2026, 1, 5, 9), BERLIN, HOUR)  # noqa: DTZ001
    assert set(naive.value.fields) == {"start"}
    with pytest.raises(ValidationError) as empty:
        expand(daily(2), datetime(2026, 1, 5, 9, tzinfo=UTC), BERLIN, timedelta(0))
    assert set(empty.value.fields) == {"end"}


# --- property --------------------------------------------------------------------------------

ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",  # 30-minute DST
    "America/Havana",  # DST at midnight
    "America/Santiago",
    "America/St_Johns",  # -03:30
    "Pacific/Chatham",  # +12:45 / +13:45
    "Asia/Kolkata",
    "Europe/London",
    "UTC",
]


def offset(moment: datetime) -> timedelta:
    value = moment.utcoffset()
    assert value is not None
    return value


def instants_of(wall: datetime, tz: ZoneInfo) -> list[datetime]:
    """Every UTC instant whose wall time in ``tz`` is ``wall`` (0, 1 or 2 of them)."""
    found = set()
    for fold in (0, 1):
        instant = wall.replace(tzinfo=tz, fold=fold).astimezone(UTC)
        if instant.astimezone(tz).replace(tzinfo=None) == wall:
            found.add(instant)
    return sorted(found)


@st.composite
def series(draw: st.DrawFn) -> tuple[ZoneInfo, datetime, RecurrenceRule, timedelta]:
    tz = ZoneInfo(draw(st.sampled_from(ZONES)))
    day = draw(st.dates(min_value=date(2024, 1, 1), max_value=date(2030, 12, 31)))
    # Most transitions happen between 23:00 and 04:00 local; draw there half of the time.
    night = st.sampled_from([time(23, 30), time(0, 0), time(0, 30)]) | st.times(
        time(1, 0), time(3, 59)
    )
    at = draw((st.times() | night).map(lambda t: t.replace(second=0, microsecond=0)))
    first = resolve_wall_time(datetime.combine(day, at), tz)
    if draw(st.booleans()):
        rule = RecurrenceRule(
            Frequency.DAILY, interval=draw(st.integers(1, 3)), count=draw(st.integers(1, 200))
        )
    else:
        weekdays = draw(st.sets(st.integers(0, 6), max_size=3))
        rule = RecurrenceRule(
            Frequency.WEEKLY,
            interval=draw(st.integers(1, 2)),
            weekdays=tuple(weekdays),
            count=draw(st.integers(1, 40)),
        )
    duration = draw(st.timedeltas(timedelta(minutes=1), timedelta(hours=30)))
    return tz, first, rule, duration


@given(series())
def test_every_occurrence_keeps_the_wall_time_or_moves_forward_by_the_gap(
    case: tuple[ZoneInfo, datetime, RecurrenceRule, timedelta],
) -> None:
    tz, first, rule, duration = case
    wall_time = first.astimezone(tz).time()
    occurrences = expand(rule, first, tz, duration)
    assert len(occurrences) == rule.count
    assert occurrences[0].span.start == first
    for occurrence in occurrences:
        assert occurrence.span.duration == duration
        day = date.fromisoformat(occurrence.key)
        wall = datetime.combine(day, wall_time)
        candidates = instants_of(wall, tz)
        if candidates:
            assert occurrence.span.start == candidates[0]  # the first of ambiguous instants
        else:
            # PEP 495: in a gap, fold=1 applies the offset after the transition, fold=0 before.
            gap = offset(wall.replace(tzinfo=tz, fold=1)) - offset(wall.replace(tzinfo=tz, fold=0))
            assert gap > timedelta(0)
            assert occurrence.span.start.astimezone(tz).replace(tzinfo=None) == wall + gap
    days = keys(occurrences)
    assert days == sorted(set(days))
    if rule.frequency is Frequency.DAILY:
        assert all((b - a).days == rule.interval for a, b in itertools.pairwise(days))
    else:
        allowed = set(rule.weekdays) or {days[0].weekday()}
        assert all(d.weekday() in allowed for d in days[1:])
