"""What every use case shares: storage, clock, settings, and writing events to the outbox."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

import attrs
from cattrs.preconf.json import JsonConverter

from reserver.core.errors import PermissionDeniedError
from reserver.core.events import DomainEvent, OutboxMessage
from reserver.core.ids import EventId, UserId, new_id
from reserver.core.ports import Clock, Storage, Transaction
from reserver.core.principals import Permission, Principal
from reserver.core.settings import CoreSettings

E = TypeVar("E", bound=DomainEvent)
P = ParamSpec("P")
T = TypeVar("T")


@attrs.frozen
class ServiceContext:
    """The dependencies of the use cases, built once by the facade."""

    storage: Storage
    clock: Clock
    settings: CoreSettings
    converter: JsonConverter

    def now(self) -> datetime:
        """The current time, from the clock port only."""
        return self.clock.now()

    def emit(
        self, tx: Transaction, event_type: Callable[..., E], actor: UserId, **fields: Any
    ) -> E:
        """Record an event in the outbox of ``tx``: it commits, or vanishes, with the change."""
        event = event_type(id=EventId(new_id()), occurred_at=self.now(), actor=actor, **fields)
        tx.outbox.add(OutboxMessage(event))
        return event


def require(principal: Principal, permission: Permission, action: str) -> None:
    """Refuse ``action`` with ``PermissionDeniedError`` unless ``principal`` has ``permission``."""
    if not principal.has(permission):
        raise PermissionDeniedError(f"you may not {action} (needs the {permission.value!r} right)")


class _Service(Protocol):
    @property
    def _ctx(self) -> ServiceContext: ...


S = TypeVar("S", bound=_Service)


def scoped(method: Callable[Concatenate[S, P], T]) -> Callable[Concatenate[S, P], T]:
    """Run a use case in a scope of its own (``Storage.run_scoped``).

    For use cases that only read, or act only through their units of work: the storage may run
    them twice, and in exchange check its caches without a round trip of their own.
    """

    @functools.wraps(method)
    def in_scope(self: S, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._ctx.storage.run_scoped(lambda: method(self, *args, **kwargs))

    return in_scope
