"""The ``Reserver`` facade: every use case, grouped by area, over the ports you pass in."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import TypeVar

from reserver.core.identity.access import AccessService
from reserver.core.identity.accounts import AccountService
from reserver.core.identity.keys import ApiKeyService
from reserver.core.identity.kit import IdentityKit
from reserver.core.identity.mfa import MfaService
from reserver.core.identity.oauth import OAuthService
from reserver.core.identity.service import IdentityService
from reserver.core.identity.sessions import SessionService
from reserver.core.identity.users import UserService
from reserver.core.ports import Clock, PasswordHasher, Storage
from reserver.core.serialization import make_converter
from reserver.core.services.availability import AlternativeFinder, AvailabilityService
from reserver.core.services.context import ServiceContext
from reserver.core.services.groups import GroupService
from reserver.core.services.outbox import OutboxDispatcher, Subscriber
from reserver.core.services.reservations import ReservationService
from reserver.core.services.resources import ResourceService
from reserver.core.services.schedules import ScheduleService
from reserver.core.services.series import SeriesService
from reserver.core.settings import CoreSettings, IdentitySettings

T = TypeVar("T")


class Reserver:
    """One whole Reserver system over the ports you pass in.

    Use cases by area: ``r.resources``, ``r.groups``, ``r.schedules``, ``r.availability``,
    ``r.reservations``, ``r.series``, ``r.outbox``, and identity: ``r.identity`` (setup,
    registration, log-in, sessions, self-service, MFA), ``r.users`` (administration),
    ``r.access`` (custom roles, per-resource grants), ``r.api_keys`` and ``r.oauth``. The HTTP
    API, the web UI and the CLI are views of this one object.

    ``identity`` defaults to a random signing key (sessions do not survive a restart);
    ``hasher`` defaults to scrypt with OWASP's parameters.

    Raises:
        ConfigurationError: a weak or default secret key outside development.
    """

    def __init__(
        self,
        *,
        storage: Storage,
        clock: Clock | None = None,
        settings: CoreSettings | None = None,
        subscribers: Sequence[Subscriber] = (),
        identity: IdentitySettings | None = None,
        hasher: PasswordHasher | None = None,
    ) -> None:
        if clock is None:
            from reserver.core.adapters.clock import SystemClock

            clock = SystemClock()
        if hasher is None:
            from reserver.core.adapters.hashing import ScryptPasswordHasher

            hasher = ScryptPasswordHasher()
        self.identity_settings = identity or IdentitySettings()
        self.identity_settings.check()
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
        kit = IdentityKit(ctx, self.identity_settings, hasher)
        accounts = AccountService(kit)
        self.api_keys = ApiKeyService(kit)
        self.oauth = OAuthService(kit)
        self.identity = IdentityService(
            accounts, SessionService(kit), MfaService(kit, accounts), self.api_keys, self.oauth
        )
        self.users = UserService(kit, accounts)
        self.access = AccessService(kit)

    @classmethod
    def in_memory(
        cls,
        *,
        clock: Clock | None = None,
        settings: CoreSettings | None = None,
        identity: IdentitySettings | None = None,
        hasher: PasswordHasher | None = None,
    ) -> Reserver:
        """A whole working system in memory, in one line."""
        from reserver.core.adapters.memory import InMemoryStorage

        return cls(
            storage=InMemoryStorage(),
            clock=clock,
            settings=settings,
            identity=identity,
            hasher=hasher,
        )

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        clock: Clock | None = None,
        settings: CoreSettings | None = None,
        identity: IdentitySettings | None = None,
        hasher: PasswordHasher | None = None,
    ) -> Reserver:
        """A system on the storage that ``url`` names (``memory://``, ``sqlite:///...``, ...)."""
        from reserver.core.registry import storage_from_url

        return cls(
            storage=storage_from_url(url),
            clock=clock,
            settings=settings,
            identity=identity,
            hasher=hasher,
        )

    def request_scope(self) -> AbstractContextManager[None]:
        """Group the use cases of one request (see ``Storage.request_scope``).

        Their units of work then share the storage's check of its caches. An adapter that can
        run a request twice uses ``run_scoped`` instead (the web app does), which saves more.
        """
        return self.storage.request_scope()

    def run_scoped(self, work: Callable[[], T]) -> T:
        """Run ``work``, the use cases of one request, in one scope (``Storage.run_scoped``).

        An adapter that can run a request twice (nothing it does lasts but through the use
        cases) wraps each request in it rather than in ``request_scope``: on PostgreSQL the
        request's first query then also checks the caches, one round trip fewer.
        """
        return self.storage.run_scoped(work)

    def close(self) -> None:
        """Release the storage's connections."""
        self.storage.close()
