"""Storage contract, part two: filters, sort orders, keyset pagination and tags."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

import attrs
import pytest

from reserver.core.errors import ValidationError
from reserver.core.ids import BookingId, GroupId, ReservationId, ResourceId, SeriesId, UserId
from reserver.core.models import (
    Attributes,
    Reservation,
    ReservationStatus,
    Resource,
    ResourceStatus,
)
from reserver.core.ports import Storage
from reserver.core.queries import (
    Page,
    PageRequest,
    ReservationQuery,
    ResourceQuery,
    resource_sort_key,
)
from reserver.core.testing.builders import (
    at,
    make_group,
    make_reservation,
    make_resource,
    make_series,
    span,
    store,
)

T = TypeVar("T")
HOUR = timedelta(hours=1)
BOOKING = BookingId("booking-42")


def walk(fetch: Callable[[PageRequest], Page[T]], limit: int) -> list[Page[T]]:
    """Return every page of a listing, following ``next_cursor`` from the first page."""
    pages = [fetch(PageRequest(limit=limit))]
    while pages[-1].next_cursor is not None:
        assert len(pages) < 10_000, "the listing never ends"
        pages.append(fetch(PageRequest(limit=limit, cursor=pages[-1].next_cursor)))
    return pages


def _features(*names: str) -> Any:
    # Any: mypy's attrs plugin cannot type the converter=frozenset of Attributes.features
    return frozenset(names)


def _names(storage: Storage, query: ResourceQuery) -> list[str]:
    with storage.transaction(readonly=True) as tx:
        return [r.name for r in tx.resources.find(query, PageRequest(limit=100)).items]


def _resource_catalogue(storage: Storage) -> dict[str, GroupId]:
    site = make_group(name="Site")
    north, south = make_group(name="North", parent=site), make_group(name="South", parent=site)
    floor = make_group(name="Floor", parent=north)
    store(storage, site, north, south, floor)
    store(
        storage,
        make_resource(
            name="Alpha",
            tags={"quiet", "projector"},
            attributes=Attributes(10, "Building A", _features("whiteboard", "video")),
            group_id=floor.id,
        ),
        make_resource(
            name="beta lab",
            kind="lab",
            tags={"quiet"},
            attributes=Attributes(4, "building a", _features("sink")),
            status=ResourceStatus.MAINTENANCE,
            group_id=south.id,
        ),
        make_resource(
            name="Gamma",
            kind="desk",
            description="Near the 50% window",
            status=ResourceStatus.DISABLED,
        ),
        make_resource(
            name="Delta",
            tags={"projector"},
            attributes=Attributes(capacity=20),
            group_id=north.id,
            retired_at=at(-100),
        ),
        make_resource(name="epsilon_x", description="Corner office"),
    )
    return {"site": site.id, "north": north.id, "south": south.id, "floor": floor.id}


class StorageQueriesContract:
    """``find`` on resources and reservations, ``tag_counts`` and ``replace_tag``."""

    def test_resource_find_applies_every_filter(self, storage: Storage) -> None:
        """Every ``ResourceQuery`` filter holds; groups match their whole subtree."""
        groups = _resource_catalogue(storage)
        in_group = {name: frozenset({gid}) for name, gid in groups.items()}
        cases: list[tuple[str, ResourceQuery, list[str]]] = [
            ("all but retired", ResourceQuery(), ["Alpha", "beta lab", "epsilon_x", "Gamma"]),
            (
                "retired too",
                ResourceQuery(include_retired=True),
                ["Alpha", "beta lab", "Delta", "epsilon_x", "Gamma"],
            ),
            (
                "statuses",
                ResourceQuery(
                    statuses=frozenset({ResourceStatus.MAINTENANCE, ResourceStatus.DISABLED})
                ),
                ["beta lab", "Gamma"],
            ),
            ("one tag", ResourceQuery(tags_all=frozenset({"quiet"})), ["Alpha", "beta lab"]),
            ("all tags", ResourceQuery(tags_all=frozenset({"quiet", "projector"})), ["Alpha"]),
            ("group subtree", ResourceQuery(group_ids=in_group["north"]), ["Alpha"]),
            ("site subtree", ResourceQuery(group_ids=in_group["site"]), ["Alpha", "beta lab"]),
            ("leaf group", ResourceQuery(group_ids=in_group["south"]), ["beta lab"]),
            ("no groups", ResourceQuery(group_ids=frozenset()), []),
            (
                "groups, retired too",
                ResourceQuery(group_ids=in_group["north"], include_retired=True),
                ["Alpha", "Delta"],
            ),
            ("capacity", ResourceQuery(min_capacity=5), ["Alpha"]),
            ("capacity edge", ResourceQuery(min_capacity=4), ["Alpha", "beta lab"]),
            ("features", ResourceQuery(features_all=frozenset({"whiteboard"})), ["Alpha"]),
            ("all features", ResourceQuery(features_all=frozenset({"whiteboard", "sink"})), []),
            ("location ignores case", ResourceQuery(location="BUILDING A"), ["Alpha", "beta lab"]),
            ("kind", ResourceQuery(kind="room"), ["Alpha", "epsilon_x"]),
            ("text in name ignores case", ResourceQuery(text="ALP"), ["Alpha"]),
            ("text in description", ResourceQuery(text="corner"), ["epsilon_x"]),
            ("text percent is literal", ResourceQuery(text="50%"), ["Gamma"]),
            ("text underscore is literal", ResourceQuery(text="_"), ["epsilon_x"]),
            (
                "ids",
                ResourceQuery(ids=frozenset({ResourceId("no-such-id")})),
                [],
            ),
            (
                "combined",
                ResourceQuery(kind="room", tags_all=frozenset({"projector"}), include_retired=True),
                ["Alpha", "Delta"],
            ),
        ]
        wrong = {
            label: (got, expected)
            for label, query, expected in cases
            if (got := _names(storage, query)) != expected
        }
        assert wrong == {}, "filters that returned the wrong resources: (got, expected)"

    def test_resource_find_by_ids(self, storage: Storage) -> None:
        """``ids`` restricts the listing to the given resources."""
        a, b, c = make_resource(name="A"), make_resource(name="B"), make_resource(name="C")
        store(storage, a, b, c)
        query = ResourceQuery(ids=frozenset({c.id, a.id, ResourceId("missing")}))
        assert _names(storage, query) == ["A", "C"]

    def test_resource_pages_walk_every_item_once_in_order(self, storage: Storage) -> None:
        """Pages follow case-folded name then id, each resource exactly once."""
        names = ["room 10", "Room 2", "room-1", "Room 1", "a b", "A", "ab", "Zeta", "zeta"]
        resources = [make_resource(name=n) for n in names * 3]
        store(storage, *resources)
        expected = sorted(resources, key=lambda r: resource_sort_key(r.name, r.id))

        def fetch(page: PageRequest) -> Page[Resource]:
            with storage.transaction(readonly=True) as tx:
                return tx.resources.find(ResourceQuery(), page)

        pages = walk(fetch, 4)
        assert [r for p in pages for r in p.items] == expected
        assert len(pages) == math.ceil(len(resources) / 4)
        assert all(len(p.items) == 4 for p in pages[:-1])

    def test_a_forged_cursor_is_a_validation_error(self, storage: Storage) -> None:
        """A cursor the storage did not issue is a ``ValidationError``."""
        store(storage, make_resource())
        with storage.transaction(readonly=True) as tx, pytest.raises(ValidationError):
            tx.resources.find(ResourceQuery(), PageRequest(cursor="not-a-cursor!"))

    def test_tag_counts_and_replace_tag(self, storage: Storage) -> None:
        """Tags count over all resources; ``replace_tag`` renames or drops and bumps versions."""
        a = make_resource(tags={"quiet", "projector"})
        b = make_resource(tags={"quiet", "silent"})
        c = make_resource(tags={"projector"}, retired_at=at(-1))
        d = make_resource()
        store(storage, a, b, c, d)
        with storage.transaction() as tx:
            assert dict(tx.resources.tag_counts()) == {"quiet": 2, "projector": 2, "silent": 1}
            assert tx.resources.replace_tag("quiet", "silent") == 2
            assert tx.resources.replace_tag("nowhere", "x") == 0
        with storage.transaction() as tx:
            assert dict(tx.resources.tag_counts()) == {"projector": 2, "silent": 2}
            got_a, got_b = tx.resources.get(a.id), tx.resources.get(b.id)
            assert got_a.tags == {"silent", "projector"}
            assert got_b.tags == {"silent"}
            assert (got_a.version, got_b.version) == (a.version + 1, b.version + 1)
            assert tx.resources.get(d.id) == d
            assert tx.resources.replace_tag("projector", None) == 2
        with storage.transaction(readonly=True) as tx:
            assert dict(tx.resources.tag_counts()) == {"silent": 2}
            assert tx.resources.get(c.id).tags == frozenset()

    def test_reservation_find_applies_every_filter(self, storage: Storage) -> None:
        """Every ``ReservationQuery`` filter holds; ``overlapping`` uses the span, not the block."""
        room, desk = make_resource(name="Room"), make_resource(name="Desk")
        series = make_series(room.id)
        store(storage, room, desk, series)
        rows = {
            "r1": make_reservation(room.id, at(0), at(1), holder="ann", series_id=series.id),
            "r2": make_reservation(
                room.id, at(2), at(3), holder="ann", series_id=series.id, buffer_after=HOUR
            ),
            "r3": make_reservation(room.id, at(4), at(5), holder="bob", booking_id=BOOKING),
            "d1": make_reservation(desk.id, at(4), at(6), holder="ann", booking_id=BOOKING),
            "d2": make_reservation(
                desk.id, at(0), at(1), holder="bob", status=ReservationStatus.CANCELLED
            ),
        }
        rows = {k: attrs.evolve(r, id=ReservationId(f"{k}-{r.id}")) for k, r in rows.items()}
        store(storage, *rows.values())
        by_id = {r.id: label for label, r in rows.items()}
        cases: list[tuple[str, ReservationQuery, list[str]]] = [
            ("everything", ReservationQuery(), ["d2", "r1", "r2", "d1", "r3"]),
            ("holder", ReservationQuery(holder=UserId("bob")), ["d2", "r3"]),
            ("resources", ReservationQuery(resource_ids=frozenset({desk.id})), ["d2", "d1"]),
            ("no resources", ReservationQuery(resource_ids=frozenset()), []),
            (
                "statuses",
                ReservationQuery(statuses=frozenset({ReservationStatus.CANCELLED})),
                ["d2"],
            ),
            ("overlapping", ReservationQuery(overlapping=span(0.5, 2.5)), ["d2", "r1", "r2"]),
            ("touching is not overlapping", ReservationQuery(overlapping=span(1, 2)), []),
            ("span, not block", ReservationQuery(overlapping=span(3, 4)), []),
            ("series", ReservationQuery(series_id=series.id), ["r1", "r2"]),
            ("booking", ReservationQuery(booking_id=BOOKING), ["d1", "r3"]),
            ("other series", ReservationQuery(series_id=SeriesId("none")), []),
            (
                "combined",
                ReservationQuery(
                    holder=UserId("ann"),
                    resource_ids=frozenset({room.id, desk.id}),
                    statuses=frozenset({ReservationStatus.CONFIRMED}),
                    overlapping=span(2.5, 4.5),
                ),
                ["r2", "d1"],
            ),
        ]
        wrong = {}
        for label, query, expected in cases:
            with storage.transaction(readonly=True) as tx:
                page = tx.reservations.find(query, PageRequest(limit=100))
            got = [by_id.get(r.id, r.id) for r in page.items]
            if got != expected:
                wrong[label] = (got, expected)
        assert wrong == {}, "filters that returned the wrong reservations: (got, expected)"

    def test_reservation_pages_walk_every_item_once_in_order(self, storage: Storage) -> None:
        """Pages follow start then id, each reservation exactly once."""
        resources = [make_resource() for _ in range(4)]
        store(storage, *resources)
        rows: list[Reservation] = [
            make_reservation(r.id, at(hour), at(hour + 1), id=f"rsv-{hour:02}-{n}")
            for hour in range(0, 12, 2)
            for n, r in enumerate(resources)
        ]
        rows.append(make_reservation(resources[0].id, at(1, minutes=30), at(1, minutes=45)))
        store(storage, *reversed(rows))
        expected = sorted(rows, key=lambda r: (r.span.start, r.id))

        def fetch(page: PageRequest) -> Page[Reservation]:
            with storage.transaction(readonly=True) as tx:
                return tx.reservations.find(ReservationQuery(), page)

        pages = walk(fetch, 3)
        assert [r for p in pages for r in p.items] == expected
        assert len(pages) == math.ceil(len(rows) / 3)
