"""Demo data for a first run: two sites in different time zones, rooms, desks, equipment, bookings.

Everything goes through the facade's use cases, so the demo obeys every rule a user would.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from reserver.core.commands import GroupDraft, ReservationRequest, ResourceDraft, SeriesRequest
from reserver.core.facade import Reserver
from reserver.core.ids import GroupId, UserId
from reserver.core.models import Attributes
from reserver.core.principals import Principal
from reserver.core.queries import PageRequest, ResourceQuery
from reserver.core.recurrence import Frequency, RecurrenceRule
from reserver.core.schedules import Scope, WeeklyHours

SITES = (
    ("Berlin HQ", "Europe/Berlin", time(8), time(19)),
    ("New York office", "America/New_York", time(7), time(20)),
)


def is_empty(reserver: Reserver, admin: Principal) -> bool:
    """Whether the system holds no resource and no group yet (a fresh database)."""
    everything = ResourceQuery(include_retired=True)
    resources = reserver.resources.list(admin, everything, PageRequest(limit=1))
    return not resources.items and not reserver.groups.list(admin)


def _next_weekday(today: date, offset: int) -> date:
    day = today + timedelta(days=offset)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def _site(reserver: Reserver, admin: Principal, name: str, zone: str) -> GroupId:
    site = reserver.groups.create(admin, GroupDraft(name=name, kind="site", timezone=zone))
    return site.id


def seed(reserver: Reserver, admin: Principal, users: tuple[UserId, ...] = ()) -> int:
    """Fill an empty system with the demo catalogue and a few bookings; returns resources made."""
    made = 0
    holders = users or (admin.id,)
    for index, (name, zone, opens, closes) in enumerate(SITES):
        site = _site(reserver, admin, name, zone)
        reserver.schedules.set_hours(admin, Scope.group(site), WeeklyHours.weekdays(opens, closes))
        floor = reserver.groups.create(
            admin, GroupDraft(name="Floor 1", kind="floor", parent_id=site)
        ).id
        catalogue = [
            ResourceDraft(
                name=f"{name.split()[0]} meeting room {n}",
                kind="room",
                tags=frozenset({"video"} if n == 1 else {"whiteboard"}),
                attributes=Attributes(capacity=4 + 4 * n, location="Floor 1"),
                group_id=floor,
            )
            for n in (1, 2)
        ]
        catalogue += [
            ResourceDraft(name=f"{name.split()[0]} desk {n}", kind="desk", group_id=floor)
            for n in (1, 2, 3)
        ]
        catalogue.append(
            ResourceDraft(
                name=f"{name.split()[0]} projector",
                kind="equipment",
                tags=frozenset({"video"}),
                group_id=site,
            )
        )
        resources = [reserver.resources.create(admin, draft) for draft in catalogue]
        made += len(resources)
        tz = ZoneInfo(zone)
        today = reserver.clock.now().astimezone(tz).date()
        for n, resource in enumerate(resources[:3]):
            day = _next_weekday(today, 1 + n)
            start = datetime.combine(day, time(10 + n), tz)
            holder = holders[(index + n) % len(holders)]
            reserver.reservations.reserve(
                admin,
                ReservationRequest(
                    resource.id,
                    start,
                    start + timedelta(hours=1),
                    title="Demo booking",
                    holder=holder,
                ),
            )
        first = datetime.combine(_next_weekday(today, 1), time(9), tz)
        reserver.series.reserve(
            admin,
            SeriesRequest(
                resources[1].id,
                first,
                first + timedelta(minutes=30),
                RecurrenceRule(Frequency.WEEKLY, count=6),
                title="Weekly stand-up",
            ),
        )
    return made
