from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import attrs
import pytest

from reserver.core.errors import ValidationError
from reserver.core.spans import (
    NAIVE_HINT,
    TimeSpan,
    day_shape,
    local_day_span,
    local_days,
    local_instant,
    local_midnight,
    require_aware,
    resolve_wall_time,
    zone,
)

NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
T0 = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 1, 10, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize("field", ["start", "end"])
def test_naive_datetime_is_refused_naming_the_field_and_the_hint(field: str) -> None:
    naive = datetime(2026, 1, 10, 9, 0)  # noqa: DTZ001
    aware = {"start": T0, "end": T0 + HOUR}
    aware[field] = naive if field == "start" else naive + HOUR
    with pytest.raises(ValidationError) as caught:
        TimeSpan(aware["start"], aware["end"])
    assert caught.value.fields == {field: NAIVE_HINT}
    assert field in str(caught.value)
    assert "UTC offset" in str(caught.value)


def test_require_aware_names_the_field_and_refuses_non_datetimes() -> None:
    with pytest.raises(ValidationError) as naive:
        require_aware(datetime(2026, 1, 10), "not_before")  # noqa: DTZ001
    assert naive.value.fields == {"not_before": NAIVE_HINT}
    with pytest.raises(ValidationError) as wrong:
        require_aware("2026-01-10T09:00:00Z", "when")  # type: ignore[arg-type]
    assert "when" in wrong.value.fields


def test_end_not_after_start_is_refused_naming_end() -> None:
    with pytest.raises(ValidationError) as equal:
        TimeSpan(T0, T0)
    assert set(equal.value.fields) == {"end"}
    with pytest.raises(ValidationError) as before:
        TimeSpan(T0, T0 - timedelta(microseconds=1))
    assert set(before.value.fields) == {"end"}


def test_evolve_revalidates() -> None:
    span = TimeSpan(T0, T0 + HOUR)
    with pytest.raises(ValidationError):
        attrs.evolve(span, end=T0)


def test_instants_are_normalized_to_utc_and_compare_as_instants() -> None:
    berlin_nine = datetime(2026, 1, 10, 10, 0, tzinfo=BERLIN)  # 09:00 UTC
    offset_nine = datetime(2026, 1, 10, 4, 0, tzinfo=timezone(timedelta(hours=-5)))
    span = TimeSpan(berlin_nine, berlin_nine + HOUR)
    assert span.start == T0
    assert span.start.tzinfo is UTC
    assert span.end.tzinfo is UTC
    assert span.start.utcoffset() == timedelta(0)
    assert TimeSpan(offset_nine, offset_nine + HOUR) == TimeSpan(T0, T0 + HOUR)
    assert hash(TimeSpan(offset_nine, offset_nine + HOUR)) == hash(span)


def test_duration_is_exact_elapsed_time_across_dst() -> None:
    # 00:00 to 06:00 local on the night New York springs forward is five hours.
    start = datetime(2026, 3, 8, 0, 0, tzinfo=NEW_YORK)
    end = datetime(2026, 3, 8, 6, 0, tzinfo=NEW_YORK)
    assert TimeSpan(start, end).duration == timedelta(hours=5)
    assert TimeSpan.starting(T0, timedelta(minutes=90)).end == T0 + timedelta(minutes=90)


def test_touching_spans_do_not_overlap() -> None:
    first, second = TimeSpan(at(9), at(10)), TimeSpan(at(10), at(11))
    assert not first.overlaps(second)
    assert not second.overlaps(first)


@pytest.mark.parametrize(
    ("other", "expected"),
    [
        (TimeSpan(at(8), at(9, 1)), True),
        (TimeSpan(at(9, 59), at(11)), True),
        (TimeSpan(at(9, 15), at(9, 45)), True),
        (TimeSpan(at(8), at(11)), True),
        (TimeSpan(at(9), at(10)), True),
        (TimeSpan(at(7), at(9)), False),
        (TimeSpan(at(10), at(12)), False),
    ],
)
def test_overlap_is_half_open(other: TimeSpan, expected: bool) -> None:
    span = TimeSpan(at(9), at(10))
    assert span.overlaps(other) is expected
    assert other.overlaps(span) is expected


def test_contains_includes_the_edges() -> None:
    span = TimeSpan(at(9), at(12))
    assert span.contains(TimeSpan(at(9), at(12)))
    assert span.contains(TimeSpan(at(10), at(11)))
    assert not span.contains(TimeSpan(at(8, 59), at(10)))
    assert not span.contains(TimeSpan(at(11), at(12, 1)))


def test_widened_and_shifted() -> None:
    span = TimeSpan(at(9), at(10))
    assert span.widened(timedelta(minutes=15), timedelta(minutes=5)) == TimeSpan(
        at(8, 45), at(10, 5)
    )
    assert span.shifted(HOUR) == TimeSpan(at(10), at(11))
    # Without buffers the block is the span itself: equal, and no second object to keep.
    assert span.widened(timedelta(0), timedelta(0)) is span
    assert span.widened(timedelta(0), timedelta(minutes=5)) == TimeSpan(at(9), at(10, 5))


def test_spans_order_by_start_then_end() -> None:
    spans = [TimeSpan(at(10), at(11)), TimeSpan(at(9), at(12)), TimeSpan(at(9), at(10))]
    assert sorted(spans) == [spans[2], spans[1], spans[0]]


def test_str_is_iso_half_open() -> None:
    assert str(TimeSpan(at(9), at(10))) == "[2026-01-10T09:00:00+00:00, 2026-01-10T10:00:00+00:00)"


@pytest.mark.parametrize(
    "name", ["Mars/Olympus_Mons", "europe/berlin", "", "Europe", "../etc/passwd"]
)
def test_unknown_zone_is_a_validation_error_naming_the_field(name: str) -> None:
    with pytest.raises(ValidationError) as caught:
        zone(name, "timezone")
    assert set(caught.value.fields) == {"timezone"}


def test_zone_refuses_non_strings() -> None:
    with pytest.raises(ValidationError) as caught:
        zone(None, "tz")  # type: ignore[arg-type]
    assert set(caught.value.fields) == {"tz"}


def test_known_zone_is_returned() -> None:
    assert zone("Asia/Kolkata") == ZoneInfo("Asia/Kolkata")


def test_gap_wall_time_moves_forward_by_the_gap() -> None:
    instant = local_instant(date(2026, 3, 8), time(2, 30), NEW_YORK)
    local = instant.astimezone(NEW_YORK)
    assert (local.hour, local.minute, local.utcoffset()) == (3, 30, timedelta(hours=-4))
    # Lord Howe's gap is 30 minutes: 02:15 becomes 02:45.
    howe = local_instant(date(2026, 10, 4), time(2, 15), LORD_HOWE).astimezone(LORD_HOWE)
    assert (howe.hour, howe.minute, howe.utcoffset()) == (2, 45, timedelta(hours=11))


def test_ambiguous_wall_time_takes_the_first_instant() -> None:
    instant = resolve_wall_time(datetime.combine(date(2026, 11, 1), time(1, 30)), NEW_YORK)
    assert instant == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT (-04:00)
    assert instant.tzinfo is UTC


def test_local_day_spans_are_23_24_or_25_hours() -> None:
    assert local_day_span(date(2026, 3, 8), NEW_YORK).duration == timedelta(hours=23)
    assert local_day_span(date(2026, 3, 9), NEW_YORK).duration == timedelta(hours=24)
    assert local_day_span(date(2026, 11, 1), NEW_YORK).duration == timedelta(hours=25)
    assert local_day_span(date(2026, 10, 4), LORD_HOWE).duration == timedelta(hours=23, minutes=30)
    week = local_day_span(date(2026, 3, 2), BERLIN, days=7)
    assert week.start == local_midnight(date(2026, 3, 2), BERLIN)
    assert week.end == local_midnight(date(2026, 3, 9), BERLIN)
    with pytest.raises(ValidationError):
        local_day_span(date(2026, 3, 2), BERLIN, days=0)


def test_local_days_lists_every_local_date_touched_end_exclusive() -> None:
    span = TimeSpan(
        datetime(2026, 1, 10, 23, 0, tzinfo=BERLIN), datetime(2026, 1, 12, 0, 0, tzinfo=BERLIN)
    )
    assert local_days(span, BERLIN) == [date(2026, 1, 10), date(2026, 1, 11)]
    assert local_days(span, NEW_YORK) == [date(2026, 1, 10), date(2026, 1, 11)]


def test_day_shape_of_an_ordinary_day_is_one_regular_stretch() -> None:
    shape = day_shape(date(2026, 3, 9), NEW_YORK)
    assert shape.regular
    assert (shape.start, shape.end) == (
        datetime(2026, 3, 9, 4, tzinfo=UTC),
        datetime(2026, 3, 10, 4, tzinfo=UTC),
    )
    assert [tuple(s) for s in shape.stretches] == [(shape.start, shape.end, shape.start)]


def test_day_shape_splits_at_the_transition() -> None:
    spring = day_shape(date(2026, 3, 8), NEW_YORK)
    assert not spring.regular
    assert [(s.start.hour, s.end.hour) for s in spring.stretches] == [(5, 7), (7, 4)]
    # Each stretch's midnight turns elapsed time into wall time: 07:00 UTC shows 03:00.
    assert spring.stretches[1].start - spring.stretches[1].midnight == timedelta(hours=3)
    howe = day_shape(date(2026, 10, 4), LORD_HOWE)
    assert howe.stretches[1].start == datetime(2026, 10, 3, 15, 30, tzinfo=UTC)
    assert howe.stretches[1].start - howe.stretches[1].midnight == timedelta(hours=2, minutes=30)


def test_day_shape_when_midnight_repeats_starts_at_the_first_one() -> None:
    # Havana falls back from 01:00 to 00:00 on 2026-11-01: midnight happens twice.
    shape = day_shape(date(2026, 11, 1), ZoneInfo("America/Havana"))
    assert shape.start == datetime(2026, 11, 1, 4, tzinfo=UTC)
    assert shape.end - shape.start == timedelta(hours=25)
    assert [s.start - s.midnight for s in shape.stretches] == [timedelta(0), timedelta(0)]


@pytest.mark.parametrize(
    ("name", "day"),
    [
        ("America/New_York", date(2026, 3, 8)),
        ("America/New_York", date(2026, 11, 1)),
        ("Australia/Lord_Howe", date(2026, 4, 5)),
        ("America/Havana", date(2026, 3, 8)),
        ("America/Santiago", date(2026, 4, 4)),
        ("Asia/Kolkata", date(2026, 3, 8)),
    ],
)
def test_day_shape_at_is_local_instant(name: str, day: date) -> None:
    tz = ZoneInfo(name)
    shape = day_shape(day, tz)
    for minutes in range(0, 24 * 60, 5):
        wall_time = time(minutes // 60, minutes % 60)
        assert shape.at(wall_time) == local_instant(day, wall_time, tz)
