"""Queue SQLite writers instead of letting them starve in SQLite's busy handler.

SQLite admits one writer at a time, and a writer that finds the database locked sleeps in
growing steps (up to 100 ms) before it tries again, so under contention some writers wait for
seconds (bench/RESULTS.md). Writers of one process queue on a lock, and writers of all processes
on an advisory file lock beside the database (``<db>-writer.lock``) taken with short polls, so
the database's own lock is almost always free when a writer reaches ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from reserver.core.errors import StorageError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: writers of one process still queue
    fcntl = None  # type: ignore[assignment]

_FIRST_POLL, _LAST_POLL = 0.0001, 0.0005


class WriterQueue:
    """One writer at a time per database file, across threads and processes."""

    def __init__(self, database: str | None, wait: float) -> None:
        self._lock = threading.Lock()
        usable = database not in (None, "", ":memory:") and fcntl is not None
        self._path = f"{database}-writer.lock" if usable else None
        self._wait = wait

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Wait for this writer's turn; ``StorageError`` if it does not come in time."""
        deadline = time.monotonic() + self._wait
        if not self._lock.acquire(timeout=self._wait):
            raise StorageError("the database stayed busy; try again")
        try:
            if self._path is None:
                yield
                return
            # Opened per turn: a descriptor inherited across fork would share the lock.
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                _lock_file(fd, deadline)
                try:
                    yield
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)
        finally:
            self._lock.release()


def _lock_file(fd: int, deadline: float) -> None:
    poll = _FIRST_POLL
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise StorageError("the database stayed busy; try again") from None
            time.sleep(poll)
            poll = min(poll * 2, _LAST_POLL)
