"""Test doubles for the ports: fixed time, recording deliveries, a storage that fails on demand."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, TypeVar

from reserver.core.adapters.clock import FixedClock
from reserver.core.adapters.recording import RecordingNotifier, RecordingSink
from reserver.core.errors import StorageError
from reserver.core.ports import Storage, Transaction

T = TypeVar("T")


class FailingStorage:
    """Wraps a Storage; ``fail_next`` makes the next units of work fail with ``StorageError``."""

    def __init__(self, inner: Storage) -> None:
        self.inner = inner
        self._left = 0
        self._reason = ""
        self._lock = threading.Lock()

    def fail_next(
        self, times: int = 1, *, reason: str = "database unavailable (simulated)"
    ) -> None:
        """Make the next ``times`` calls to ``transaction`` raise ``StorageError``."""
        with self._lock:
            self._left, self._reason = times, reason

    def transaction(self, *, readonly: bool = False) -> AbstractContextManager[Transaction]:
        """Open a unit of work on the wrapped storage, unless a failure is armed."""
        with self._lock:
            if self._left > 0:
                self._left -= 1
                raise StorageError(self._reason)
        return self.inner.transaction(readonly=readonly)

    def request_scope(self) -> AbstractContextManager[None]:
        """The wrapped storage's request scope."""
        return self.inner.request_scope()

    def run_scoped(self, work: Callable[[], T]) -> T:
        """The wrapped storage's ``run_scoped`` (its units of work may fail as armed)."""
        return self.inner.run_scoped(work)

    def close(self) -> None:
        """Close the wrapped storage."""
        self.inner.close()


if TYPE_CHECKING:
    _: type[Storage] = FailingStorage

__all__ = ["FailingStorage", "FixedClock", "RecordingNotifier", "RecordingSink"]
