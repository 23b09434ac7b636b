import itertools
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reserver.core.availability import (
    SpanCheck,
    aligned,
    bookable_slots,
    check_span,
    first_fit,
    free_windows,
    open_windows,
    slots,
)
from reserver.core.errors import ValidationError
from reserver.core.ids import BlackoutId
from reserver.core.schedules import Blackout, OpeningInterval, Scope, WeeklyHours
from reserver.core.spans import TimeSpan, local_day_span, resolve_wall_time

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
CHATHAM = ZoneInfo("Pacific/Chatham")
HAVANA = ZoneInfo("America/Havana")
ALWAYS = WeeklyHours.always_open()
MINUTE = timedelta(minutes=1)
QUARTER = timedelta(minutes=15)
HOUR = timedelta(hours=1)
ZERO = timedelta(0)


def wall(tz: ZoneInfo, day: date, hour: int, minute: int = 0) -> datetime:
    return resolve_wall_time(datetime.combine(day, time(hour, minute)), tz)


def span(tz: ZoneInfo, day: date, start: tuple[int, int], end: tuple[int, int]) -> TimeSpan:
    end_day = day if end > start else day + timedelta(days=1)
    return TimeSpan(wall(tz, day, *start), wall(tz, end_day, *end))


def days(tz: ZoneInfo, first: date, count: int = 1) -> TimeSpan:
    return local_day_span(first, tz, days=count)


def iv(opens: str, closes: str) -> OpeningInterval:
    return OpeningInterval(time.fromisoformat(opens), time.fromisoformat(closes))


def hours(*week: Sequence[OpeningInterval]) -> WeeklyHours:
    return WeeklyHours([list(day) for day in week])


def local_walls(spans: Sequence[TimeSpan], tz: ZoneInfo) -> list[tuple[str, str]]:
    return [
        (
            s.start.astimezone(tz).isoformat(timespec="minutes"),
            s.end.astimezone(tz).isoformat(timespec="minutes"),
        )
        for s in spans
    ]


_blackout_ids = iter(range(1_000_000))


def day_blackout(first: date, last: date, *, yearly: bool = False, reason: str = "") -> Blackout:
    return Blackout(
        BlackoutId(f"b{next(_blackout_ids)}"),
        Scope.everywhere(),
        reason=reason,
        first_day=first,
        last_day=last,
        yearly=yearly,
    )


def span_blackout(during: TimeSpan, reason: str = "") -> Blackout:
    return Blackout(
        BlackoutId(f"b{next(_blackout_ids)}"), Scope.everywhere(), reason=reason, span=during
    )


MONDAY = date(2026, 3, 2)
OFFICE = WeeklyHours.weekdays(time(9), time(17))
LUNCH = hours(*[[iv("09:00", "12:00"), iv("13:00", "17:00")]] * 5, [], [])


# --- open windows: business hours in local time ----------------------------------------------


def test_business_hours_follow_local_time_across_dst() -> None:
    # Berlin moves its clocks on Sunday 2026-03-29: 09:00 is 08:00 UTC before, 07:00 UTC after.
    windows = open_windows(days(BERLIN, date(2026, 3, 27), 4), BERLIN, OFFICE)
    assert [(w.start.isoformat(), w.end.isoformat()) for w in windows] == [
        ("2026-03-27T08:00:00+00:00", "2026-03-27T16:00:00+00:00"),
        ("2026-03-30T07:00:00+00:00", "2026-03-30T15:00:00+00:00"),
    ]


def test_opening_on_a_spring_forward_night_is_shorter_and_on_fall_back_longer() -> None:
    night = hours(*[[iv("01:00", "03:00")]] * 7)
    spring = open_windows(days(NEW_YORK, date(2026, 3, 8)), NEW_YORK, night)
    autumn = open_windows(days(NEW_YORK, date(2026, 11, 1)), NEW_YORK, night)
    ordinary = open_windows(days(NEW_YORK, date(2026, 3, 9)), NEW_YORK, night)
    assert [w.duration for w in spring] == [HOUR]
    assert [w.duration for w in autumn] == [3 * HOUR]
    assert [w.duration for w in ordinary] == [2 * HOUR]
    assert autumn[0].start == datetime(2026, 11, 1, 5, 0, tzinfo=UTC)  # 01:00 EDT, the first


def test_an_opening_time_in_the_gap_moves_forward_by_the_gap() -> None:
    late = hours(*[[iv("02:30", "05:00")]] * 7)
    (window,) = open_windows(days(NEW_YORK, date(2026, 3, 8)), NEW_YORK, late)
    assert local_walls([window], NEW_YORK) == [("2026-03-08T03:30-04:00", "2026-03-08T05:00-04:00")]


def test_always_open_days_are_23_24_and_25_hours() -> None:
    for day, length in [(date(2026, 3, 8), 23), (date(2026, 3, 9), 24), (date(2026, 11, 1), 25)]:
        assert [w.duration for w in open_windows(days(NEW_YORK, day), NEW_YORK, ALWAYS)] == [
            timedelta(hours=length)
        ]


def test_always_open_is_one_window_over_many_days() -> None:
    week = days(BERLIN, MONDAY, 7)
    assert open_windows(week, BERLIN, ALWAYS) == [week]


def test_intervals_with_a_lunch_break() -> None:
    windows = open_windows(days(BERLIN, MONDAY), BERLIN, LUNCH)
    assert local_walls(windows, BERLIN) == [
        ("2026-03-02T09:00+01:00", "2026-03-02T12:00+01:00"),
        ("2026-03-02T13:00+01:00", "2026-03-02T17:00+01:00"),
    ]


def test_touching_intervals_form_one_window() -> None:
    split = hours(*[[iv("09:00", "12:00"), iv("12:00", "17:00")]] * 7)
    assert open_windows(days(BERLIN, MONDAY), BERLIN, split) == [
        span(BERLIN, MONDAY, (9, 0), (17, 0))
    ]


def test_overnight_intervals_merge_over_midnight() -> None:
    # Friday 22:00-24:00 and Saturday 00:00-06:00 are one night.
    night = hours([], [], [], [], [iv("22:00", "00:00")], [iv("00:00", "06:00")], [])
    windows = open_windows(days(BERLIN, MONDAY, 7), BERLIN, night)
    assert windows == [span(BERLIN, date(2026, 3, 6), (22, 0), (6, 0))]


def test_overnight_merge_wraps_from_sunday_to_monday() -> None:
    night = hours([iv("00:00", "06:00")], [], [], [], [], [], [iv("22:00", "00:00")])
    windows = open_windows(days(BERLIN, date(2026, 3, 8), 2), BERLIN, night)
    assert windows == [span(BERLIN, date(2026, 3, 8), (22, 0), (6, 0))]


def test_closed_days_have_no_windows() -> None:
    assert open_windows(days(BERLIN, date(2026, 3, 7), 2), BERLIN, OFFICE) == []
    windows = open_windows(days(BERLIN, MONDAY, 7), BERLIN, OFFICE)
    assert [w.start.astimezone(BERLIN).weekday() for w in windows] == [0, 1, 2, 3, 4]


def test_windows_are_clipped_to_the_span() -> None:
    asked = span(BERLIN, MONDAY, (10, 30), (16, 0))
    assert open_windows(asked, BERLIN, LUNCH) == [
        span(BERLIN, MONDAY, (10, 30), (12, 0)),
        span(BERLIN, MONDAY, (13, 0), (16, 0)),
    ]


# --- open windows: blackouts -----------------------------------------------------------------


def test_whole_day_blackout_removes_the_local_day() -> None:
    may_day = day_blackout(date(2026, 5, 1), date(2026, 5, 1), reason="Labour Day")
    week = days(NEW_YORK, date(2026, 4, 27), 7)
    windows = open_windows(week, NEW_YORK, ALWAYS, [may_day])
    assert windows == [
        TimeSpan(week.start, wall(NEW_YORK, date(2026, 5, 1), 0)),
        TimeSpan(wall(NEW_YORK, date(2026, 5, 2), 0), week.end),
    ]


def test_yearly_blackout_wraps_over_new_year_every_year() -> None:
    holidays = day_blackout(date(2024, 12, 24), date(2025, 1, 2), yearly=True)
    for year in (2026, 2031):
        window = days(BERLIN, date(year, 12, 20), 17)  # Dec 20 .. Jan 5
        assert open_windows(window, BERLIN, ALWAYS, [holidays]) == [
            TimeSpan(window.start, wall(BERLIN, date(year, 12, 24), 0)),
            TimeSpan(wall(BERLIN, date(year + 1, 1, 3), 0), window.end),
        ]


def test_span_blackout_removes_exactly_its_span() -> None:
    drill = span_blackout(span(BERLIN, MONDAY, (10, 0), (11, 30)), reason="Fire drill")
    assert open_windows(days(BERLIN, MONDAY), BERLIN, OFFICE, [drill]) == [
        span(BERLIN, MONDAY, (9, 0), (10, 0)),
        span(BERLIN, MONDAY, (11, 30), (17, 0)),
    ]


# --- check_span ------------------------------------------------------------------------------


def test_check_span_inside_hours() -> None:
    result = check_span(span(BERLIN, MONDAY, (9, 0), (12, 0)), BERLIN, LUNCH)
    assert result == SpanCheck(outside_hours=False, blackouts=())
    assert result.ok


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ((11, 30), (12, 30)),
        ((12, 0), (13, 0)),
        ((8, 0), (9, 30)),
        ((16, 0), (18, 0)),
        ((9, 0), (17, 0)),
    ],
)
def test_check_span_outside_hours(start: tuple[int, int], end: tuple[int, int]) -> None:
    outside, blackouts = check_span(span(BERLIN, MONDAY, start, end), BERLIN, LUNCH)
    assert outside
    assert blackouts == ()


def test_check_span_on_a_closed_day_is_outside_hours() -> None:
    assert check_span(
        span(BERLIN, date(2026, 3, 7), (10, 0), (11, 0)), BERLIN, OFFICE
    ).outside_hours


def test_check_span_accepts_an_overnight_booking_through_merged_intervals() -> None:
    night = hours(*[[iv("00:00", "06:00"), iv("22:00", "00:00")]] * 7)
    assert check_span(span(BERLIN, MONDAY, (23, 0), (5, 0)), BERLIN, night).ok
    assert check_span(span(BERLIN, MONDAY, (21, 0), (5, 0)), BERLIN, night).outside_hours


def test_check_span_names_each_blackout_it_touches_in_order() -> None:
    drill = span_blackout(span(BERLIN, MONDAY, (10, 0), (11, 0)), reason="Fire drill")
    monday = day_blackout(MONDAY, MONDAY, reason="Inventory")
    tuesday = day_blackout(MONDAY + timedelta(days=1), MONDAY + timedelta(days=1))
    result = check_span(
        span(BERLIN, MONDAY, (9, 0), (12, 0)), BERLIN, OFFICE, [tuesday, drill, monday]
    )
    assert result == SpanCheck(False, (drill, monday))
    assert not result.ok


def test_check_span_touching_a_span_blackout_is_fine() -> None:
    drill = span_blackout(span(BERLIN, MONDAY, (10, 0), (11, 0)))
    before = check_span(span(BERLIN, MONDAY, (9, 0), (10, 0)), BERLIN, OFFICE, [drill])
    after = check_span(span(BERLIN, MONDAY, (11, 0), (12, 0)), BERLIN, OFFICE, [drill])
    assert before.ok
    assert after.ok


def test_check_span_ending_at_midnight_does_not_touch_the_next_day() -> None:
    tuesday = day_blackout(date(2026, 3, 3), date(2026, 3, 3))
    evening = span(NEW_YORK, MONDAY, (20, 0), (0, 0))
    assert check_span(evening, NEW_YORK, ALWAYS, [tuesday]).ok
    later = span(NEW_YORK, MONDAY, (20, 0), (0, 1))
    assert check_span(later, NEW_YORK, ALWAYS, [tuesday]).blackouts == (tuesday,)


def test_whole_day_blackouts_use_local_days() -> None:
    # 01:00 UTC on March 3 is still March 2 in New York.
    monday = day_blackout(MONDAY, MONDAY)
    at_one_utc = TimeSpan(datetime(2026, 3, 3, 1, tzinfo=UTC), datetime(2026, 3, 3, 2, tzinfo=UTC))
    assert check_span(at_one_utc, NEW_YORK, ALWAYS, [monday]).blackouts == (monday,)
    assert check_span(at_one_utc, BERLIN, ALWAYS, [monday]).ok


# --- free windows and buffers ----------------------------------------------------------------


def test_free_windows_remove_busy_blocks_widened_by_the_new_bookings_buffers() -> None:
    open_ = [span(BERLIN, MONDAY, (9, 0), (17, 0))]
    busy = [span(BERLIN, MONDAY, (10, 0), (11, 0))]
    free = free_windows(open_, busy, buffer_before=QUARTER, buffer_after=2 * QUARTER)
    # A new span must end by 09:30 (its 30-minute buffer after ends at 10:00) and may start at
    # 11:15 (its 15-minute buffer before starts at 11:00).
    assert free == [span(BERLIN, MONDAY, (9, 0), (9, 30)), span(BERLIN, MONDAY, (11, 15), (17, 0))]


def test_free_windows_without_buffers_let_bookings_touch() -> None:
    open_ = [span(BERLIN, MONDAY, (9, 0), (17, 0))]
    busy = [span(BERLIN, MONDAY, (10, 0), (11, 0)), span(BERLIN, MONDAY, (11, 0), (12, 0))]
    assert free_windows(open_, busy) == [
        span(BERLIN, MONDAY, (9, 0), (10, 0)),
        span(BERLIN, MONDAY, (12, 0), (17, 0)),
    ]


def test_free_windows_do_not_rely_on_sorted_or_disjoint_input() -> None:
    open_ = [span(BERLIN, MONDAY, (13, 0), (17, 0)), span(BERLIN, MONDAY, (9, 0), (12, 0))]
    busy = [
        span(BERLIN, MONDAY, (14, 0), (15, 0)),
        span(BERLIN, MONDAY, (9, 30), (10, 30)),
        span(BERLIN, MONDAY, (10, 0), (10, 15)),
        span(BERLIN, MONDAY, (11, 45), (13, 15)),
    ]
    assert free_windows(open_, busy) == [
        span(BERLIN, MONDAY, (9, 0), (9, 30)),
        span(BERLIN, MONDAY, (10, 30), (11, 45)),
        span(BERLIN, MONDAY, (13, 15), (14, 0)),
        span(BERLIN, MONDAY, (15, 0), (17, 0)),
    ]


def test_a_busy_block_spanning_several_windows_removes_them_all() -> None:
    open_ = open_windows(days(BERLIN, MONDAY, 3), BERLIN, OFFICE)
    busy = [span(BERLIN, MONDAY, (12, 0), (12, 0))]  # 24 hours
    assert free_windows(open_, busy) == [
        span(BERLIN, MONDAY, (9, 0), (12, 0)),
        span(BERLIN, MONDAY + timedelta(days=1), (12, 0), (17, 0)),
        span(BERLIN, MONDAY + timedelta(days=2), (9, 0), (17, 0)),
    ]


def test_busy_blocks_at_the_edges_of_a_window_leave_no_empty_window() -> None:
    open_ = [span(BERLIN, MONDAY, (9, 0), (17, 0))]
    busy = [span(BERLIN, MONDAY, (9, 0), (10, 0)), span(BERLIN, MONDAY, (16, 0), (17, 0))]
    assert free_windows(open_, busy) == [span(BERLIN, MONDAY, (10, 0), (16, 0))]
    assert free_windows(open_, [span(BERLIN, MONDAY, (9, 0), (17, 0))]) == []


def test_negative_buffers_are_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        free_windows([], [], buffer_before=-MINUTE, buffer_after=ZERO)
    assert set(caught.value.fields) == {"buffer_before"}


# --- slots -----------------------------------------------------------------------------------


def starts(found: Sequence[TimeSpan], tz: tzinfo) -> list[str]:
    return [s.start.astimezone(tz).strftime("%H:%M") for s in found]


def test_slots_are_exact_and_aligned_to_the_step() -> None:
    free = [span(BERLIN, MONDAY, (9, 10), (11, 0))]
    found = slots(free, 45 * MINUTE, step=QUARTER, tz=BERLIN)
    assert starts(found, BERLIN) == ["09:15", "09:30", "09:45", "10:00", "10:15"]
    assert all(s.duration == 45 * MINUTE for s in found)


def test_a_slot_may_run_through_touching_free_windows() -> None:
    free = [span(BERLIN, MONDAY, (11, 0), (12, 0)), span(BERLIN, MONDAY, (9, 0), (11, 0))]
    assert starts(slots(free, 3 * HOUR, step=HOUR, tz=BERLIN), BERLIN) == ["09:00"]


@pytest.mark.parametrize("tz", [KOLKATA, CHATHAM, ZoneInfo("America/St_Johns")], ids=str)
def test_steps_count_from_local_midnight_in_offset_zones(tz: ZoneInfo) -> None:
    found = slots([days(tz, MONDAY)], HOUR, step=QUARTER, tz=tz)
    assert len(found) == 24 * 4 - 3
    assert {s.start.astimezone(tz).minute for s in found} == {0, 15, 30, 45}
    assert starts(found, tz)[:3] == ["00:00", "00:15", "00:30"]
    # In UTC they are not on the quarter-hour grid's :00 when the offset has :30 or :45.
    assert starts([found[0]], UTC) != ["00:00"]


def test_hourly_steps_on_lord_howes_half_hour_spring_forward() -> None:
    day = date(2026, 10, 4)  # 02:00 becomes 02:30
    found = slots([days(LORD_HOWE, day)], HOUR, step=HOUR, tz=LORD_HOWE)
    assert starts(found, LORD_HOWE)[:4] == ["00:00", "01:00", "03:00", "04:00"]
    assert all(aligned(s.start, HOUR, LORD_HOWE) for s in found)


def test_the_repeated_hour_gives_two_slots_and_the_skipped_one_none() -> None:
    autumn = slots([days(NEW_YORK, date(2026, 11, 1))], HOUR, step=HOUR, tz=NEW_YORK)
    spring = slots([days(NEW_YORK, date(2026, 3, 8))], HOUR, step=HOUR, tz=NEW_YORK)
    assert starts(autumn, NEW_YORK)[:4] == ["00:00", "01:00", "01:00", "02:00"]
    assert len(autumn) == 25  # a 25-hour day
    assert starts(spring, NEW_YORK)[:3] == ["00:00", "01:00", "03:00"]
    assert len(spring) == 23
    assert [s.start for s in autumn] == sorted({s.start for s in autumn})


def test_alignment_restarts_each_local_day() -> None:
    two_days = [days(BERLIN, MONDAY, 2)]
    found = slots(two_days, HOUR, step=timedelta(minutes=25), tz=BERLIN)
    tuesday = [s for s in found if s.start.astimezone(BERLIN).date() == date(2026, 3, 3)]
    assert starts(tuesday, BERLIN)[0] == "00:00"
    assert "23:20" in starts(found, BERLIN)  # Monday's last start, running into Tuesday


def test_not_before_and_not_after_bound_the_start_inclusively() -> None:
    free = [span(BERLIN, MONDAY, (9, 0), (17, 0))]
    found = slots(
        free,
        HOUR,
        step=HOUR,
        tz=BERLIN,
        not_before=wall(BERLIN, MONDAY, 10),
        not_after=wall(BERLIN, MONDAY, 13),
    )
    assert starts(found, BERLIN) == ["10:00", "11:00", "12:00", "13:00"]
    late = slots(free, HOUR, step=HOUR, tz=BERLIN, not_before=wall(BERLIN, MONDAY, 10, 1))
    assert starts(late, BERLIN)[0] == "11:00"


def test_slots_need_a_free_window_long_enough() -> None:
    assert slots([span(BERLIN, MONDAY, (9, 0), (9, 59))], HOUR, step=MINUTE, tz=BERLIN) == []


def test_limit_returns_the_earliest() -> None:
    free = [days(BERLIN, MONDAY)]
    assert (
        slots(free, HOUR, step=HOUR, tz=BERLIN, limit=2)
        == slots(free, HOUR, step=HOUR, tz=BERLIN)[:2]
    )


def test_first_fit_is_the_first_slot() -> None:
    free = free_windows(
        open_windows(days(BERLIN, MONDAY, 5), BERLIN, LUNCH),
        [span(BERLIN, MONDAY, (8, 0), (16, 30))],
        buffer_before=QUARTER,
        buffer_after=ZERO,
    )
    found = slots(free, HOUR, step=QUARTER, tz=BERLIN)
    first = first_fit(free, HOUR, step=QUARTER, tz=BERLIN)
    assert first == found[0]
    assert first == span(BERLIN, MONDAY + timedelta(days=1), (9, 0), (10, 0))


def test_first_fit_is_none_when_nothing_fits() -> None:
    assert first_fit([span(BERLIN, MONDAY, (9, 0), (9, 30))], HOUR, step=QUARTER, tz=BERLIN) is None


@pytest.mark.parametrize(
    ("duration", "step", "field"),
    [(ZERO, QUARTER, "duration"), (HOUR, ZERO, "step"), (-HOUR, QUARTER, "duration")],
)
def test_slots_refuse_non_positive_duration_or_step(
    duration: timedelta, step: timedelta, field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        slots([days(BERLIN, MONDAY)], duration, step=step, tz=BERLIN)
    assert set(caught.value.fields) == {field}
    with pytest.raises(ValidationError):
        first_fit([days(BERLIN, MONDAY)], duration, step=step, tz=BERLIN)


def test_slots_refuse_naive_bounds() -> None:
    with pytest.raises(ValidationError) as caught:
        slots([days(BERLIN, MONDAY)], HOUR, step=HOUR, tz=BERLIN, not_before=datetime(2026, 3, 2))  # noqa: DTZ001
    assert set(caught.value.fields) == {"not_before"}


def test_aligned_counts_wall_time_from_local_midnight() -> None:
    assert aligned(wall(KOLKATA, MONDAY, 9, 45), QUARTER, KOLKATA)
    assert not aligned(wall(KOLKATA, MONDAY, 9, 50), QUARTER, KOLKATA)
    # After Lord Howe's 30-minute jump, 03:00 is 2.5 hours after midnight but on the hour.
    assert aligned(wall(LORD_HOWE, date(2026, 10, 4), 3), HOUR, LORD_HOWE)
    assert not aligned(wall(LORD_HOWE, date(2026, 10, 4), 2, 30), HOUR, LORD_HOWE)


def test_bookable_slots_is_the_whole_pipeline_and_stops_early() -> None:
    window = days(BERLIN, MONDAY, 14)
    busy = [span(BERLIN, MONDAY, (9, 0), (11, 0))]
    blackouts = [day_blackout(date(2026, 3, 3), date(2026, 3, 3))]
    expected = slots(
        free_windows(open_windows(window, BERLIN, LUNCH, blackouts), busy, buffer_after=QUARTER),
        HOUR,
        step=QUARTER,
        tz=BERLIN,
    )
    found = bookable_slots(
        window,
        HOUR,
        tz=BERLIN,
        hours=LUNCH,
        blackouts=blackouts,
        busy_blocks=busy,
        buffer_after=QUARTER,
        step=QUARTER,
    )
    assert found == expected
    first = bookable_slots(
        window,
        HOUR,
        tz=BERLIN,
        hours=LUNCH,
        busy_blocks=busy,
        buffer_after=QUARTER,
        step=QUARTER,
        limit=1,
    )
    assert first == [span(BERLIN, MONDAY, (11, 0), (12, 0))] == expected[:1]


def test_bookable_slots_honour_not_after_for_the_start_only() -> None:
    window = days(BERLIN, MONDAY)
    found = bookable_slots(
        window,
        2 * HOUR,
        tz=BERLIN,
        hours=OFFICE,
        step=HOUR,
        not_before=wall(BERLIN, MONDAY, 10),
        not_after=wall(BERLIN, MONDAY, 12),
    )
    assert starts(found, BERLIN) == ["10:00", "11:00", "12:00"]
    assert found[-1].end == wall(BERLIN, MONDAY, 14)


def test_bookable_slots_with_bounds_outside_the_window_find_nothing() -> None:
    window = days(BERLIN, MONDAY)
    after_it = window.end + HOUR
    assert (
        bookable_slots(window, HOUR, tz=BERLIN, hours=ALWAYS, step=HOUR, not_before=after_it) == []
    )


# --- property --------------------------------------------------------------------------------

ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "America/Havana",
    "America/Santiago",
    "America/St_Johns",
    "Pacific/Chatham",
    "Asia/Kolkata",
    "UTC",
]
TRANSITION_DAYS = [
    date(2026, 3, 8),
    date(2026, 3, 29),
    date(2026, 4, 4),
    date(2026, 4, 5),
    date(2026, 9, 6),
    date(2026, 9, 27),
    date(2026, 10, 4),
    date(2026, 10, 25),
    date(2026, 11, 1),
]
QUARTERS = [time(h, m) for h in range(24) for m in (0, 15, 30, 45)]


@st.composite
def day_hours(draw: st.DrawFn) -> list[OpeningInterval]:
    cuts = sorted(draw(st.sets(st.sampled_from(QUARTERS), max_size=6)))
    if len(cuts) % 2 and draw(st.booleans()):
        cuts.append(time(0))  # the last interval closes at the end of the day
    return [OpeningInterval(a, b) for a, b in zip(cuts[::2], cuts[1::2], strict=False)]


def quarter_instants(start: datetime, end: datetime) -> st.SearchStrategy[datetime]:
    count = int((end - start) / QUARTER)
    return st.integers(0, count).map(lambda i: start + i * QUARTER)


@st.composite
def searches(draw: st.DrawFn) -> dict[str, object]:
    tz = ZoneInfo(draw(st.sampled_from(ZONES)))
    day = draw(
        st.one_of(
            st.sampled_from(TRANSITION_DAYS),
            st.dates(min_value=date(2026, 1, 1), max_value=date(2026, 12, 31)),
        )
    )
    base = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(days=1)
    start = draw(quarter_instants(base, base + timedelta(days=1)))
    window = TimeSpan(start, start + draw(st.integers(1, 4 * 24 * 3)) * QUARTER)
    week = [
        draw(day_hours()) if draw(st.integers(0, 4)) else [iv("00:00", "00:00")] for _ in range(7)
    ]
    inside = quarter_instants(window.start - 4 * HOUR, window.end + 4 * HOUR)

    def some_span(max_quarters: int) -> TimeSpan:
        first = draw(inside)
        return TimeSpan(first, first + draw(st.integers(1, max_quarters)) * QUARTER)

    blackouts: list[Blackout] = []
    for _ in range(draw(st.integers(0, 2))):
        if draw(st.booleans()):
            blackouts.append(span_blackout(some_span(16)))
        else:
            first_day = day + timedelta(days=draw(st.integers(-2, 3)))
            last_day = first_day + timedelta(days=draw(st.integers(0, 1)))
            blackouts.append(day_blackout(first_day, last_day, yearly=draw(st.booleans())))
    busy = [some_span(12) for _ in range(draw(st.integers(0, 6)))]
    return {
        "tz": tz,
        "window": window,
        "hours": WeeklyHours(week),
        "blackouts": blackouts,
        "busy": busy,
        "before": draw(st.integers(0, 3)) * QUARTER,
        "after": draw(st.integers(0, 3)) * QUARTER,
        "duration": draw(st.integers(1, 12)) * QUARTER,
        "step": draw(st.sampled_from([1, 2, 3, 4, 6])) * QUARTER,
        "not_before": draw(st.none() | inside),
        "not_after": draw(st.none() | inside),
    }


def open_at(t: datetime, tz: ZoneInfo, week: WeeklyHours, blackouts: Sequence[Blackout]) -> bool:
    """Whether the resource is open at instant ``t``, straight from the definitions."""
    day = t.astimezone(tz).date()
    if any(b.covers_day(day) for b in blackouts):
        return False
    if any(b.span is not None and b.span.start <= t < b.span.end for b in blackouts):
        return False
    next_midnight = resolve_wall_time(datetime.combine(day + timedelta(days=1), time(0)), tz)
    for interval in week.days[day.weekday()]:
        opens = resolve_wall_time(datetime.combine(day, interval.opens), tz)
        closes = (
            next_midnight
            if interval.closes == time(0)
            else resolve_wall_time(datetime.combine(day, interval.closes), tz)
        )
        if opens <= t < closes:
            return True
    return False


def expected_starts(case: dict[str, object]) -> set[datetime]:
    """Every acceptable start, by brute force over every aligned wall time of every local day."""
    tz, window = case["tz"], case["window"]
    assert isinstance(tz, ZoneInfo)
    assert isinstance(window, TimeSpan)
    duration, step = case["duration"], case["step"]
    assert isinstance(duration, timedelta)
    assert isinstance(step, timedelta)
    busy: list[TimeSpan] = case["busy"]  # type: ignore[assignment]
    not_before: datetime | None = case["not_before"]  # type: ignore[assignment]
    not_after: datetime | None = case["not_after"]  # type: ignore[assignment]
    open_cache: dict[datetime, bool] = {}

    def is_open(t: datetime) -> bool:
        if t not in open_cache:
            open_cache[t] = open_at(t, tz, case["hours"], case["blackouts"])  # type: ignore[arg-type]
        return open_cache[t]

    found = set()
    day = window.start.astimezone(tz).date()
    while day <= window.end.astimezone(tz).date():
        midnight = datetime.combine(day, time(0))
        k = 0
        while (wall_time := midnight + k * step).date() == day:
            k += 1
            for fold in (0, 1):
                s = wall_time.replace(tzinfo=tz, fold=fold).astimezone(UTC)
                if s.astimezone(tz).replace(tzinfo=None) != wall_time:
                    continue  # this wall time does not exist
                e = s + duration
                if s < window.start or e > window.end:
                    continue
                if (not_before and s < not_before) or (not_after and s > not_after):
                    continue
                block = TimeSpan(s - case["before"], e + case["after"])  # type: ignore[operator]
                if any(block.overlaps(b) for b in busy):
                    continue
                if all(is_open(s + i * QUARTER) for i in range(int(duration / QUARTER))):
                    found.add(s)
        day += timedelta(days=1)
    return found


@given(searches())
def test_slots_are_exactly_the_aligned_open_free_spans(case: dict[str, object]) -> None:
    tz: ZoneInfo = case["tz"]  # type: ignore[assignment]
    window: TimeSpan = case["window"]  # type: ignore[assignment]
    week: WeeklyHours = case["hours"]  # type: ignore[assignment]
    blackouts: list[Blackout] = case["blackouts"]  # type: ignore[assignment]
    busy: list[TimeSpan] = case["busy"]  # type: ignore[assignment]
    before: timedelta = case["before"]  # type: ignore[assignment]
    after: timedelta = case["after"]  # type: ignore[assignment]
    duration: timedelta = case["duration"]  # type: ignore[assignment]
    step: timedelta = case["step"]  # type: ignore[assignment]
    bounds = {"not_before": case["not_before"], "not_after": case["not_after"]}

    open_ = open_windows(window, tz, week, blackouts)
    free = free_windows(open_, busy, buffer_before=before, buffer_after=after)
    found = slots(free, duration, step=step, tz=tz, **bounds)  # type: ignore[arg-type]

    for slot in found:
        assert slot.duration == duration
        assert any(w.contains(slot) for w in open_)
        assert check_span(slot, tz, week, blackouts).ok
        assert not any(slot.widened(before, after).overlaps(b) for b in busy)
        assert aligned(slot.start, step, tz)
    assert [s.start for s in found] == sorted({s.start for s in found})
    assert {s.start for s in found} == expected_starts(case)

    assert first_fit(free, duration, step=step, tz=tz, **bounds) == (  # type: ignore[arg-type]
        found[0] if found else None
    )
    assert found == bookable_slots(
        window,
        duration,
        tz=tz,
        hours=week,
        blackouts=blackouts,
        busy_blocks=busy,
        buffer_before=before,
        buffer_after=after,
        step=step,
        **bounds,  # type: ignore[arg-type]
    )
    for w in open_:
        assert window.contains(w)
    assert all(a.end < b.start for a, b in itertools.pairwise(open_))
    assert all(a.end < b.start for a, b in itertools.pairwise(free))
