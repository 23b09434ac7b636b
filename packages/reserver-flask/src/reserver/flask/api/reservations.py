"""Reservations and recurring series: ``/api/v1/reservations``, ``/api/v1/series``."""

from __future__ import annotations

from reserver.core.commands import (
    MultiReservationRequest,
    ReservationEdit,
    ReservationRequest,
    SeriesEdit,
    SeriesRequest,
)
from reserver.core.ids import (
    BookingId,
    ReservationId,
    ResourceId,
    SeriesId,
    UserId,
)
from reserver.core.models import HistoryEntry, Reservation
from reserver.core.principals import Principal
from reserver.core.queries import Page, PageRequest, ReservationQuery
from reserver.core.services.reservations import Booking
from reserver.core.services.series import SeriesBooking
from reserver.core.spans import TimeSpan
from reserver.flask import metrics
from reserver.flask.api.messages import (
    CancelRequest,
    MyReservationsQuery,
    ReservationListQuery,
    SeriesCancel,
    SeriesChange,
    SeriesDetail,
)
from reserver.flask.api.routing import Api
from reserver.flask.services import core

api = Api("reservations", "reservations")
BOOKING_ERRORS = (404, 409)


@api.operation(
    "POST",
    "/reservations",
    status=201,
    etag=True,
    idempotent=True,
    location="/api/v1/reservations/{id}",
    errors=BOOKING_ERRORS,
)
def reserve(principal: Principal, body: ReservationRequest) -> Reservation:
    """Book one resource for one span.

    Every rule of the booking pipeline runs; a refusal (409) lists each broken rule in
    ``violations`` and suggests ``alternatives``. ``holder`` books for someone else (admins).
    """
    made = core().reservations.reserve(principal, body)
    metrics.booked("single", 1)
    return made


@api.operation("POST", "/reservations/multi", status=201, idempotent=True, errors=BOOKING_ERRORS)
def reserve_many(principal: Principal, body: MultiReservationRequest) -> Booking:
    """Book several resources for the same span, all or nothing."""
    booking = core().reservations.reserve_many(principal, body)
    metrics.booked("multi", len(booking.reservations))
    return booking


@api.operation(
    "POST", "/reservations/recurring", status=201, idempotent=True, errors=BOOKING_ERRORS
)
def reserve_series(principal: Principal, body: SeriesRequest) -> SeriesBooking:
    """Book a recurring series, expanded in the resource's local wall time.

    All or nothing, unless ``skip_conflicts``: then the occurrences that pass are booked and
    the refused ones are reported in ``skipped``.
    """
    booking = core().series.reserve(principal, body)
    metrics.booked("series", len(booking.reservations))
    return booking


@api.operation("GET", "/reservations/my")
def my_reservations(principal: Principal, query: MyReservationsQuery) -> Page[Reservation]:
    """The caller's reservations, oldest first; ``upcoming`` hides those that ended."""
    services = core()
    return services.reservations.mine(
        principal,
        PageRequest(query.limit, query.cursor),
        upcoming_from=services.clock.now() if query.upcoming else None,
    )


@api.operation("GET", "/reservations")
def list_reservations(principal: Principal, query: ReservationListQuery) -> Page[Reservation]:
    """List reservations by start time; administrators see everyone's, others only their own.

    ``start`` and ``end`` (both or neither) keep the reservations overlapping that window.
    """
    window = None
    if query.start is not None or query.end is not None:
        window = TimeSpan(query.start, query.end)  # type: ignore[arg-type]
    return core().reservations.list(
        principal,
        ReservationQuery(
            holder=None if query.holder is None else UserId(query.holder),
            resource_ids=frozenset(ResourceId(r) for r in query.resource_id) or None,
            statuses=frozenset(query.status) or None,
            overlapping=window,
            series_id=None if query.series_id is None else SeriesId(query.series_id),
            booking_id=None if query.booking_id is None else BookingId(query.booking_id),
        ),
        PageRequest(query.limit, query.cursor),
    )


@api.operation("GET", "/reservations/<reservation_id>", etag=True)
def get_reservation(principal: Principal, reservation_id: str) -> Reservation:
    """Read one reservation (its holder, who booked it, or an administrator)."""
    return core().reservations.get(principal, ReservationId(reservation_id))


@api.operation("PATCH", "/reservations/<reservation_id>", etag=True, errors=BOOKING_ERRORS)
def edit_reservation(
    principal: Principal, reservation_id: str, version: int, body: ReservationEdit
) -> Reservation:
    """Move, resize or retitle a reservation; a move runs the whole booking pipeline again."""
    return core().reservations.edit(
        principal, ReservationId(reservation_id), body, expected_version=version
    )


@api.operation("POST", "/reservations/<reservation_id>/cancel", etag=True, errors=(409,))
def cancel_reservation(
    principal: Principal, reservation_id: str, body: CancelRequest | None
) -> Reservation:
    """Cancel a reservation: its holder before it starts, an administrator before it ends."""
    reason = "" if body is None else body.reason
    return core().reservations.cancel(principal, ReservationId(reservation_id), reason)


@api.operation("GET", "/reservations/<reservation_id>/history")
def reservation_history(principal: Principal, reservation_id: str) -> list[HistoryEntry]:
    """Every change of a reservation, oldest first."""
    return list(core().reservations.history(principal, ReservationId(reservation_id)))


@api.operation("GET", "/series/<series_id>")
def get_series(principal: Principal, series_id: str) -> SeriesDetail:
    """A recurring series and every occurrence, whatever its status."""
    series = core().series
    return SeriesDetail(
        series.get(principal, SeriesId(series_id)),
        tuple(series.occurrences(principal, SeriesId(series_id))),
    )


@api.operation("POST", "/series/<series_id>/cancel", errors=(409,))
def cancel_series(principal: Principal, series_id: str, body: SeriesCancel) -> list[Reservation]:
    """Cancel one upcoming occurrence, this one and the following, or all upcoming ones."""
    return core().series.cancel(
        principal,
        SeriesId(series_id),
        body.scope,
        occurrence_key=body.occurrence_key,
        reason=body.reason,
    )


@api.operation("PATCH", "/series/<series_id>", errors=BOOKING_ERRORS)
def edit_series(principal: Principal, series_id: str, body: SeriesChange) -> list[Reservation]:
    """Move occurrences to a new local start time and/or length, all or nothing.

    ``start`` is the new start of the first occurrence in scope; the others move to the same
    local wall time on their own dates.
    """
    return core().series.edit(
        principal,
        SeriesId(series_id),
        SeriesEdit(body.start, body.duration, body.title, body.notes),
        body.scope,
        occurrence_key=body.occurrence_key,
    )
