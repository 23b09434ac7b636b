"""Reads of rarely-changing tables, shared by a storage's units of work while nothing changed.

Every booking reads its resource, the grants on it, the nearest business hours and the
blackouts above it, and every request's log-in check its user and session; all of them change
rarely, and each read is a round trip to PostgreSQL. The database keeps generation counters
that triggers bump in every transaction writing one of their tables (``GENERATION_OF_TABLE``,
migration 0003); a storage keeps one cache per counter. A unit of work reads the counters
once, at its first cached read, and uses only entries filled at the same generation:

- a unit that sees a newer generation empties the cache and fills it afresh;
- a unit that sees an older one (it started before a change another unit has already seen)
  reads the database and stores nothing;
- a unit that has written one of the counter's tables itself reads the database from then on
  and stores nothing: its own writes are not committed, and may never be.

A value stored at generation ``g`` therefore comes from a state at or after ``g``, and is
dropped as soon as any unit of work sees a later generation. Values must be immutable.

Reading the counters is a round trip of its own on PostgreSQL. The units of work that
``SqlStorage.run_scoped`` runs skip it: they take what the cache holds (``peek``), note the
generation it was filled at, and read the counters together with their first query (one
round trip for both), or at the end if they send none. A counter that moved since is
``StaleCache``, and ``run_scoped`` runs the work again, reading the counters first: nothing
of the first run was written, since the check precedes any write.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")
_ABSENT = object()


class ConfigCache:
    """Values read from the tables of one counter, tagged with one generation."""

    def __init__(self, size: int = 8192) -> None:
        self._size = size
        # One tuple, replaced whole: a reader sees a generation and the values filled at it.
        self._state: tuple[int, dict[Hashable, Any]] = (-1, {})
        self._lock = threading.Lock()

    def get(self, generation: int, key: Hashable, load: Callable[[], T]) -> T:
        """Return the value of ``key`` at ``generation``, calling ``load`` on a miss."""
        current, values = self._state
        if generation == current and key in values:
            return values[key]  # type: ignore[no-any-return]
        value = load()
        with self._lock:
            current, values = self._state
            if generation > current or len(values) >= self._size:
                values = {}
                self._state = (max(generation, current), values)
            if generation >= current:
                values[key] = value
        return value

    def peek(self, key: Hashable) -> tuple[int, Any] | None:
        """The generation the cache holds and its value of ``key``; ``None`` if it holds none."""
        current, values = self._state
        value = values.get(key, _ABSENT)
        return None if value is _ABSENT else (current, value)
