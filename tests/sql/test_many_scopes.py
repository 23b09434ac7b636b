"""Schedule lookups over thousands of scopes stay one query (find across 1,000+ resources)."""

from __future__ import annotations

from datetime import date, time

from reserver.core.schedules import Scope, WeeklyHours
from reserver.core.testing import make_blackout, make_resource, store
from reserver.sql import SqlStorage


def test_blackouts_and_hours_of_three_thousand_scopes(sqlite_url: str) -> None:
    storage = SqlStorage.from_url(sqlite_url)
    try:
        resources = [make_resource() for _ in range(3000)]
        store(storage, *resources)
        last = Scope.resource(resources[-1].id)
        closed = make_blackout(last, days=(date(2030, 1, 1), date(2030, 1, 1)))
        store(storage, closed)
        office = WeeklyHours.weekdays(time(8), time(18))
        scopes = [Scope.resource(r.id) for r in resources] + [Scope.group("g"), Scope.everywhere()]
        with storage.transaction() as tx:
            tx.hours.put(Scope.everywhere(), office)
        with storage.transaction(readonly=True) as tx:
            assert list(tx.blackouts.for_scopes(scopes)) == [closed]
            assert tx.hours.nearest(scopes) == office
    finally:
        storage.close()
