"""Domain events: written to the outbox in the same transaction as the change they describe."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

import attrs

from reserver.core.ids import EventId, GroupId, ResourceId, UserId
from reserver.core.models import Group, Reservation, Resource, Series
from reserver.core.schedules import Blackout, Scope


@attrs.frozen(kw_only=True)
class DomainEvent:
    """Something that happened; ``id`` lets consumers drop a repeated delivery."""

    topic: ClassVar[str] = "event"
    id: EventId
    occurred_at: datetime
    actor: UserId


@attrs.frozen(kw_only=True)
class ResourceCreated(DomainEvent):
    """A resource was added."""

    topic: ClassVar[str] = "resource.created"
    resource: Resource


@attrs.frozen(kw_only=True)
class ResourceUpdated(DomainEvent):
    """A resource's details, status, group or policy changed."""

    topic: ClassVar[str] = "resource.updated"
    resource: Resource


@attrs.frozen(kw_only=True)
class ResourceRetired(DomainEvent):
    """A resource stopped taking bookings for good; its history stays."""

    topic: ClassVar[str] = "resource.retired"
    resource_id: ResourceId


@attrs.frozen(kw_only=True)
class GroupChanged(DomainEvent):
    """A group was created, renamed, moved or given a policy."""

    topic: ClassVar[str] = "group.changed"
    group: Group


@attrs.frozen(kw_only=True)
class GroupDeleted(DomainEvent):
    """An empty group was removed."""

    topic: ClassVar[str] = "group.deleted"
    group_id: GroupId


@attrs.frozen(kw_only=True)
class HoursChanged(DomainEvent):
    """The business hours of a scope were set or cleared."""

    topic: ClassVar[str] = "hours.changed"
    scope: Scope


@attrs.frozen(kw_only=True)
class BlackoutAdded(DomainEvent):
    """A blackout was added."""

    topic: ClassVar[str] = "blackout.added"
    blackout: Blackout


@attrs.frozen(kw_only=True)
class BlackoutRemoved(DomainEvent):
    """A blackout was removed."""

    topic: ClassVar[str] = "blackout.removed"
    blackout: Blackout


@attrs.frozen(kw_only=True)
class ReservationCreated(DomainEvent):
    """A reservation was made (confirmed, or pending approval)."""

    topic: ClassVar[str] = "reservation.created"
    reservation: Reservation


@attrs.frozen(kw_only=True)
class ReservationUpdated(DomainEvent):
    """A reservation was moved, resized or retitled."""

    topic: ClassVar[str] = "reservation.updated"
    reservation: Reservation
    previous: Reservation


@attrs.frozen(kw_only=True)
class ReservationCancelled(DomainEvent):
    """A reservation was cancelled; its slot is free again."""

    topic: ClassVar[str] = "reservation.cancelled"
    reservation: Reservation


@attrs.frozen(kw_only=True)
class SeriesCreated(DomainEvent):
    """A recurring series was booked; its occurrences have their own events."""

    topic: ClassVar[str] = "series.created"
    series: Series
    skipped: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class SetupCompleted(DomainEvent):
    """First-run setup created (or promoted) the first administrator."""

    topic: ClassVar[str] = "identity.setup_completed"
    user_id: UserId
    username: str


@attrs.frozen(kw_only=True)
class SetupReopened(DomainEvent):
    """Setup was reopened with the configured token, so it may run once more."""

    topic: ClassVar[str] = "identity.setup_reopened"
    client: str | None = None


@attrs.frozen(kw_only=True)
class UserRegistered(DomainEvent):
    """An account was created (by registration, invitation, setup or an administrator)."""

    topic: ClassVar[str] = "identity.user_registered"
    user_id: UserId
    username: str
    via: str


@attrs.frozen(kw_only=True)
class UserUpdated(DomainEvent):
    """A user's profile changed; ``fields`` names what changed."""

    topic: ClassVar[str] = "identity.user_updated"
    user_id: UserId
    fields: tuple[str, ...]


@attrs.frozen(kw_only=True)
class LoginSucceeded(DomainEvent):
    """A user logged in (password, plus a second factor where enabled)."""

    topic: ClassVar[str] = "identity.login_succeeded"
    user_id: UserId
    session_id: str
    client: str | None = None
    mfa: bool = False


@attrs.frozen(kw_only=True)
class LoginFailed(DomainEvent):
    """A log-in or second-factor attempt failed; ``reason`` says why (never the secret)."""

    topic: ClassVar[str] = "identity.login_failed"
    username: str
    reason: str
    client: str | None = None


@attrs.frozen(kw_only=True)
class LoginThrottled(DomainEvent):
    """An attempt was refused because of backoff (the lockout of this system: it ends)."""

    topic: ClassVar[str] = "identity.login_throttled"
    username: str
    retry_after_seconds: int
    client: str | None = None


@attrs.frozen(kw_only=True)
class SessionRevoked(DomainEvent):
    """Sessions ended: logout, password change, or a reused refresh token (``reason``)."""

    topic: ClassVar[str] = "identity.session_revoked"
    user_id: UserId
    reason: str
    session_id: str | None = None
    count: int = 1


@attrs.frozen(kw_only=True)
class PasswordChanged(DomainEvent):
    """A password was changed by its user, or reset by an administrator (``by_admin``)."""

    topic: ClassVar[str] = "identity.password_changed"
    user_id: UserId
    by_admin: bool = False


@attrs.frozen(kw_only=True)
class MfaChanged(DomainEvent):
    """Two-factor state changed: ``enrolled``, ``enabled``, ``disabled``, ``codes_regenerated``."""

    topic: ClassVar[str] = "identity.mfa_changed"
    user_id: UserId
    change: str


@attrs.frozen(kw_only=True)
class BackupCodeUsed(DomainEvent):
    """A backup code was spent; ``remaining`` are left."""

    topic: ClassVar[str] = "identity.backup_code_used"
    user_id: UserId
    remaining: int


@attrs.frozen(kw_only=True)
class RolesChanged(DomainEvent):
    """A user's built-in and custom roles were set."""

    topic: ClassVar[str] = "identity.roles_changed"
    user_id: UserId
    roles: tuple[str, ...]
    custom_roles: tuple[str, ...]


@attrs.frozen(kw_only=True)
class CustomRoleChanged(DomainEvent):
    """A custom role was created, changed or deleted (``deleted``)."""

    topic: ClassVar[str] = "identity.custom_role_changed"
    name: str
    permissions: tuple[str, ...]
    deleted: bool = False


@attrs.frozen(kw_only=True)
class GrantChanged(DomainEvent):
    """A per-resource grant was given or taken back (``revoked``)."""

    topic: ClassVar[str] = "identity.grant_changed"
    resource_id: ResourceId
    subject: str
    action: str
    revoked: bool = False


@attrs.frozen(kw_only=True)
class ApiKeyChanged(DomainEvent):
    """An API key was issued or revoked (``revoked``)."""

    topic: ClassVar[str] = "identity.api_key_changed"
    user_id: UserId
    key_id: str
    name: str
    scopes: tuple[str, ...]
    revoked: bool = False


@attrs.frozen(kw_only=True)
class OAuthClientChanged(DomainEvent):
    """An OAuth client was registered or deleted (``deleted``)."""

    topic: ClassVar[str] = "identity.oauth_client_changed"
    client_id: str
    owner: UserId
    deleted: bool = False


@attrs.frozen(kw_only=True)
class OAuthTokenIssued(DomainEvent):
    """An OAuth access token was issued to a client for a user."""

    topic: ClassVar[str] = "identity.oauth_token_issued"
    client_id: str
    user_id: UserId
    grant_type: str
    scopes: tuple[str, ...]


@attrs.frozen(kw_only=True)
class OAuthTokenRevoked(DomainEvent):
    """An OAuth token was revoked by its client."""

    topic: ClassVar[str] = "identity.oauth_token_revoked"
    client_id: str
    user_id: UserId


@attrs.frozen(kw_only=True)
class InviteCreated(DomainEvent):
    """An administrator created a registration invite."""

    topic: ClassVar[str] = "identity.invite_created"
    email: str | None = None


IDENTITY_EVENT_TYPES: tuple[type[DomainEvent], ...] = (
    SetupCompleted,
    SetupReopened,
    UserRegistered,
    UserUpdated,
    LoginSucceeded,
    LoginFailed,
    LoginThrottled,
    SessionRevoked,
    PasswordChanged,
    MfaChanged,
    BackupCodeUsed,
    RolesChanged,
    CustomRoleChanged,
    GrantChanged,
    ApiKeyChanged,
    OAuthClientChanged,
    OAuthTokenIssued,
    OAuthTokenRevoked,
    InviteCreated,
)


EVENT_TYPES: tuple[type[DomainEvent], ...] = (
    ResourceCreated,
    ResourceUpdated,
    ResourceRetired,
    GroupChanged,
    GroupDeleted,
    HoursChanged,
    BlackoutAdded,
    BlackoutRemoved,
    ReservationCreated,
    ReservationUpdated,
    ReservationCancelled,
    SeriesCreated,
    *IDENTITY_EVENT_TYPES,
)
EVENTS_BY_TOPIC: dict[str, type[DomainEvent]] = {cls.topic: cls for cls in EVENT_TYPES}


@attrs.frozen
class OutboxMessage:
    """An event waiting in the outbox, with its delivery state.

    The message carries the event itself: a storage that persists it serializes it through the
    core converter, an in-memory one keeps the object (no JSON on the booking hot path).
    """

    event: DomainEvent
    attempts: int = 0
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    last_error: str | None = None

    @property
    def id(self) -> EventId:
        """The event's id, which consumers use to drop repeated deliveries."""
        return self.event.id

    @property
    def topic(self) -> str:
        """The event's topic, e.g. ``reservation.created``."""
        return self.event.topic

    @property
    def occurred_at(self) -> datetime:
        """When the event happened; the outbox delivers oldest first."""
        return self.event.occurred_at
