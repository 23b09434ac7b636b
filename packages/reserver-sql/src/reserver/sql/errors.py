"""Driver errors become Reserver errors here, and nowhere else."""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

from reserver.core.errors import ConflictError, ReserverError, Rule, StorageError, Violation
from reserver.core.models import Reservation
from reserver.sql.tables import OVERLAP_MESSAGE

EXCLUSION_VIOLATION = "23P01"
UNIQUE_VIOLATION = "23505"
RETRYABLE = frozenset({"40001", "40P01"})  # serialization failure, deadlock detected
_SQLITE_BUSY = ("database is locked", "database is busy", "database table is locked")


def overlap_error(reservation: Reservation | None) -> ConflictError:
    """The conflict of a blocking reservation whose block overlaps another one's."""
    if reservation is None:
        message = "the reservation overlaps another blocking reservation of its resource"
        return ConflictError(message, violations=[Violation(Rule.OVERLAP, message)])
    buffers = " (buffers included)" if reservation.block != reservation.span else ""
    message = f"resource {reservation.resource_id!r} is taken {reservation.span}{buffers}"
    violation = Violation(
        Rule.OVERLAP,
        message,
        resource_id=reservation.resource_id,
        start=reservation.span.start.isoformat(),
    )
    return ConflictError(message, violations=[violation])


def version_error(noun: str, object_id: str, expected: int) -> ConflictError:
    """The conflict of an optimistic update against a copy that changed meanwhile."""
    message = f"{noun} {object_id!r} changed since version {expected}; reload it and retry"
    return ConflictError(message, violations=[Violation(Rule.VERSION, message)])


def duplicate_error(subject: str) -> ConflictError:
    """The conflict of an insert whose id is taken."""
    return ConflictError(f"{subject} already exists")


def is_busy(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite's "database is locked" (another writer held it too long)."""
    orig = getattr(exc, "orig", exc)
    return isinstance(exc, sa_exc.OperationalError) and any(
        text in str(orig) for text in _SQLITE_BUSY
    )


def translate(
    exc: Exception, *, subject: str, reservation: Reservation | None = None
) -> ReserverError:
    """Return the Reserver error that stands for ``exc``; ``subject`` names the object at stake.

    An overlap refused by the database (PostgreSQL's exclusion constraint, the SQLite trigger)
    and a lost race (serialization failure, deadlock, duplicate id) are ``ConflictError``;
    a ``ReserverError`` raised while binding a value (a naive datetime) passes through;
    everything else is ``StorageError``. ``exc`` is SQLAlchemy's wrapper, or the driver's own
    error where it reached us unwrapped (the end of a psycopg pipeline).
    """
    orig = getattr(exc, "orig", None) if isinstance(exc, sa_exc.SQLAlchemyError) else exc
    if isinstance(orig, ReserverError):
        return orig
    sqlstate = getattr(orig, "sqlstate", None)
    text = str(orig if orig is not None else exc)
    if sqlstate == EXCLUSION_VIOLATION or (
        isinstance(exc, sa_exc.IntegrityError) and OVERLAP_MESSAGE in text
    ):
        return overlap_error(reservation)
    if sqlstate in RETRYABLE:
        return ConflictError(f"{subject} was changed by a concurrent transaction; try again")
    if sqlstate == UNIQUE_VIOLATION or (
        isinstance(exc, sa_exc.IntegrityError) and "UNIQUE constraint failed" in text
    ):
        return duplicate_error(subject)
    if is_busy(exc):
        return StorageError(f"the database stayed busy while writing {subject}: {text}")
    return StorageError(f"storage failed on {subject}: {text}")
