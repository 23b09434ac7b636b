"""Ports: what the core needs from the outside world, as Protocols.

Each docstring is the contract; ``reserver.core.testing.contracts`` holds its executable copy,
which every adapter runs. Every datetime crosses a port aware; every repository raises
``NotFoundError`` for a missing object (never returns ``None`` from ``get``) and surfaces driver
failures as ``StorageError``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol

import attrs

from reserver.core.events import OutboxMessage
from reserver.core.ids import (
    BlackoutId,
    EventId,
    GroupId,
    ReservationId,
    ResourceId,
    SeriesId,
    UserId,
)
from reserver.core.models import Group, HistoryEntry, Reservation, Resource, Series
from reserver.core.queries import Page, PageRequest, ReservationQuery, ResourceQuery
from reserver.core.schedules import Blackout, Scope, WeeklyHours
from reserver.core.spans import TimeSpan


class Clock(Protocol):
    """Tells the time; the only way the core learns what time it is."""

    def now(self) -> datetime:
        """Return the current time, timezone-aware, in UTC."""
        ...


class ResourceRepository(Protocol):
    """Resources inside one unit of work.

    - ``update`` raises ``ConflictError`` when the stored version is not ``expected_version``;
      the stored copy gets the version the caller set on ``resource``.
    - ``find`` filters, sorts (case-folded name, then id) and paginates on the storage's side:
      ``group_ids`` are already whole subtrees, ``location`` matches case-insensitively,
      ``text`` is a case-insensitive literal substring of name or description (no wildcards).
    - ``get_many`` skips unknown ids; ``update`` of a missing id raises ``NotFoundError``.
    - ``tag_counts`` and ``replace_tag`` cover retired resources too; ``replace_tag`` (``new``
      ``None`` deletes) bumps the version of each resource it changes and returns their number.
    """

    def add(self, resource: Resource) -> None: ...
    def get(self, resource_id: ResourceId) -> Resource: ...
    def get_many(self, resource_ids: Collection[ResourceId]) -> Sequence[Resource]: ...
    def update(self, resource: Resource, *, expected_version: int) -> None: ...
    def find(self, query: ResourceQuery, page: PageRequest) -> Page[Resource]: ...
    def tag_counts(self) -> Mapping[str, int]: ...
    def replace_tag(self, old: str, new: str | None) -> int: ...


class GroupRepository(Protocol):
    """The group tree inside one unit of work; ``subtree`` is the group and all its descendants."""

    def add(self, group: Group) -> None: ...
    def get(self, group_id: GroupId) -> Group: ...
    def update(self, group: Group) -> None: ...
    def delete(self, group_id: GroupId) -> None: ...
    def all(self) -> Sequence[Group]: ...
    def subtree(self, group_id: GroupId) -> Sequence[Group]: ...


class ReservationRepository(Protocol):
    """Reservations inside one unit of work.

    - ``add`` and ``update`` raise ``ConflictError`` if the reservation is blocking and its
      ``block`` overlaps the block of another blocking reservation of the same resource; the
      check and the write are atomic, across threads and processes.
    - ``update`` raises ``ConflictError`` when the stored version is not ``expected_version``.
    - ``blocking_overlaps`` returns the blocking reservations of the given resources whose
      block overlaps ``span``, ordered by block start; it stays logarithmic in the number of
      reservations per resource.
    - ``held_by`` returns ``holder``'s blocking reservations that overlap ``span`` (quotas).
    - ``find`` filters, sorts (start, then id) and paginates on the storage's side;
      ``overlapping`` and ``held_by`` compare the span, ``blocking_overlaps`` the block.
    - A ``ConflictError`` from ``add`` or ``update`` leaves the unit of work usable (series
      that skip conflicting occurrences rely on it).
    """

    def add(self, reservation: Reservation) -> None: ...
    def get(self, reservation_id: ReservationId) -> Reservation: ...
    def update(self, reservation: Reservation, *, expected_version: int) -> None: ...
    def blocking_overlaps(
        self,
        resource_ids: Collection[ResourceId],
        span: TimeSpan,
        *,
        exclude: Collection[ReservationId] = (),
    ) -> Sequence[Reservation]: ...
    def held_by(self, holder: UserId, span: TimeSpan) -> Sequence[Reservation]: ...
    def find(self, query: ReservationQuery, page: PageRequest) -> Page[Reservation]: ...


class SeriesRepository(Protocol):
    """Recurring series inside one unit of work."""

    def add(self, series: Series) -> None: ...
    def get(self, series_id: SeriesId) -> Series: ...
    def update(self, series: Series) -> None: ...


class HistoryRepository(Protocol):
    """The append-only change history of reservations, oldest first."""

    def append(self, entry: HistoryEntry) -> None: ...
    def for_reservation(self, reservation_id: ReservationId) -> Sequence[HistoryEntry]: ...


class HoursRepository(Protocol):
    """Business hours per scope; ``get`` returns ``None`` where a scope has none of its own."""

    def get(self, scope: Scope) -> WeeklyHours | None: ...
    def put(self, scope: Scope, hours: WeeklyHours) -> None: ...
    def delete(self, scope: Scope) -> None: ...
    def all(self) -> Mapping[Scope, WeeklyHours]: ...


class BlackoutRepository(Protocol):
    """Blackouts; ``for_scopes`` returns those of any of the given scopes."""

    def add(self, blackout: Blackout) -> None: ...
    def get(self, blackout_id: BlackoutId) -> Blackout: ...
    def delete(self, blackout_id: BlackoutId) -> None: ...
    def for_scopes(self, scopes: Collection[Scope]) -> Sequence[Blackout]: ...


class OutboxRepository(Protocol):
    """Events awaiting delivery, written in the same unit of work as their change.

    - ``due`` returns undelivered messages whose ``next_attempt_at`` is unset or not after
      ``now``, oldest first; other dispatchers skip them until this unit of work ends.
    - ``save`` stores a message's new delivery state (attempts, next attempt, delivered).
    """

    def add(self, message: OutboxMessage) -> None: ...
    def due(self, now: datetime, limit: int) -> Sequence[OutboxMessage]: ...
    def save(self, message: OutboxMessage) -> None: ...
    def get(self, message_id: EventId) -> OutboxMessage: ...


class Transaction(Protocol):
    """One unit of work: everything done through it commits together or not at all.

    ``lock(key)`` serializes, until the unit of work ends, every transaction that locks the same
    key (quotas take the holder's key so that two bookings cannot both fit the last hour).
    """

    @property
    def resources(self) -> ResourceRepository: ...
    @property
    def groups(self) -> GroupRepository: ...
    @property
    def reservations(self) -> ReservationRepository: ...
    @property
    def series(self) -> SeriesRepository: ...
    @property
    def history(self) -> HistoryRepository: ...
    @property
    def hours(self) -> HoursRepository: ...
    @property
    def blackouts(self) -> BlackoutRepository: ...
    @property
    def outbox(self) -> OutboxRepository: ...

    def lock(self, key: str) -> None: ...


class Storage(Protocol):
    """Where Reserver keeps its state.

    ``with storage.transaction() as tx:`` opens a unit of work that commits when the block ends
    and rolls back when it raises. ``readonly=True`` promises no writes, so a storage may let such
    units run side by side. Overlapping blocking reservations are refused inside the unit of
    work, across processes too (DESIGN.md invariant 1). A busy database never surfaces as an
    error other than ``ConflictError`` (lost race) or ``StorageError`` (real failure). Opening a
    second writing unit of work in a thread that already has one open raises ``StorageError``
    (it could only deadlock or commit separately).
    Executable form: ``reserver.core.testing.contracts.StorageContract``.
    """

    def transaction(self, *, readonly: bool = False) -> AbstractContextManager[Transaction]: ...
    def close(self) -> None: ...


@attrs.frozen
class Notification:
    """One message to one person over one channel."""

    recipient: UserId
    channel: str
    subject: str
    body: str
    event_id: EventId


class Notifier(Protocol):
    """Delivers one notification; raises ``DeliveryError`` when it could not (it is retried)."""

    def deliver(self, notification: Notification) -> None: ...


@attrs.frozen
class WebhookDelivery:
    """One signed POST to one subscriber URL."""

    url: str
    event_id: EventId
    topic: str
    body: bytes
    headers: Mapping[str, str] = attrs.field(factory=dict)


class WebhookSink(Protocol):
    """POSTs one webhook delivery; returns the HTTP status, raises ``DeliveryError`` on failure."""

    def post(self, delivery: WebhookDelivery) -> int: ...


class PasswordHasher(Protocol):
    """Hashes secrets with a slow, salted KDF (argon2id or scrypt); ``verify`` is constant-time."""

    def hash(self, secret: str) -> str: ...
    def verify(self, secret: str, hashed: str) -> bool: ...
    def needs_rehash(self, hashed: str) -> bool: ...
