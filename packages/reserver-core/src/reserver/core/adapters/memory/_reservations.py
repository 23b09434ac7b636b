"""Reservations, series and history in memory; overlaps are found by bisection."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from functools import partial

from reserver.core.adapters.memory._state import (
    MemoryRepository,
    MemoryState,
    already_exists,
    get_or_raise,
    overlap,
    stale_version,
)
from reserver.core.errors import ValidationError
from reserver.core.ids import ReservationId, ResourceId, SeriesId, UserId
from reserver.core.models import BLOCKING_STATUSES, HistoryEntry, Reservation, Series
from reserver.core.queries import Page, PageRequest, ReservationQuery, decode_cursor, page_of
from reserver.core.spans import TimeSpan


def _matches(reservation: Reservation, query: ReservationQuery) -> bool:
    return (
        (query.holder is None or reservation.holder == query.holder)
        and (query.resource_ids is None or reservation.resource_id in query.resource_ids)
        and (query.statuses is None or reservation.status in query.statuses)
        and (query.overlapping is None or reservation.span.overlaps(query.overlapping))
        and (query.series_id is None or reservation.series_id == query.series_id)
        and (query.booking_id is None or reservation.booking_id == query.booking_id)
    )


def _after(cursor: str) -> tuple[datetime, str]:
    start, reservation_id = decode_cursor(cursor, 2)
    try:
        return datetime.fromisoformat(start), reservation_id
    except ValueError as exc:
        raise ValidationError.for_field("cursor", "is not a cursor this server issued") from exc


class MemoryReservationRepository(MemoryRepository):
    """Reservations in memory, with a per-resource timeline of the blocking ones."""

    def add(self, reservation: Reservation) -> None:
        undo = self._unit.writing()
        state = self._unit.state
        if reservation.id in state.reservations:
            raise already_exists("reservation", reservation.id)
        if reservation.is_blocking and state.timeline(reservation.resource_id).overlapping(
            reservation.block
        ):
            raise overlap(reservation)
        state.replace(None, reservation)
        undo.append(partial(state.replace, reservation, None))

    def get(self, reservation_id: ReservationId) -> Reservation:
        return get_or_raise(self._unit.reading().reservations, reservation_id, "reservation")

    def update(self, reservation: Reservation, *, expected_version: int) -> None:
        undo = self._unit.writing()
        state = self._unit.state
        stored = get_or_raise(state.reservations, reservation.id, "reservation")
        if stored.version != expected_version:
            raise stale_version("reservation", reservation.id, stored.version, expected_version)
        if reservation.is_blocking and any(
            other.id != reservation.id
            for other in state.timeline(reservation.resource_id).overlapping(reservation.block)
        ):
            raise overlap(reservation)
        state.replace(stored, reservation)
        undo.append(partial(state.replace, reservation, stored))

    def blocking_overlaps(
        self,
        resource_ids: Collection[ResourceId],
        span: TimeSpan,
        *,
        exclude: Collection[ReservationId] = (),
    ) -> Sequence[Reservation]:
        timelines = self._unit.reading().timelines
        if len(resource_ids) == 1:  # the hot path: one resource, rows already in order
            (resource_id,) = resource_ids
            timeline = timelines.get(resource_id)
            rows = timeline.overlapping(span) if timeline is not None else []
            return [r for r in rows if r.id not in exclude] if exclude else rows
        found = [
            row
            for resource_id in dict.fromkeys(resource_ids)
            if resource_id in timelines
            for row in timelines[resource_id].overlapping(span)
            if row.id not in exclude
        ]
        found.sort(key=lambda r: (r.block.start, r.id))
        return found

    def busy_blocks(
        self, windows: Mapping[ResourceId, TimeSpan]
    ) -> Sequence[tuple[ResourceId, TimeSpan]]:
        found = [
            (r.resource_id, r.block)
            for resource_id, window in windows.items()
            for r in self.blocking_overlaps([resource_id], window)
        ]
        found.sort(key=lambda pair: (pair[1].start, pair[0]))
        return found

    def held_by(self, holder: UserId, span: TimeSpan) -> Sequence[Reservation]:
        state = self._unit.reading()
        rows = (state.reservations[i] for i in state.by_holder.get(holder, ()))
        found = [r for r in rows if r.is_blocking and r.span.overlaps(span)]
        return sorted(found, key=lambda r: (r.span.start, r.id))

    def find(self, query: ReservationQuery, page: PageRequest) -> Page[Reservation]:
        state = self._unit.reading()
        after = _after(page.cursor) if page.cursor else None
        keyed = sorted(
            ((r.span.start, r.id), r) for r in self._candidates(query, state) if _matches(r, query)
        )
        if after is not None:
            keyed = keyed[bisect_right(keyed, after, key=lambda kr: kr[0]) :]
        kept = keyed[: page.limit + 1]
        last = kept[page.limit - 1][0] if len(kept) > page.limit else None
        cursor = (last[0].isoformat(), last[1]) if last else None
        return page_of([r for _, r in kept], page.limit, cursor)

    def _candidates(self, query: ReservationQuery, state: MemoryState) -> Iterable[Reservation]:
        """The smallest superset of the matches that an index yields; ``_matches`` does the rest."""
        if query.series_id is not None:
            ids: Iterable[ReservationId] = state.by_series.get(query.series_id, ())
        elif query.booking_id is not None:
            ids = state.by_booking.get(query.booking_id, ())
        elif query.resource_ids is not None:
            if (
                query.overlapping is not None
                and query.statuses is not None
                and query.statuses <= BLOCKING_STATUSES
            ):
                # Blocking rows only: the timelines find them by bisection (a block holds its span).
                return self.blocking_overlaps(query.resource_ids, query.overlapping)
            ids = (i for rid in query.resource_ids for i in state.by_resource.get(rid, ()))
        elif query.holder is not None:
            ids = state.by_holder.get(query.holder, ())
        else:
            return state.reservations.values()
        return [state.reservations[i] for i in ids]


class MemorySeriesRepository(MemoryRepository):
    """Recurring series in memory."""

    def add(self, series: Series) -> None:
        stored = self._unit.reading().series
        if series.id in stored:
            raise already_exists("series", series.id)
        self._unit.put(stored, series.id, series)

    def get(self, series_id: SeriesId) -> Series:
        return get_or_raise(self._unit.reading().series, series_id, "series")

    def update(self, series: Series) -> None:
        stored = self._unit.reading().series
        get_or_raise(stored, series.id, "series")
        self._unit.put(stored, series.id, series)


class MemoryHistoryRepository(MemoryRepository):
    """Reservation history in memory, ordered by ``at`` with ties in append order."""

    def append(self, entry: HistoryEntry) -> None:
        undo = self._unit.writing()
        entries = self._unit.state.history.setdefault(entry.reservation_id, [])
        entries.append(entry)
        undo.append(entries.pop)

    def for_reservation(self, reservation_id: ReservationId) -> Sequence[HistoryEntry]:
        entries = self._unit.reading().history.get(reservation_id, [])
        return sorted(entries, key=lambda e: e.at)
