"""Clocks: the system's, and a fixed one that tests and simulations move by hand."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from reserver.core.spans import require_aware


class SystemClock:
    """The real time; the only place in Reserver that calls ``datetime.now``."""

    def now(self) -> datetime:
        """Return the current time in UTC."""
        return datetime.now(UTC)


class FixedClock:
    """A clock that stands still until told to move; safe to share between threads."""

    def __init__(self, now: datetime) -> None:
        self._now = require_aware(now, "now")
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """Return the time this clock was set to."""
        with self._lock:
            return self._now

    def set(self, now: datetime) -> None:
        """Jump to ``now``."""
        with self._lock:
            self._now = require_aware(now, "now")

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by ``delta`` and return the new time."""
        with self._lock:
            self._now += delta
            return self._now


if TYPE_CHECKING:
    from reserver.core.ports import Clock

    _system: type[Clock] = SystemClock
    _fixed: type[Clock] = FixedClock
