"""Reserve, edit, cancel and list reservations; every path runs the one pipeline."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

import attrs

from reserver.core import rules as pipeline
from reserver.core.commands import MultiReservationRequest, ReservationEdit, ReservationRequest
from reserver.core.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    Rule,
    ValidationError,
    Violation,
)
from reserver.core.events import ReservationCancelled, ReservationCreated, ReservationUpdated
from reserver.core.identity.access import may_approve, require_bookable
from reserver.core.ids import BookingId, ReservationId, ResourceId, UserId, new_id
from reserver.core.models import (
    Change,
    HistoryAction,
    HistoryEntry,
    Reservation,
    ReservationStatus,
)
from reserver.core.ports import Transaction
from reserver.core.principals import Permission, Principal
from reserver.core.queries import Page, PageRequest, ReservationQuery
from reserver.core.rules import Candidate
from reserver.core.services.availability import AlternativeFinder
from reserver.core.services.context import ServiceContext, scoped
from reserver.core.services.resolution import load_rules
from reserver.core.spans import TimeSpan

T = TypeVar("T")
MAX_TEXT = {"title": 200, "notes": 5000, "reason": 1000}


def check_text(field: str, value: str) -> str:
    """Refuse over-long free text; the limits keep rows and notifications sane."""
    if not isinstance(value, str):
        raise ValidationError.for_field(field, "expected a string")
    if len(value) > MAX_TEXT[field]:
        raise ValidationError.for_field(field, f"must be at most {MAX_TEXT[field]} characters")
    return value


@attrs.frozen
class Booking:
    """A multi-resource booking: one reservation per resource, made all or nothing."""

    id: BookingId
    reservations: tuple[Reservation, ...]


class ReservationService:
    """The reservation use cases; reach them as ``reserver.reservations``."""

    def __init__(self, ctx: ServiceContext, alternatives: AlternativeFinder) -> None:
        self._ctx = ctx
        self._alternatives = alternatives

    def reserve(self, principal: Principal, request: ReservationRequest) -> Reservation:
        """Book one resource for one span.

        Raises:
            ValidationError: the request is malformed (naive datetime, end before start, ...).
            NotFoundError: the resource does not exist.
            PermissionDeniedError: the principal may not book (for this holder).
            ConflictError: a rule refuses it; ``violations`` names each, ``alternatives`` helps.
        """
        booking = self.reserve_many(
            principal,
            MultiReservationRequest(
                (request.resource_id,),
                request.start,
                request.end,
                request.title,
                request.notes,
                request.holder,
            ),
            _single=True,
        )
        return booking.reservations[0]

    def reserve_many(
        self, principal: Principal, request: MultiReservationRequest, *, _single: bool = False
    ) -> Booking:
        """Book several resources for the same span, all or nothing."""
        span = TimeSpan(request.start, request.end)
        holder = pipeline.booking_holder(principal, request.holder)
        title, notes = check_text("title", request.title), check_text("notes", request.notes)
        if not request.resource_ids:
            raise ValidationError.for_field("resource_ids", "name at least one resource")
        if len(set(request.resource_ids)) != len(request.resource_ids):
            raise ValidationError.for_field("resource_ids", "names a resource twice")
        booking_id = None if _single else BookingId(new_id())

        def work(tx: Transaction) -> Booking:
            now = self._ctx.now()
            for rid in request.resource_ids:
                require_bookable(tx, principal, rid)
            candidates = [
                Candidate(load_rules(tx, tx.resources.get(rid), self._ctx.settings), span)
                for rid in request.resource_ids
            ]
            pipeline.refuse_any(pipeline.evaluate(tx, candidates, holder, now), "the booking")
            made = tuple(
                self.insert(tx, principal, c, holder, title, notes, booking_id=booking_id)
                for c in candidates
            )
            return Booking(booking_id or BookingId(made[0].id), made)

        return self.run_booking(work, list(request.resource_ids), span, principal)

    @scoped
    def run_booking(
        self,
        work: Callable[[Transaction], T],
        resource_ids: Sequence[ResourceId],
        span: TimeSpan,
        principal: Principal,
    ) -> T:
        """Run ``work`` in one unit of work; attach alternatives (``principal`` may book).

        In a scope of its own (``scoped``): a booking is the hottest path, and there a storage
        may check its caches without a round trip of their own.
        """
        storage = self._ctx.storage
        try:
            with storage.transaction() as tx:
                try:
                    return work(tx)
                except pipeline.Refusal as refusal:
                    # Searched in the refused unit, which has written nothing; raising undoes it.
                    found = self._alternatives.for_refusal(tx, resource_ids, span, principal)
                    refusal.alternatives = tuple(found)
                    raise
        except pipeline.Refusal:
            raise
        except ConflictError as exc:
            # The storage refused (a race lost at a write or at the commit): a fresh unit.
            if exc.alternatives:
                raise
            with storage.transaction(readonly=True) as tx:
                found = self._alternatives.for_refusal(tx, resource_ids, span, principal)
            raise ConflictError(str(exc), violations=exc.violations, alternatives=found) from exc

    def insert(
        self,
        tx: Transaction,
        principal: Principal,
        candidate: Candidate,
        holder: UserId,
        title: str,
        notes: str,
        **links: object,
    ) -> Reservation:
        """Store one reservation that passed the pipeline, with its history and event."""
        now = self._ctx.now()
        approval = candidate.rules.policy.requires_approval and not may_approve(
            tx, principal, candidate.resource_id
        )
        reservation = Reservation(
            id=ReservationId(new_id()),
            resource_id=candidate.resource_id,
            holder=holder,
            booked_by=principal.id,
            span=candidate.span,
            block=candidate.block,
            status=ReservationStatus.PENDING_APPROVAL if approval else ReservationStatus.CONFIRMED,
            title=title,
            notes=notes,
            occurrence_key=candidate.key,
            created_at=now,
            updated_at=now,
            **links,  # type: ignore[arg-type]
        )
        tx.reservations.add(reservation)
        self._history(tx, principal, reservation, HistoryAction.CREATED, ())
        self._ctx.emit(tx, ReservationCreated, principal.id, reservation=reservation)
        return reservation

    def _history(
        self,
        tx: Transaction,
        principal: Principal,
        reservation: Reservation,
        action: HistoryAction,
        changes: Sequence[Change],
        note: str = "",
    ) -> None:
        tx.history.append(
            HistoryEntry(
                new_id(),
                reservation.id,
                self._ctx.now(),
                principal.id,
                action,
                tuple(changes),
                note,
            )
        )

    def get(self, principal: Principal, reservation_id: ReservationId) -> Reservation:
        """Return one reservation the principal may see (its holder, who booked it, admins)."""
        with self._ctx.storage.transaction(readonly=True) as tx:
            return self.visible(tx, principal, reservation_id)

    @staticmethod
    def visible(
        tx: Transaction, principal: Principal, reservation_id: ReservationId
    ) -> Reservation:
        """Load a reservation, hiding it (``NotFoundError``) from those who may not see it."""
        reservation = tx.reservations.get(reservation_id)
        if not principal.owns_or_admin(reservation.holder, reservation.booked_by):
            raise NotFoundError(f"reservation {reservation_id!r} does not exist")
        return reservation

    @staticmethod
    def require_change(principal: Principal, what: str) -> None:
        """Refuse (``PermissionDeniedError``) a change by one who may see ``what`` only.

        Callers have shown ``what`` to be visible: the principal's own, or any for managers.
        """
        if principal.has(Permission.MANAGE_RESERVATIONS):
            return
        if not principal.has(Permission.MANAGE_OWN):
            raise PermissionDeniedError(f"you may not change {what} (needs the 'manage_own' right)")

    def cancel(
        self, principal: Principal, reservation_id: ReservationId, reason: str = ""
    ) -> Reservation:
        """Cancel a reservation holding its slot: users before it starts, admins before it ends."""
        check_text("reason", reason)
        with self._ctx.storage.transaction() as tx:
            return self.cancel_in(
                tx, principal, self.visible(tx, principal, reservation_id), reason
            )

    def cancel_in(
        self, tx: Transaction, principal: Principal, reservation: Reservation, reason: str
    ) -> Reservation:
        """Cancel ``reservation`` inside ``tx`` (series and retirement reuse this)."""
        self.require_change(principal, f"reservation {reservation.id!r}")
        now = self._ctx.now()
        if not reservation.is_blocking:
            raise ConflictError(
                f"reservation {reservation.id!r} is {reservation.status.value}; nothing to cancel"
            )
        manager = principal.has(Permission.MANAGE_RESERVATIONS)
        deadline = reservation.span.end if manager else reservation.span.start
        if now >= deadline:
            when = "ended" if manager else "started"
            raise ConflictError(f"reservation {reservation.id!r} has already {when}")
        cancelled = attrs.evolve(
            reservation,
            status=ReservationStatus.CANCELLED,
            cancel_reason=reason or None,
            version=reservation.version + 1,
            updated_at=now,
        )
        tx.reservations.update(cancelled, expected_version=reservation.version)
        change = Change("status", reservation.status.value, cancelled.status.value)
        self._history(tx, principal, cancelled, HistoryAction.CANCELLED, (change,), reason)
        self._ctx.emit(tx, ReservationCancelled, principal.id, reservation=cancelled)
        return cancelled

    def edit(
        self,
        principal: Principal,
        reservation_id: ReservationId,
        edit: ReservationEdit,
        *,
        expected_version: int,
    ) -> Reservation:
        """Move, resize or retitle a reservation; a move runs the whole pipeline again.

        Raises:
            ConflictError: ``expected_version`` is stale, or the new span breaks a rule.
        """

        def work(tx: Transaction) -> Reservation:
            current = self.visible(tx, principal, reservation_id)
            return self.edit_in(tx, principal, current, edit, expected_version)

        with self._ctx.storage.transaction(readonly=True) as tx:
            current = self.visible(tx, principal, reservation_id)
        span = TimeSpan(edit.start or current.span.start, edit.end or current.span.end)
        return self.run_booking(work, [current.resource_id], span, principal)

    def edit_in(
        self,
        tx: Transaction,
        principal: Principal,
        current: Reservation,
        edit: ReservationEdit,
        expected_version: int,
        *,
        prechecked: bool = False,
    ) -> Reservation:
        """Apply ``edit`` to ``current`` inside ``tx``; ``prechecked`` moves skip the pipeline."""
        self.require_change(principal, f"reservation {current.id!r}")
        if current.version != expected_version:
            raise ConflictError(
                f"reservation {current.id!r} changed since version {expected_version}",
                violations=[Violation(Rule.VERSION, f"current version is {current.version}")],
            )
        if not current.is_blocking:
            raise ConflictError(
                f"reservation {current.id!r} is {current.status.value}; it cannot change"
            )
        span = TimeSpan(edit.start or current.span.start, edit.end or current.span.end)
        title = check_text("title", current.title if edit.title is None else edit.title)
        notes = check_text("notes", current.notes if edit.notes is None else edit.notes)
        changes = [
            Change(f, str(a), str(b))
            for f, a, b in (
                ("start", current.span.start.isoformat(), span.start.isoformat()),
                ("end", current.span.end.isoformat(), span.end.isoformat()),
                ("title", current.title, title),
                ("notes", current.notes, notes),
            )
            if a != b
        ]
        if not changes:
            return current
        moved = span != current.span
        candidate = Candidate(
            load_rules(tx, tx.resources.get(current.resource_id), self._ctx.settings),
            span,
            current.occurrence_key,
        )
        if moved and not prechecked:
            results = pipeline.evaluate(
                tx, [candidate], current.holder, self._ctx.now(), exclude=[current.id]
            )
            pipeline.refuse_any(results, "the change")
        updated = attrs.evolve(
            current,
            span=span,
            block=candidate.block if moved else current.block,
            title=title,
            notes=notes,
            version=current.version + 1,
            updated_at=self._ctx.now(),
        )
        tx.reservations.update(updated, expected_version=current.version)
        action = HistoryAction.MOVED if moved else HistoryAction.UPDATED
        self._history(tx, principal, updated, action, changes)
        self._ctx.emit(tx, ReservationUpdated, principal.id, reservation=updated, previous=current)
        return updated

    def history(
        self, principal: Principal, reservation_id: ReservationId
    ) -> Sequence[HistoryEntry]:
        """The changes of a reservation, oldest first; for its holder, its booker and admins."""
        with self._ctx.storage.transaction(readonly=True) as tx:
            self.visible(tx, principal, reservation_id)
            return tx.history.for_reservation(reservation_id)

    def list(
        self,
        principal: Principal,
        query: ReservationQuery = ReservationQuery(),
        page: PageRequest = PageRequest(),
    ) -> Page[Reservation]:
        """List reservations; anyone but a reservation manager sees only those they hold."""
        if not principal.has(Permission.MANAGE_RESERVATIONS):
            if query.holder not in (None, principal.id):
                return Page(())
            query = attrs.evolve(query, holder=principal.id)
        with self._ctx.storage.transaction(readonly=True) as tx:
            return tx.reservations.find(query, page)

    def mine(
        self,
        principal: Principal,
        page: PageRequest = PageRequest(),
        *,
        upcoming_from: datetime | None = None,
    ) -> Page[Reservation]:
        """The principal's own reservations, oldest first; ``upcoming_from`` hides ended ones."""
        overlapping = None
        if upcoming_from is not None:
            overlapping = TimeSpan(upcoming_from, upcoming_from + pipeline.FAR_FUTURE)
        return self.list(
            principal, ReservationQuery(holder=principal.id, overlapping=overlapping), page
        )
