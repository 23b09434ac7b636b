"""Recurring series: book all occurrences at once, then cancel or edit one, some, or all."""

from __future__ import annotations

from datetime import datetime

import attrs

from reserver.core import rules as pipeline
from reserver.core.commands import OccurrenceScope, ReservationEdit, SeriesEdit, SeriesRequest
from reserver.core.errors import ConflictError, NotFoundError, ValidationError, Violation
from reserver.core.events import SeriesCreated
from reserver.core.identity.access import require_bookable
from reserver.core.ids import SeriesId, new_id
from reserver.core.models import BLOCKING_STATUSES, Reservation, Series
from reserver.core.ports import Transaction
from reserver.core.principals import Principal
from reserver.core.queries import PageRequest, ReservationQuery
from reserver.core.recurrence import expand
from reserver.core.rules import Candidate
from reserver.core.services.context import ServiceContext
from reserver.core.services.reservations import ReservationService, check_text
from reserver.core.services.resolution import load_rules
from reserver.core.spans import TimeSpan, resolve_wall_time


@attrs.frozen
class SeriesBooking:
    """The outcome of booking a series: what was booked and, when skipping, what was not."""

    series: Series
    reservations: tuple[Reservation, ...]
    skipped: tuple[Violation, ...] = ()


class SeriesService:
    """Series use cases; reach them as ``reserver.series``."""

    def __init__(self, ctx: ServiceContext, reservations: ReservationService) -> None:
        self._ctx = ctx
        self._reservations = reservations

    def reserve(self, principal: Principal, request: SeriesRequest) -> SeriesBooking:
        """Book every occurrence of a series: all or nothing, unless ``skip_conflicts``.

        Raises:
            ValidationError: the rule is malformed or runs past the cap.
            ConflictError: an occurrence is refused (all-or-nothing), or every one is.
        """
        first = TimeSpan(request.start, request.end)
        holder = pipeline.booking_holder(principal, request.holder)
        title, notes = check_text("title", request.title), check_text("notes", request.notes)

        def work(tx: Transaction) -> SeriesBooking:
            now = self._ctx.now()
            require_bookable(tx, principal, request.resource_id)
            rules = load_rules(tx, tx.resources.get(request.resource_id), self._ctx.settings)
            occurrences = expand(request.rule, first.start, rules.tz, first.duration)
            candidates = [Candidate(rules, o.span, o.key) for o in occurrences]
            results = pipeline.evaluate(tx, candidates, holder, now)
            refused = [v for found in results for v in found]
            if refused and (not request.skip_conflicts or all(results)):
                pipeline.refuse_any(results, "the series")
            series = Series(
                SeriesId(new_id()),
                request.resource_id,
                holder,
                principal.id,
                first.start,
                rules.resource.timezone,
                first.duration,
                request.rule,
                title,
                notes,
                now,
            )
            tx.series.add(series)
            made = tuple(
                self._reservations.insert(
                    tx, principal, c, holder, title, notes, series_id=series.id
                )
                for c, found in zip(candidates, results, strict=True)
                if not found
            )
            skipped = tuple(found[0].start or "" for found in results if found)
            self._ctx.emit(tx, SeriesCreated, principal.id, series=series, skipped=skipped)
            return SeriesBooking(series, made, tuple(refused))

        return self._reservations.run_booking(work, [request.resource_id], first, principal)

    def get(self, principal: Principal, series_id: SeriesId) -> Series:
        """Return a series its holder, its booker or an admin may see."""
        with self._ctx.storage.transaction(readonly=True) as tx:
            return self._visible(tx, principal, series_id)

    @staticmethod
    def _visible(tx: Transaction, principal: Principal, series_id: SeriesId) -> Series:
        series = tx.series.get(series_id)
        if not principal.owns_or_admin(series.holder, series.booked_by):
            raise NotFoundError(f"series {series_id!r} does not exist")
        return series

    def occurrences(self, principal: Principal, series_id: SeriesId) -> list[Reservation]:
        """Every occurrence of the series, whatever its status, in order."""
        with self._ctx.storage.transaction(readonly=True) as tx:
            self._visible(tx, principal, series_id)
            return _occurrences(tx, series_id)

    def cancel(
        self,
        principal: Principal,
        series_id: SeriesId,
        scope: OccurrenceScope = OccurrenceScope.ALL,
        *,
        occurrence_key: str | None = None,
        reason: str = "",
    ) -> list[Reservation]:
        """Cancel one occurrence, this and following, or all the upcoming ones."""
        check_text("reason", reason)
        with self._ctx.storage.transaction() as tx:
            self._visible(tx, principal, series_id)
            ReservationService.require_change(principal, f"series {series_id!r}")
            targets = self._in_scope(tx, series_id, scope, occurrence_key)
            return [self._reservations.cancel_in(tx, principal, r, reason) for r in targets]

    def edit(
        self,
        principal: Principal,
        series_id: SeriesId,
        edit: SeriesEdit,
        scope: OccurrenceScope = OccurrenceScope.ALL,
        *,
        occurrence_key: str | None = None,
    ) -> list[Reservation]:
        """Move occurrences to a new local start time and/or length, all or nothing.

        ``edit.start`` is the new start of the first occurrence in scope; the others move to the
        same local wall time on their own dates, so the series stays DST-correct.
        """

        def work(tx: Transaction) -> list[Reservation]:
            series = self._visible(tx, principal, series_id)
            ReservationService.require_change(principal, f"series {series_id!r}")
            targets = self._in_scope(tx, series_id, scope, occurrence_key)
            rules = load_rules(tx, tx.resources.get(series.resource_id), self._ctx.settings)
            anchor = targets[0]
            new_start = anchor.span.start if edit.start is None else edit.start
            wall = resolve_wall_time  # the one rule for wall times, also used by expansion
            shift = _wall(new_start, rules.tz) - _wall(anchor.span.start, rules.tz)
            duration = edit.duration or anchor.span.duration
            moves = [
                (
                    r,
                    TimeSpan.starting(
                        wall(_wall(r.span.start, rules.tz) + shift, rules.tz), duration
                    ),
                )
                for r in targets
            ]
            exclude = [r.id for r in targets]
            candidates = [Candidate(rules, span, r.occurrence_key) for r, span in moves]
            results = pipeline.evaluate(
                tx, candidates, series.holder, self._ctx.now(), exclude=exclude
            )
            pipeline.refuse_any(results, "the change")
            # Move in the direction of the shift so no occurrence lands on one not yet moved.
            if moves and moves[0][1].start > moves[0][0].span.start:
                moves.reverse()
            updated = [
                self._reservations.edit_in(
                    tx,
                    principal,
                    r,
                    ReservationEdit(span.start, span.end, edit.title, edit.notes),
                    r.version,
                    prechecked=True,
                )
                for r, span in moves
            ]
            return sorted(updated, key=lambda r: r.span.start)

        with self._ctx.storage.transaction(readonly=True) as tx:
            series = self._visible(tx, principal, series_id)
        return self._reservations.run_booking(
            work,
            [series.resource_id],
            TimeSpan.starting(series.first_start, edit.duration or series.duration),
            principal,
        )

    def _in_scope(
        self, tx: Transaction, series_id: SeriesId, scope: OccurrenceScope, key: str | None
    ) -> list[Reservation]:
        now = self._ctx.now()
        upcoming = [
            r
            for r in _occurrences(tx, series_id)
            if r.status in BLOCKING_STATUSES and r.span.start > now
        ]
        if scope is OccurrenceScope.ALL:
            targets = upcoming
        else:
            if key is None:
                raise ValidationError.for_field("occurrence_key", "name the occurrence")
            if not any(r.occurrence_key == key for r in upcoming):
                raise NotFoundError(f"series {series_id!r} has no upcoming occurrence {key!r}")
            if scope is OccurrenceScope.ONE:
                targets = [r for r in upcoming if r.occurrence_key == key]
            else:
                targets = [r for r in upcoming if (r.occurrence_key or "") >= key]
        if not targets:
            raise ConflictError(f"series {series_id!r} has no upcoming occurrences to change")
        return targets


def _wall(instant: datetime, tz: object) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)  # type: ignore[arg-type]


def _occurrences(tx: Transaction, series_id: SeriesId) -> list[Reservation]:
    query = ReservationQuery(series_id=series_id)
    found: list[Reservation] = []
    page = tx.reservations.find(query, PageRequest(limit=500))
    found.extend(page.items)
    while page.next_cursor is not None:
        page = tx.reservations.find(query, PageRequest(limit=500, cursor=page.next_cursor))
        found.extend(page.items)
    return found
