"""The errors Reserver raises on purpose.

Every edge maps them in exactly one place (``reserver.flask.problems``, ``reserver.cli.main``)::

    ReserverError
    ├── ValidationError(ReserverError, ValueError)    → 422 problem+json · CLI exit 2
    ├── NotFoundError(ReserverError, LookupError)     → 404 · exit 1
    ├── ConflictError                                 → 409 · exit 1
    ├── PermissionDeniedError                         → 403 · exit 1
    ├── AuthenticationError                           → 401 · exit 1
    ├── TooManyAttemptsError (``retry_after``)        → 429 + Retry-After · exit 1
    ├── OAuthError (``code``: RFC 6749 error)         → 400 (401 for invalid_client) · exit 1
    ├── ConfigurationError                            → fails at startup
    └── AdapterError → StorageError, DeliveryError    → 503, logged · exit 1

``RunAgain`` is no error: a storage raises it inside ``Storage.run_scoped`` to have the work run
again, and every layer in between lets it through.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
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


class AuthenticationError(ReserverError):
    """The credentials are missing, wrong, expired or revoked; the message never says which."""


class TooManyAttemptsError(ReserverError):
    """Too many failed attempts from here or at this account; try again after ``retry_after``."""

    def __init__(self, message: str, *, retry_after: timedelta) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    @property
    def retry_after_seconds(self) -> int:
        """Whole seconds to wait, rounded up (the HTTP ``Retry-After`` header)."""
        seconds = self.retry_after.total_seconds()
        return max(1, int(seconds) + (0 if seconds.is_integer() else 1))


class OAuthErrorCode(StrEnum):
    """The error codes of RFC 6749 section 5.2 that the token endpoint answers with."""

    INVALID_REQUEST = "invalid_request"
    INVALID_CLIENT = "invalid_client"
    INVALID_GRANT = "invalid_grant"
    UNAUTHORIZED_CLIENT = "unauthorized_client"
    UNSUPPORTED_GRANT_TYPE = "unsupported_grant_type"
    INVALID_SCOPE = "invalid_scope"


class OAuthError(ReserverError):
    """An OAuth 2 request was refused; ``code`` is the RFC 6749 error to answer with."""

    def __init__(self, code: OAuthErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


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


class RunAgain(Exception):
    """Raised inside ``Storage.run_scoped`` by a storage whose cached data turned out stale.

    That ``run_scoped`` call runs its work again; it never escapes it. Code between must not
    catch it (it is no ``ReserverError``), and an adapter that maps exceptions to answers
    passes it on.
    """


class DeliveryError(AdapterError):
    """A notification or webhook could not be delivered; it will be retried."""
