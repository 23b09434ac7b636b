"""Reserver's core: resources, availability and reservations that never double-book.

Start with ``Reserver.in_memory()`` or ``Reserver(storage=...)``; every use case takes the acting
``Principal`` first.
"""

from reserver.core.commands import (
    GroupDraft,
    MultiReservationRequest,
    OccurrenceScope,
    ReservationEdit,
    ReservationRequest,
    ResourceDraft,
    ResourcePatch,
    SeriesEdit,
    SeriesRequest,
)
from reserver.core.errors import (
    AdapterError,
    Alternative,
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    DeliveryError,
    NotFoundError,
    OAuthError,
    OAuthErrorCode,
    PermissionDeniedError,
    ReserverError,
    Rule,
    StorageError,
    TooManyAttemptsError,
    ValidationError,
    Violation,
)
from reserver.core.facade import Reserver
from reserver.core.models import (
    Attributes,
    BookingPolicy,
    Group,
    HistoryEntry,
    Quota,
    Reservation,
    ReservationStatus,
    Resource,
    ResourceStatus,
    Series,
)
from reserver.core.principals import Permission, Principal, Role
from reserver.core.queries import Page, PageRequest, ReservationQuery, ResourceQuery
from reserver.core.recurrence import Frequency, NthWeekday, RecurrenceRule
from reserver.core.schedules import Blackout, OpeningInterval, Scope, WeeklyHours
from reserver.core.settings import CoreSettings, IdentitySettings
from reserver.core.spans import TimeSpan

__all__ = [
    "AdapterError",
    "Alternative",
    "Attributes",
    "AuthenticationError",
    "Blackout",
    "BookingPolicy",
    "ConfigurationError",
    "ConflictError",
    "CoreSettings",
    "DeliveryError",
    "Frequency",
    "Group",
    "GroupDraft",
    "HistoryEntry",
    "IdentitySettings",
    "MultiReservationRequest",
    "NotFoundError",
    "NthWeekday",
    "OAuthError",
    "OAuthErrorCode",
    "OccurrenceScope",
    "OpeningInterval",
    "Page",
    "PageRequest",
    "Permission",
    "PermissionDeniedError",
    "Principal",
    "Quota",
    "RecurrenceRule",
    "Reservation",
    "ReservationEdit",
    "ReservationQuery",
    "ReservationRequest",
    "ReservationStatus",
    "Reserver",
    "ReserverError",
    "Resource",
    "ResourceDraft",
    "ResourcePatch",
    "ResourceQuery",
    "ResourceStatus",
    "Role",
    "Rule",
    "Scope",
    "Series",
    "SeriesEdit",
    "SeriesRequest",
    "StorageError",
    "TimeSpan",
    "TooManyAttemptsError",
    "ValidationError",
    "Violation",
    "WeeklyHours",
]
