"""One unit of work on the in-memory storage: the lock holder's view, with its undo log."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar

from reserver.core.adapters.memory._access import MemoryIdentity
from reserver.core.adapters.memory._catalogue import MemoryGroupRepository, MemoryResourceRepository
from reserver.core.adapters.memory._reservations import (
    MemoryHistoryRepository,
    MemoryReservationRepository,
    MemorySeriesRepository,
)
from reserver.core.adapters.memory._schedules import (
    MemoryBlackoutRepository,
    MemoryHoursRepository,
    MemoryOutboxRepository,
)
from reserver.core.adapters.memory._state import MemoryState
from reserver.core.errors import StorageError

if TYPE_CHECKING:
    from reserver.core.adapters.memory.storage import InMemoryStorage

K = TypeVar("K")
V = TypeVar("V")
Undo = Callable[[], object]


class MemoryTransaction:
    """One unit of work; the storage's lock is held from ``__enter__`` to ``__exit__``.

    Writing through a ``readonly`` unit, or through any unit after it ended, raises
    ``StorageError``.
    """

    __slots__ = (
        "_blackouts",
        "_groups",
        "_history",
        "_hours",
        "_identity",
        "_open",
        "_outbox",
        "_readonly",
        "_reservations",
        "_resources",
        "_series",
        "_storage",
        "state",
        "undo",
    )

    def __init__(self, storage: InMemoryStorage, *, readonly: bool) -> None:
        self._storage = storage
        self._readonly = readonly
        self._open = False
        self.undo: list[Undo] = []
        self.state: MemoryState = storage.state
        # Repositories are built on first use: most units touch two or three of the eight.
        self._resources: MemoryResourceRepository | None = None
        self._groups: MemoryGroupRepository | None = None
        self._reservations: MemoryReservationRepository | None = None
        self._series: MemorySeriesRepository | None = None
        self._history: MemoryHistoryRepository | None = None
        self._hours: MemoryHoursRepository | None = None
        self._blackouts: MemoryBlackoutRepository | None = None
        self._outbox: MemoryOutboxRepository | None = None
        self._identity: MemoryIdentity | None = None

    @property
    def resources(self) -> MemoryResourceRepository:
        """The resources of this unit of work."""
        repository = self._resources
        if repository is None:
            repository = self._resources = MemoryResourceRepository(self)
        return repository

    @property
    def groups(self) -> MemoryGroupRepository:
        """The groups of this unit of work."""
        repository = self._groups
        if repository is None:
            repository = self._groups = MemoryGroupRepository(self)
        return repository

    @property
    def reservations(self) -> MemoryReservationRepository:
        """The reservations of this unit of work."""
        repository = self._reservations
        if repository is None:
            repository = self._reservations = MemoryReservationRepository(self)
        return repository

    @property
    def series(self) -> MemorySeriesRepository:
        """The series of this unit of work."""
        repository = self._series
        if repository is None:
            repository = self._series = MemorySeriesRepository(self)
        return repository

    @property
    def history(self) -> MemoryHistoryRepository:
        """The history of this unit of work."""
        repository = self._history
        if repository is None:
            repository = self._history = MemoryHistoryRepository(self)
        return repository

    @property
    def hours(self) -> MemoryHoursRepository:
        """The hours of this unit of work."""
        repository = self._hours
        if repository is None:
            repository = self._hours = MemoryHoursRepository(self)
        return repository

    @property
    def blackouts(self) -> MemoryBlackoutRepository:
        """The blackouts of this unit of work."""
        repository = self._blackouts
        if repository is None:
            repository = self._blackouts = MemoryBlackoutRepository(self)
        return repository

    @property
    def outbox(self) -> MemoryOutboxRepository:
        """The outbox of this unit of work."""
        repository = self._outbox
        if repository is None:
            repository = self._outbox = MemoryOutboxRepository(self)
        return repository

    @property
    def identity(self) -> MemoryIdentity:
        """The identity repositories of this unit of work."""
        found = self._identity
        if found is None:
            found = self._identity = MemoryIdentity(self)
        return found

    def __enter__(self) -> MemoryTransaction:
        self._storage.acquire()
        self._open = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is not None:
                for step in reversed(self.undo):
                    step()
        finally:
            self._open = False
            self.undo = []
            self._storage.release()

    def lock(self, key: str) -> None:
        """Serialize on ``key``: a no-op, since the storage's lock already serializes every unit."""
        self.reading()

    def reading(self) -> MemoryState:
        """Return the state, or raise ``StorageError`` outside the unit's lifetime."""
        if not self._open:
            raise StorageError("this unit of work has ended; open a new one")
        return self.state

    def writing(self) -> list[Undo]:
        """Return the undo log to append to, or raise ``StorageError`` if writes are refused."""
        if not self._open:
            raise StorageError("this unit of work has ended; open a new one")
        if self._readonly:
            raise StorageError("a read-only unit of work cannot write")
        return self.undo

    def put(self, mapping: dict[K, V], key: K, value: V) -> None:
        """Set ``mapping[key]``, logging how to restore what was there."""
        undo = self.writing()
        if key in mapping:
            undo.append(partial(mapping.__setitem__, key, mapping[key]))
        else:
            undo.append(partial(mapping.pop, key))
        mapping[key] = value

    def drop(self, mapping: dict[K, V], key: K) -> None:
        """Remove ``mapping[key]`` if present, logging how to put it back."""
        undo = self.writing()
        if key in mapping:
            undo.append(partial(mapping.__setitem__, key, mapping.pop(key)))


if TYPE_CHECKING:
    from reserver.core.ports import Transaction

    _: type[Transaction] = MemoryTransaction
