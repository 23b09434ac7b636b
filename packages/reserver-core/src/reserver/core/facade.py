"""The ``Reserver`` facade: every use case, grouped by area, over the ports you pass in."""

from __future__ import annotations

from collections.abc import Sequence

from reserver.core.ports import Clock, Storage
from reserver.core.serialization import make_converter
from reserver.core.services.availability import AlternativeFinder, AvailabilityService
from reserver.core.services.context import ServiceContext
from reserver.core.services.groups import GroupService
from reserver.core.services.outbox import OutboxDispatcher, Subscriber
from reserver.core.services.reservations import ReservationService
from reserver.core.services.resources import ResourceService
from reserver.core.services.schedules import ScheduleService
from reserver.core.services.series import SeriesService
from reserver.core.settings import CoreSettings


class Reserver:
    """One whole Reserver system over the ports you pass in.

    Use cases by area: ``r.resources``, ``r.groups``, ``r.schedules``, ``r.availability``,
    ``r.reservations``, ``r.series`` and ``r.outbox``. The HTTP API, the web UI and the CLI
    are views of this one object.
    """

    def __init__(
        self,
        *,
        storage: Storage,
        clock: Clock | None = None,
        settings: CoreSettings | None = None,
        subscribers: Sequence[Subscriber] = (),
    ) -> None:
        if clock is None:
            from reserver.core.adapters.clock import SystemClock

            clock = SystemClock()
        self.storage = storage
        self.clock = clock
        self.settings = settings or CoreSettings()
        ctx = ServiceContext(storage, clock, self.settings, make_converter())
        self.availability = AvailabilityService(ctx)
        self.reservations = ReservationService(ctx, AlternativeFinder(ctx, self.availability))
        self.resources = ResourceService(ctx, self.reservations)
        self.groups = GroupService(ctx)
        self.schedules = ScheduleService(ctx)
        self.series = SeriesService(ctx, self.reservations)
        self.outbox = OutboxDispatcher(ctx, subscribers)

    @classmethod
    def in_memory(
        cls, *, clock: Clock | None = None, settings: CoreSettings | None = None
    ) -> Reserver:
        """A whole working system in memory, in one line."""
        from reserver.core.adapters.memory import InMemoryStorage

        return cls(storage=InMemoryStorage(), clock=clock, settings=settings)

    @classmethod
    def from_url(
        cls, url: str, *, clock: Clock | None = None, settings: CoreSettings | None = None
    ) -> Reserver:
        """A system on the storage that ``url`` names (``memory://``, ``sqlite:///...``, ...)."""
        from reserver.core.registry import storage_from_url

        return cls(storage=storage_from_url(url), clock=clock, settings=settings)

    def close(self) -> None:
        """Release the storage's connections."""
        self.storage.close()
