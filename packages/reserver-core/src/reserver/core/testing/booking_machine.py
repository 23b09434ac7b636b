"""A hypothesis state machine that drives the whole facade against a tiny reference model.

Random reserve / cancel / edit / series / clock steps; after every step no two blocking
reservations of a resource overlap (buffers included) and the system agrees with the model
on every reservation's status, span and version. Run it on any storage:

    TestMemory = booking_machine(InMemoryStorage).TestCase
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

from reserver.core.adapters.clock import FixedClock
from reserver.core.commands import ReservationEdit, ReservationRequest, ResourceDraft, SeriesRequest
from reserver.core.errors import ConflictError, NotFoundError
from reserver.core.facade import Reserver
from reserver.core.ids import ReservationId, ResourceId
from reserver.core.models import BookingPolicy, Reservation, ReservationStatus
from reserver.core.ports import Storage
from reserver.core.principals import Principal
from reserver.core.queries import PageRequest, ReservationQuery
from reserver.core.recurrence import Frequency, RecurrenceRule
from reserver.core.spans import TimeSpan

BASE = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)
STEP = timedelta(minutes=15)
USERS = (Principal.user("ann"), Principal.user("bob"), Principal.admin("root"))


@attrs.define
class Modelled:
    """What the model believes about one reservation."""

    resource: int
    holder: str
    span: TimeSpan
    block: TimeSpan
    status: ReservationStatus
    version: int


def booking_machine(make_storage: Callable[[], Storage]) -> type[RuleBasedStateMachine]:
    """Build the state machine class over storages that ``make_storage`` returns.

    The storage may be shared between examples: each example books its own new resources.
    """

    class BookingMachine(RuleBasedStateMachine):
        reservations = Bundle("reservations")

        def __init__(self) -> None:
            super().__init__()
            self.clock = FixedClock(BASE)
            self.reserver = Reserver(storage=make_storage(), clock=self.clock)
            self.model: dict[ReservationId, Modelled] = {}
            self.resources: list[ResourceId] = []
            self.buffers: list[timedelta] = []

        @initialize()
        def make_resources(self) -> None:
            admin = USERS[2]
            for i, buffer in enumerate((timedelta(0), timedelta(minutes=15))):
                policy = BookingPolicy(buffer_after=buffer)
                draft = ResourceDraft(name=f"room {i}", timezone="UTC", policy=policy)
                self.resources.append(self.reserver.resources.create(admin, draft).id)
                self.buffers.append(buffer)

        def _free(self, resource: int, block: TimeSpan, skip: ReservationId | None = None) -> bool:
            return not any(
                m.resource == resource and m.status.is_blocking and m.block.overlaps(block)
                for rid, m in self.model.items()
                if rid != skip
            )

        def _span(self, start: int, length: int) -> TimeSpan:
            return TimeSpan(BASE + start * STEP, BASE + (start + length) * STEP)

        @rule(
            target=reservations,
            resource=st.integers(0, 1),
            user=st.integers(0, 2),
            start=st.integers(0, 200),
            length=st.integers(1, 12),
        )
        def reserve(self, resource: int, user: int, start: int, length: int) -> ReservationId:
            span = self._span(start, length)
            block = span.widened(timedelta(0), self.buffers[resource])
            expect = span.start >= self.clock.now() and self._free(resource, block)
            request = ReservationRequest(self.resources[resource], span.start, span.end)
            try:
                made = self.reserver.reservations.reserve(USERS[user], request)
            except ConflictError:
                assert not expect, f"refused a free slot {span}"
                return ReservationId("missing")
            assert expect, f"accepted a taken or past slot {span}"
            assert made.block == block
            self.model[made.id] = Modelled(
                resource, USERS[user].id, span, block, ReservationStatus.CONFIRMED, 1
            )
            return made.id

        @rule(
            target=reservations,
            resource=st.integers(0, 1),
            user=st.integers(0, 1),
            start=st.integers(0, 90),
            length=st.integers(1, 8),
            count=st.integers(2, 5),
            skip=st.booleans(),
        )
        def series(
            self, resource: int, user: int, start: int, length: int, count: int, skip: bool
        ) -> ReservationId:
            first = self._span(start, length)
            spans = [first.shifted(timedelta(days=i)) for i in range(count)]
            buffer = self.buffers[resource]
            ok = [
                s.start >= self.clock.now()
                and self._free(resource, s.widened(timedelta(0), buffer))
                for s in spans
            ]
            request = SeriesRequest(
                self.resources[resource],
                first.start,
                first.end,
                RecurrenceRule(Frequency.DAILY, count=count),
                skip_conflicts=skip,
            )
            try:
                booked = self.reserver.series.reserve(USERS[user], request)
            except ConflictError:
                assert not all(ok), "refused a bookable series"
                assert not skip or not any(ok), "refused a series with bookable occurrences"
                return ReservationId("missing")
            assert all(ok) or (skip and any(ok)), "booked a series with a taken occurrence"
            assert [r.span for r in booked.reservations] == [
                s for s, g in zip(spans, ok, strict=True) if g
            ]
            for made in booked.reservations:
                self.model[made.id] = Modelled(
                    resource, USERS[user].id, made.span, made.block, ReservationStatus.CONFIRMED, 1
                )
            return booked.reservations[0].id

        @rule(reservation=reservations, user=st.integers(0, 2))
        def cancel(self, reservation: ReservationId, user: int) -> None:
            actor = USERS[user]
            m = self.model.get(reservation)
            try:
                self.reserver.reservations.cancel(actor, reservation, "changed plans")
            except NotFoundError:
                assert m is None or not (actor.is_admin or actor.id == m.holder)
                return
            except ConflictError:
                assert m is not None
                deadline = m.span.end if actor.is_admin else m.span.start
                assert not m.status.is_blocking or self.clock.now() >= deadline
                return
            assert m is not None
            assert actor.is_admin or actor.id == m.holder
            m.status, m.version = ReservationStatus.CANCELLED, m.version + 1

        @rule(
            reservation=reservations,
            start=st.integers(0, 200),
            length=st.integers(1, 12),
            stale=st.booleans(),
        )
        def edit(self, reservation: ReservationId, start: int, length: int, stale: bool) -> None:
            m = self.model.get(reservation)
            if m is None:
                return
            span = self._span(start, length)
            block = span.widened(timedelta(0), self.buffers[m.resource])
            version = m.version - 1 if stale else m.version
            holder = next(u for u in USERS if u.id == m.holder)
            expect = (
                not stale
                and m.status.is_blocking
                and span.start >= self.clock.now()
                and self._free(m.resource, block, skip=reservation)
            )
            edit = ReservationEdit(start=span.start, end=span.end)
            try:
                done = self.reserver.reservations.edit(
                    holder, reservation, edit, expected_version=version
                )
            except ConflictError:
                assert not expect or span == m.span
                return
            assert expect or span == m.span, f"accepted a bad move to {span}"
            if span != m.span:
                m.span, m.block, m.version = span, block, m.version + 1
                assert done.version == m.version

        @rule(minutes=st.sampled_from([0, 15, 45, 120, 600]))
        def wait(self, minutes: int) -> None:
            self.clock.advance(timedelta(minutes=minutes))

        @invariant()
        def agrees_with_model(self) -> None:
            if not self.resources:
                return
            query = ReservationQuery(resource_ids=frozenset(self.resources))
            stored: list[Reservation] = []
            page = self.reserver.reservations.list(USERS[2], query, PageRequest(limit=500))
            stored.extend(page.items)
            while page.next_cursor:
                page = self.reserver.reservations.list(
                    USERS[2], query, PageRequest(limit=500, cursor=page.next_cursor)
                )
                stored.extend(page.items)
            seen = {r.id: (r.status, r.span, r.version) for r in stored}
            expected = {rid: (m.status, m.span, m.version) for rid, m in self.model.items()}
            assert seen == expected
            for resource in self.resources:
                spans = sorted(
                    (r.block for r in stored if r.resource_id == resource and r.is_blocking),
                    key=lambda b: b.start,
                )
                for a, b in itertools.pairwise(spans):
                    assert a.end <= b.start, f"double booking: {a} and {b}"

        def teardown(self) -> None:
            self.reserver.close()

    return BookingMachine
