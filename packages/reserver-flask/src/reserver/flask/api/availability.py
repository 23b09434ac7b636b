"""When things are free: slots, the next free slot, busy spans, and free resources to find."""

from __future__ import annotations

from datetime import timedelta

from reserver.core.errors import ValidationError
from reserver.core.ids import ResourceId
from reserver.core.principals import Principal
from reserver.core.services.availability import FoundResource
from reserver.core.spans import TimeSpan
from reserver.flask.api.inputs import resource_query
from reserver.flask.api.messages import FindQuery, NextQuery, NextSlot, SlotQuery, WindowQuery
from reserver.flask.api.routing import Api
from reserver.flask.services import core

api = Api("availability", "availability")
SCHEDULE_DAYS = 14
MAX_MINUTES = 366 * 24 * 60


def _minutes(value: int, field: str) -> timedelta:
    """``value`` minutes; a value no search could use is refused before it overflows."""
    if not 1 <= value <= MAX_MINUTES:
        raise ValidationError.for_field(field, f"must be 1 to {MAX_MINUTES} minutes")
    return timedelta(minutes=value)


def _span(start: object, end: object) -> TimeSpan | None:
    """The span between two query values; both or neither must be given."""
    if start is None and end is None:
        return None
    return TimeSpan(start, end)  # type: ignore[arg-type]


@api.operation("GET", "/resources/<resource_id>/available-slots")
def available_slots(principal: Principal, resource_id: str, query: SlotQuery) -> list[TimeSpan]:
    """Every bookable slot of ``slot_duration`` minutes on a local day or in a window.

    Give ``date`` (the resource's local day) or ``start`` and ``end``. Each slot passes every
    rule of the booking pipeline as things stand now.
    """
    return core().availability.free_slots(
        principal,
        ResourceId(resource_id),
        _minutes(query.slot_duration, "slot_duration"),
        day=query.date,
        window=_span(query.start, query.end),
    )


@api.operation("GET", "/resources/<resource_id>/next-available")
def next_available(principal: Principal, resource_id: str, query: NextQuery) -> NextSlot:
    """The earliest bookable slot of ``slot_duration`` minutes within ``days_ahead`` days."""
    return NextSlot(
        core().availability.next_available(
            principal,
            ResourceId(resource_id),
            _minutes(query.slot_duration, "slot_duration"),
            after=query.after,
            days=query.days_ahead,
        )
    )


@api.operation("GET", "/resources/<resource_id>/schedule")
def schedule(principal: Principal, resource_id: str, query: WindowQuery) -> list[TimeSpan]:
    """When the resource is held between ``start`` and ``end`` (default: the next 14 days).

    Only the spans: who holds them is never shown here.
    """
    reserver = core()
    window = _span(query.start, query.end)
    if window is None:
        now = reserver.clock.now()
        window = TimeSpan(now, now + timedelta(days=SCHEDULE_DAYS))
    return reserver.availability.busy(principal, ResourceId(resource_id), window)


@api.operation("GET", "/availability/find")
def find_free(principal: Principal, query: FindQuery) -> list[FoundResource]:
    """Resources that match the filters and are free, ranked by their earliest free slot.

    Give ``start`` and ``end`` for one exact span, or ``duration`` (minutes) with an optional
    window (``window_start``, ``window_end``; default the next 14 days).
    """
    return core().availability.find(
        principal,
        resource_query(query),
        span=_span(query.start, query.end),
        duration=None if query.duration is None else _minutes(query.duration, "duration"),
        window=_span(query.window_start, query.window_end),
        limit=query.limit,
    )
