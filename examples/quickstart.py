"""Reserver in five minutes: book, be refused with reasons, repeat across DST, list free slots.

Run it with ``make run`` or ``python examples/quickstart.py --db data/reserver.db``. It rebuilds its
demo database on every run, so you can run it as often as you like.
"""

from __future__ import annotations

import argparse
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from reserver.core import (
    ConflictError,
    Frequency,
    GroupDraft,
    Principal,
    RecurrenceRule,
    ReservationRequest,
    Reserver,
    ResourceDraft,
    Scope,
    SeriesRequest,
    WeeklyHours,
)
from reserver.core.adapters.clock import SystemClock
from reserver.sql import SqlStorage

ZONE = ZoneInfo("Europe/Berlin")


def next_dst_change(after: date, tz: ZoneInfo) -> date:
    """The first local date after ``after`` on which the zone's UTC offset changes."""
    day = after
    noon = datetime.combine(day, time(12), tz).utcoffset()
    while True:
        day += timedelta(days=1)
        offset = datetime.combine(day, time(12), tz).utcoffset()
        if offset != noon:
            return day


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), ZONE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", default="data/reserver.db", help="SQLite file to (re)create")
    db = Path(parser.parse_args().db)
    db.parent.mkdir(parents=True, exist_ok=True)
    for stale in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        stale.unlink(missing_ok=True)

    reserver = Reserver(storage=SqlStorage.from_url(f"sqlite:///{db}"), clock=SystemClock())
    admin, ann, bob = Principal.admin("admin"), Principal.user("ann"), Principal.user("bob")

    site = reserver.groups.create(
        admin, GroupDraft(name="Berlin HQ", kind="site", timezone="Europe/Berlin")
    )
    room = reserver.resources.create(
        admin,
        ResourceDraft(name="Spree room", group_id=site.id, tags=frozenset({"video", "whiteboard"})),
    )
    reserver.schedules.set_hours(
        admin, Scope.group(site.id), WeeklyHours.weekdays(time(8), time(18))
    )
    print(f"Created {room.name!r} in {room.timezone}, open weekdays 08:00-18:00 local time.\n")

    today = reserver.clock.now().astimezone(ZONE).date()
    monday = today + timedelta(days=7 - today.weekday())
    made = reserver.reservations.reserve(
        ann, ReservationRequest(room.id, at(monday, 10), at(monday, 11), title="Planning")
    )
    print(
        f"1. Ann booked {made.title!r}: {made.span.start.astimezone(ZONE):%a %Y-%m-%d %H:%M}-"
        f"{made.span.end.astimezone(ZONE):%H:%M} ({made.status.value})."
    )

    try:
        reserver.reservations.reserve(
            bob, ReservationRequest(room.id, at(monday, 10, 30), at(monday, 18, 30))
        )
    except ConflictError as refused:
        print("2. Bob's 10:30-18:30 booking was refused, naming every rule it breaks:")
        for violation in refused.violations:
            print(f"   - {violation.rule.value}: {violation.message}")
        print("   Next free alternatives:")
        for alt in refused.alternatives:
            start = datetime.fromisoformat(alt.start).astimezone(ZONE)
            end = datetime.fromisoformat(alt.end).astimezone(ZONE)
            print(f"   - {start:%a %H:%M}-{end:%H:%M}")

    change = next_dst_change(monday, ZONE)
    first = change - timedelta(days=change.weekday() + 14)  # a Monday two weeks before the change
    first = max(first, monday + timedelta(days=7))
    rule = RecurrenceRule(Frequency.WEEKLY, count=5)
    series = reserver.series.reserve(
        ann, SeriesRequest(room.id, at(first, 9), at(first, 9, 45), rule, title="Weekly sync")
    )
    print(f"\n3. A weekly 09:00 series across the DST change of {change}:")
    for occurrence in series.reservations:
        local = occurrence.span.start.astimezone(ZONE)
        print(f"   - {local:%Y-%m-%d %H:%M %Z (UTC%z)}, {occurrence.span.duration} long")

    slots = reserver.availability.free_slots(bob, room.id, timedelta(hours=1), day=monday)
    hourly = [s for s in slots if s.start.astimezone(ZONE).minute == 0]
    print(f"\n4. Free one-hour slots on {monday:%a %Y-%m-%d} (on the hour):")
    print("   " + ", ".join(f"{s.start.astimezone(ZONE):%H:%M}" for s in hourly))
    print(f"\nEverything is stored in {db}. Run `make test` to see it proven.")
    reserver.close()


if __name__ == "__main__":
    main()
