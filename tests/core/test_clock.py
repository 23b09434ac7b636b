from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from reserver.core.adapters.clock import FixedClock, SystemClock
from reserver.core.errors import ValidationError
from reserver.core.ports import Clock
from reserver.core.testing import ClockContract

START = datetime(2030, 3, 1, 12, 0, tzinfo=UTC)


class TestSystemClock(ClockContract):
    @pytest.fixture
    def clock(self) -> Clock:
        return SystemClock()


class TestFixedClock(ClockContract):
    @pytest.fixture
    def clock(self) -> Clock:
        return FixedClock(START)


def test_fixed_clock_stands_still_until_moved() -> None:
    clock = FixedClock(START)
    assert clock.now() == clock.now() == START
    assert clock.advance(timedelta(minutes=5)) == START + timedelta(minutes=5)
    assert clock.now() == START + timedelta(minutes=5)
    clock.set(START - timedelta(days=1))
    assert clock.now() == START - timedelta(days=1)


def test_fixed_clock_keeps_utc_when_given_another_offset() -> None:
    clock = FixedClock(datetime(2030, 3, 1, 13, 0, tzinfo=timezone(timedelta(hours=1))))
    assert clock.now() == START
    assert clock.now().utcoffset() == timedelta(0)


def test_fixed_clock_refuses_naive_datetimes() -> None:
    with pytest.raises(ValidationError, match="UTC offset"):
        FixedClock(datetime(2030, 3, 1, 12, 0))  # noqa: DTZ001
    clock = FixedClock(START)
    with pytest.raises(ValidationError, match="UTC offset"):
        clock.set(datetime(2030, 3, 1, 12, 0))  # noqa: DTZ001
    assert clock.now() == START
