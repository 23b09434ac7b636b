"""``InMemoryStorage``: the Storage port in this process's memory."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

from reserver.core.adapters.memory._state import MemoryState
from reserver.core.adapters.memory._unit import MemoryTransaction
from reserver.core.errors import ConfigurationError, StorageError

T = TypeVar("T")


class InMemoryStorage:
    """Storage in this process's memory, for tests, demos and embedding; lost when it ends.

    Deviations from the port: opening a unit of work while the same thread already has one
    open raises ``StorageError`` (a database would deadlock, or commit the two separately),
    and so does writing through a ``readonly=True`` unit. Read-only units take the same lock
    as writing ones.
    """

    def __init__(self) -> None:
        self.state = MemoryState()
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._closed = False

    @classmethod
    def from_url(cls, url: str) -> InMemoryStorage:
        """Build an empty storage from ``memory://`` (the ``reserver.storage`` entry point).

        Raises:
            ConfigurationError: the URL is not ``memory://``.
        """
        parts = urlsplit(url)
        if parts.scheme != "memory" or parts.netloc or parts.path not in ("", "/") or parts.query:
            raise ConfigurationError(f"in-memory storage takes the URL 'memory://', not {url!r}")
        return cls()

    def transaction(self, *, readonly: bool = False) -> MemoryTransaction:
        """Open a unit of work; it holds the storage's lock until it ends."""
        return MemoryTransaction(self, readonly=readonly)

    def request_scope(self) -> AbstractContextManager[None]:
        """Nothing to share: every unit of work reads the current state (see ``Storage``)."""
        return nullcontext()

    def run_scoped(self, work: Callable[[], T]) -> T:
        """``work()``: there is no cache to check (see ``Storage``)."""
        return work()

    def close(self) -> None:
        """Refuse every later unit of work; the data goes with the object."""
        self._closed = True

    def acquire(self) -> None:
        """Take the storage's lock for a unit of work (``MemoryTransaction`` calls this)."""
        if self._closed:
            raise StorageError("this storage is closed")
        me = threading.get_ident()
        # Only this thread can have stored its own id here, so reading without the lock is safe.
        if self._owner == me:
            raise StorageError(
                "a unit of work is already open in this thread; pass its transaction down "
                "instead of opening another"
            )
        self._lock.acquire()
        self._owner = me

    def release(self) -> None:
        """Give the lock back when a unit of work ends."""
        self._owner = None
        self._lock.release()


if TYPE_CHECKING:
    from reserver.core.ports import Storage

    _: type[Storage] = InMemoryStorage
