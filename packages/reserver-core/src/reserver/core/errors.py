"""The errors Reserver raises on purpose.

Every edge maps them in exactly one place (``reserver.flask.problems``, ``reserver.cli.main``)::

    ReserverError
    ├── ValidationError(ReserverError, ValueError)    → 422 problem+json · CLI exit 2
    ├── NotFoundError(ReserverError, LookupError)     → 404 · exit 1
    ├── ConflictError                                 → 409 · exit 1
    ├── PermissionDeniedError                         → 403 · exit 1
    ├── ConfigurationError                            → fails at startup
    └── AdapterError → StorageError, DeliveryError    → 503, logged · exit 1
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum

import attrs


class ReserverError(Exception):
    """Base of every error Reserver raises on purpose."""


class ValidationError(ReserverError, ValueError):
    """Input that can never be accepted as given; ``fields`` maps each bad field to why."""

    def __init__(self, message: str, *, fields: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.fields: dict[str, str] = dict(fields or {})

    @classmethod
    def for_field(cls, field: str, reason: str) -> ValidationError:
        """Build the error for one bad field, naming it in the message."""
        return cls(f"{field}: {reason}", fields={field: reason})

    @classmethod
    def merge(cls, errors: Iterable[ValidationError]) -> ValidationError:
        """Combine several field errors into one that names them all."""
        fields: dict[str, str] = {}
        for error in errors:
            fields.update(error.fields)
        return cls("; ".join(f"{k}: {v}" for k, v in fields.items()), fields=fields)


class NotFoundError(ReserverError, LookupError):
    """The object does not exist, or the acting principal may not see it."""


class PermissionDeniedError(ReserverError):
    """The acting principal may see the object but not do this to it."""


class Rule(StrEnum):
    """The booking rules of the validation pipeline (DESIGN.md invariant 2)."""

    IN_PAST = "in_past"
    MIN_NOTICE = "min_notice"
    MAX_ADVANCE = "max_advance"
    MIN_DURATION = "min_duration"
    MAX_DURATION = "max_duration"
    GRANULARITY = "granularity"
    RESOURCE_DISABLED = "resource_disabled"
    RESOURCE_RETIRED = "resource_retired"
    MAINTENANCE = "maintenance"
    BUSINESS_HOURS = "business_hours"
    BLACKOUT = "blackout"
    QUOTA_ACTIVE = "quota_active"
    QUOTA_DAILY_HOURS = "quota_daily_hours"
    QUOTA_WEEKLY_HOURS = "quota_weekly_hours"
    OVERLAP = "overlap"
    VERSION = "version"


@attrs.frozen
class Violation:
    """One broken rule: which, why, and (for series and multi-resource bookings) where."""

    rule: Rule
    message: str
    resource_id: str | None = None
    start: str | None = None


@attrs.frozen
class Alternative:
    """A booking that would have been accepted instead."""

    resource_id: str
    start: str
    end: str


class ConflictError(ReserverError):
    """The request clashes with the current state: another booking, a rule, a stale version."""

    def __init__(
        self,
        message: str,
        *,
        violations: Iterable[Violation] = (),
        alternatives: Iterable[Alternative] = (),
    ) -> None:
        super().__init__(message)
        self.violations: tuple[Violation, ...] = tuple(violations)
        self.alternatives: tuple[Alternative, ...] = tuple(alternatives)

    @property
    def rules(self) -> frozenset[Rule]:
        """The rules named by the violations."""
        return frozenset(v.rule for v in self.violations)


class ConfigurationError(ReserverError):
    """The system is set up wrongly; raised at startup, never per request."""


class AdapterError(ReserverError):
    """An adapter's infrastructure failed (database, network)."""


class StorageError(AdapterError):
    """The storage failed for a reason other than a rule or a conflict."""


class DeliveryError(AdapterError):
    """A notification or webhook could not be delivered; it will be retried."""
