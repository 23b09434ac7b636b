"""Ports: what the core needs from the outside world, as Protocols.

Each docstring is the contract; ``reserver.core.testing.contracts`` holds its executable copy,
which every adapter runs. Every datetime crosses a port aware; every repository raises
``NotFoundError`` for a missing object (never returns ``None`` from ``get``) and surfaces driver
failures as ``StorageError``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol, TypeVar

import attrs

from reserver.core.events import OutboxMessage
from reserver.core.identity.models import (
    Action,
    ApiKey,
    AuthorizationCode,
    ClientId,
    CustomRole,
    Grant,
    Invite,
    OAuthClient,
    OAuthToken,
    RefreshToken,
    SessionId,
    User,
    UserQuery,
)
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

T = TypeVar("T")


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
    - ``busy_blocks`` gives, for each resource its own window, the ``(resource_id, block)``
      pairs of the blocking reservations whose block overlaps that window, by block start then
      resource: what slot searches need, without whole reservations, in one read.
    - ``held_by`` returns ``holder``'s blocking reservations that overlap ``span`` (quotas).
    - ``find`` filters, sorts (start, then id) and paginates on the storage's side;
      ``overlapping`` and ``held_by`` compare the span, ``blocking_overlaps`` the block.
    - ``add`` refuses an overlapping blocking reservation or a taken id with ``ConflictError``
      at the latest when the unit of work ends (an adapter may send the insert with its
      COMMIT); the whole unit is then undone. The core checks overlaps before it adds, so
      this wall only stops a lost race. A ``ConflictError`` from ``update`` comes at once
      and leaves the unit of work usable.
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
    def busy_blocks(
        self, windows: Mapping[ResourceId, TimeSpan]
    ) -> Sequence[tuple[ResourceId, TimeSpan]]: ...
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
    """Business hours per scope; ``get`` returns ``None`` where a scope has none of its own.

    ``nearest`` returns the hours of the first of ``scopes`` (in the order given) that has any,
    in one round trip, or ``None``.
    """

    def get(self, scope: Scope) -> WeeklyHours | None: ...
    def nearest(self, scopes: Sequence[Scope]) -> WeeklyHours | None: ...
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


class UserRepository(Protocol):
    """User accounts inside one unit of work.

    - ``add`` raises ``ConflictError`` when the id, the username (case-insensitively) or the
      e-mail (case-insensitively) is taken; the check and the write are atomic.
    - ``get``, ``get_by_username`` and ``get_by_email`` raise ``NotFoundError``; the last two
      match case-insensitively (usernames are stored lower-cased).
    - ``update`` raises ``ConflictError`` when the stored version is not ``expected_version``
      (or the new e-mail is another user's); the stored copy gets the caller's version.
    - ``find`` filters (``text`` a case-insensitive literal substring of username, display
      name or e-mail; ``role``/``custom_role`` membership; ``active``), sorts by username and
      paginates on the storage's side; ``count`` counts every user.
    """

    def add(self, user: User) -> None: ...
    def get(self, user_id: UserId) -> User: ...
    def get_by_username(self, username: str) -> User: ...
    def get_by_email(self, email: str) -> User: ...
    def update(self, user: User, *, expected_version: int) -> None: ...
    def find(self, query: UserQuery, page: PageRequest) -> Page[User]: ...
    def count(self) -> int: ...


class SessionRepository(Protocol):
    """Login sessions as families of refresh tokens, each stored as its SHA-256 hex digest.

    - ``add`` raises ``ConflictError`` for a hash already stored.
    - ``get_by_hash`` raises ``NotFoundError``.
    - ``use`` rotates a token: it sets ``used_at`` on a token neither used nor revoked, of a
      session not revoked, and returns ``True``, or returns ``False`` (used, revoked, of a
      revoked session, or unknown); atomic, so of two concurrent uses exactly one gets ``True``.
    - ``revoke_family`` sets ``revoked_at`` on every token of the family not yet revoked;
      ``revoke_user`` does so for every family of the user but ``keep_family`` and returns how
      many families it revoked (those with a token not yet revoked).
    - ``is_revoked`` is true for a family that is unknown or has any revoked token: once
      revoked, a session stays dead, even for a token a racing refresh added after the revoke.
    """

    def add(self, token: RefreshToken) -> None: ...
    def get_by_hash(self, token_hash: str) -> RefreshToken: ...
    def use(self, token_hash: str, at: datetime) -> bool: ...
    def revoke_family(self, family_id: SessionId, at: datetime) -> None: ...
    def revoke_user(
        self, user_id: UserId, at: datetime, *, keep_family: SessionId | None = None
    ) -> int: ...
    def is_revoked(self, family_id: SessionId) -> bool: ...


class BackupCodeRepository(Protocol):
    """MFA backup codes, stored as SHA-256 hex digests.

    - ``replace`` drops every code of the user and stores ``hashes`` as unused.
    - ``use`` marks an unused code used and returns ``True``, or returns ``False`` (unknown or
      used): atomic, so of two concurrent uses of one code exactly one gets ``True``.
    - ``remaining`` counts the user's unused codes.
    """

    def replace(self, user_id: UserId, hashes: Collection[str]) -> None: ...
    def use(self, user_id: UserId, code_hash: str, at: datetime) -> bool: ...
    def remaining(self, user_id: UserId) -> int: ...


class ApiKeyRepository(Protocol):
    """API keys; ``get`` and ``get_by_prefix`` raise ``NotFoundError``, prefixes are unique.

    ``add`` raises ``ConflictError`` for a taken id or prefix; ``for_user`` lists a user's
    keys (revoked ones too) oldest first; ``update`` stores ``last_used_at``/``revoked_at``.
    """

    def add(self, key: ApiKey) -> None: ...
    def get(self, key_id: str) -> ApiKey: ...
    def get_by_prefix(self, prefix: str) -> ApiKey: ...
    def for_user(self, user_id: UserId) -> Sequence[ApiKey]: ...
    def update(self, key: ApiKey) -> None: ...


class OAuthClientRepository(Protocol):
    """OAuth clients; ``get`` and ``delete`` raise ``NotFoundError``, lists are oldest first."""

    def add(self, client: OAuthClient) -> None: ...
    def get(self, client_id: ClientId) -> OAuthClient: ...
    def all(self) -> Sequence[OAuthClient]: ...
    def for_owner(self, owner: UserId) -> Sequence[OAuthClient]: ...
    def delete(self, client_id: ClientId) -> None: ...


class AuthorizationCodeRepository(Protocol):
    """Authorization codes, stored as SHA-256 hex digests.

    ``take`` marks an unused code used and returns it, atomically: of two concurrent takes of
    one code exactly one succeeds; a used or unknown code raises ``NotFoundError``.
    """

    def add(self, code: AuthorizationCode) -> None: ...
    def take(self, code_hash: str, at: datetime) -> AuthorizationCode: ...


class OAuthTokenRepository(Protocol):
    """OAuth access tokens, stored as SHA-256 hex digests.

    ``get_by_hash`` raises ``NotFoundError``; ``revoke`` sets ``revoked_at`` (a no-op for an
    unknown or revoked token); ``revoke_client`` revokes every live token of a client and
    returns how many.
    """

    def add(self, token: OAuthToken) -> None: ...
    def get_by_hash(self, token_hash: str) -> OAuthToken: ...
    def revoke(self, token_hash: str, at: datetime) -> None: ...
    def revoke_client(self, client_id: ClientId, at: datetime) -> int: ...


class RoleRepository(Protocol):
    """Custom roles by name (case-sensitive, as given); ``get``/``delete`` raise ``NotFoundError``.

    ``add`` raises ``ConflictError`` for a taken name; ``update`` replaces a role's
    permissions and description; ``all`` lists by name.
    """

    def add(self, role: CustomRole) -> None: ...
    def get(self, name: str) -> CustomRole: ...
    def update(self, role: CustomRole) -> None: ...
    def all(self) -> Sequence[CustomRole]: ...
    def delete(self, name: str) -> None: ...


class GrantRepository(Protocol):
    """Per-resource grants; one row per (resource, subject, action).

    - ``add`` raises ``ConflictError`` when the same grant exists; ``delete`` raises
      ``NotFoundError`` when it does not (``created_at`` is ignored when matching).
    - ``for_resource`` lists a resource's grants, ``for_subjects`` those naming any of the
      subjects; both sorted by (resource, action, subject).
    - ``restricted`` returns the ids of the resources having at least one grant of ``action``.
    """

    def add(self, grant: Grant) -> None: ...
    def delete(self, grant: Grant) -> None: ...
    def for_resource(self, resource_id: ResourceId) -> Sequence[Grant]: ...
    def for_subjects(self, subjects: Collection[str]) -> Sequence[Grant]: ...
    def restricted(self, action: Action) -> frozenset[ResourceId]: ...


class ThrottleRepository(Protocol):
    """Failed attempts per key (an account, a client address, or both), for backoff.

    ``record`` stores one failure at ``at``; ``failures_since`` returns the key's failures at
    or after ``since``, oldest first; ``clear`` forgets a key; ``prune`` drops failures older
    than ``before`` everywhere and returns how many.
    """

    def record(self, key: str, at: datetime) -> None: ...
    def failures_since(self, key: str, since: datetime) -> Sequence[datetime]: ...
    def clear(self, key: str) -> None: ...
    def prune(self, before: datetime) -> int: ...


class InviteRepository(Protocol):
    """Registration invites, stored as SHA-256 hex digests of their codes.

    ``take`` marks an unused invite used and returns it, atomically (single use); a used or
    unknown code raises ``NotFoundError``.
    """

    def add(self, invite: Invite) -> None: ...
    def take(self, code_hash: str, at: datetime) -> Invite: ...


class SettingRepository(Protocol):
    """System settings as text by key (``setup_complete``, ...); ``get`` gives ``None`` if unset."""

    def get(self, key: str) -> str | None: ...
    def put(self, key: str, value: str) -> None: ...


class IdentityRepositories(Protocol):
    """The identity side of one unit of work: accounts, sessions and access control.

    Executable form: ``reserver.core.testing.identity_storage.IdentityStorageContract``.
    """

    @property
    def users(self) -> UserRepository: ...
    @property
    def sessions(self) -> SessionRepository: ...
    @property
    def mfa(self) -> BackupCodeRepository: ...
    @property
    def api_keys(self) -> ApiKeyRepository: ...
    @property
    def clients(self) -> OAuthClientRepository: ...
    @property
    def codes(self) -> AuthorizationCodeRepository: ...
    @property
    def oauth_tokens(self) -> OAuthTokenRepository: ...
    @property
    def roles(self) -> RoleRepository: ...
    @property
    def grants(self) -> GrantRepository: ...
    @property
    def throttle(self) -> ThrottleRepository: ...
    @property
    def invites(self) -> InviteRepository: ...
    @property
    def settings(self) -> SettingRepository: ...


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
    @property
    def identity(self) -> IdentityRepositories: ...

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

    ``with storage.request_scope():`` groups the units of work one thread opens for one request
    (an HTTP request, a command): they may share one look at whether the data a storage caches
    (configuration, accounts and sessions: what changes rarely) is still current, taken at the
    scope's first unit, so that such data is as of the request's start, the rest as of each
    unit's start. A unit still sees what an earlier unit of the scope wrote.

    ``storage.run_scoped(work)`` returns ``work()``, run in a request scope of its own (inside
    an open one: in that one). There a storage may serve cached data before it checks that
    the data is current, checking with the scope's first statement or at its end; if it was
    not, ``work`` runs again in a fresh scope, and only that run's outcome counts. The check
    comes before anything is written, so ``work`` may run twice as long as it acts only
    through this storage's units of work (the booking use cases run in it).
    Executable form: ``reserver.core.testing.contracts.StorageContract``.
    """

    def transaction(self, *, readonly: bool = False) -> AbstractContextManager[Transaction]: ...
    def request_scope(self) -> AbstractContextManager[None]: ...
    def run_scoped(self, work: Callable[[], T]) -> T: ...
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
