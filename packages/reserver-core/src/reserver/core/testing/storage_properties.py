"""Storage contract, part five: random histories agree with a plain Python reference model."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reserver.core.errors import ConflictError, Rule
from reserver.core.ids import ReservationId
from reserver.core.models import BLOCKING_STATUSES, Reservation, ReservationStatus, Resource
from reserver.core.ports import Storage
from reserver.core.queries import Page, PageRequest, ReservationQuery
from reserver.core.spans import TimeSpan
from reserver.core.testing.builders import T0, make_reservation, make_resource, store
from reserver.core.testing.storage_queries import walk

SLOT = timedelta(minutes=15)
WINDOW = TimeSpan(T0 - timedelta(days=1), T0 + timedelta(days=2))
BLOCKING = sorted(BLOCKING_STATUSES)
NON_BLOCKING = sorted(set(ReservationStatus) - BLOCKING_STATUSES)


@attrs.frozen
class Add:
    """Book ``length`` slots from ``start`` on resource ``resource`` with buffers in slots."""

    resource: int
    start: int
    length: int
    before: int
    after: int
    status: ReservationStatus


@attrs.frozen
class Move:
    """Move reservation number ``target`` (modulo how many exist) to new slots."""

    target: int
    start: int
    length: int


@attrs.frozen
class SetStatus:
    """Change the status of reservation number ``target``; cancelling is one such change."""

    target: int
    status: ReservationStatus


@attrs.frozen
class StaleEdit:
    """Edit reservation number ``target`` with an outdated ``expected_version``."""

    target: int


statuses = st.one_of(st.sampled_from(BLOCKING), st.sampled_from(NON_BLOCKING))
starts, lengths, buffers = st.integers(0, 31), st.integers(1, 8), st.integers(0, 2)
steps = st.lists(
    st.one_of(
        st.builds(Add, st.integers(0, 2), starts, lengths, buffers, buffers, statuses),
        st.builds(Add, st.integers(0, 2), starts, lengths, st.just(0), st.just(0), statuses),
        st.builds(Move, st.integers(0, 99), starts, lengths),
        st.builds(SetStatus, st.integers(0, 99), statuses),
        st.builds(SetStatus, st.integers(0, 99), st.just(ReservationStatus.CANCELLED)),
        st.builds(StaleEdit, st.integers(0, 99)),
    ),
    min_size=1,
    max_size=25,
)


class ReferenceModel:
    """What the storage should hold: a dict, and the overlap rule spelled out plainly."""

    def __init__(self) -> None:
        self.rows: dict[ReservationId, Reservation] = {}
        self.order: list[ReservationId] = []

    def pick(self, target: int) -> Reservation | None:
        """The reservation that a step's ``target`` number designates, if any exist."""
        return self.rows[self.order[target % len(self.order)]] if self.order else None

    def clashes(self, candidate: Reservation) -> bool:
        """Whether storing ``candidate`` would make two blocking blocks of a resource overlap."""
        return candidate.is_blocking and any(
            other.id != candidate.id
            and other.resource_id == candidate.resource_id
            and other.is_blocking
            and other.block.overlaps(candidate.block)
            for other in self.rows.values()
        )

    def put(self, reservation: Reservation) -> None:
        """Record a write the storage accepted."""
        if reservation.id not in self.rows:
            self.order.append(reservation.id)
        self.rows[reservation.id] = reservation

    def blocking(self, resource: Resource) -> list[Reservation]:
        """The blocking reservations of ``resource`` by block start."""
        rows = [r for r in self.rows.values() if r.resource_id == resource.id and r.is_blocking]
        return sorted(rows, key=lambda r: r.block.start)


def _candidate(step: object, model: ReferenceModel, resources: list[Resource]) -> Reservation:
    if isinstance(step, Add):
        start = T0 + step.start * SLOT
        return make_reservation(
            resources[step.resource].id,
            start,
            start + step.length * SLOT,
            status=step.status,
            buffer_before=step.before * SLOT,
            buffer_after=step.after * SLOT,
        )
    assert isinstance(step, Move | SetStatus)
    current = model.pick(step.target)
    assert current is not None
    if isinstance(step, SetStatus):
        return attrs.evolve(current, status=step.status, version=current.version + 1)
    start = T0 + step.start * SLOT
    moved = TimeSpan(start, start + step.length * SLOT)
    block = TimeSpan(
        moved.start - (current.span.start - current.block.start),
        moved.end + (current.block.end - current.span.end),
    )
    return attrs.evolve(current, span=moved, block=block, version=current.version + 1)


def _apply(
    storage: Storage, step: object, model: ReferenceModel, resources: list[Resource]
) -> None:
    if isinstance(step, StaleEdit):
        current = model.pick(step.target)
        if current is None:
            return
        edit = attrs.evolve(current, title="stale", version=current.version + 1)
        with pytest.raises(ConflictError) as info, storage.transaction() as tx:
            tx.reservations.update(edit, expected_version=current.version - 1)
        assert info.value.rules == {Rule.VERSION}
        return
    if not isinstance(step, Add) and not model.order:
        return
    candidate = _candidate(step, model, resources)
    refused = model.clashes(candidate)
    if refused:
        with pytest.raises(ConflictError) as info:
            _write(storage, step, candidate)
        assert Rule.OVERLAP in info.value.rules
        return
    _write(storage, step, candidate)  # a ConflictError here means the model accepts the step
    model.put(candidate)


def _write(storage: Storage, step: object, candidate: Reservation) -> None:
    with storage.transaction() as tx:
        if isinstance(step, Add):
            tx.reservations.add(candidate)
        else:
            tx.reservations.update(candidate, expected_version=candidate.version - 1)


def _check(storage: Storage, model: ReferenceModel, resources: list[Resource]) -> None:
    with storage.transaction(readonly=True) as tx:
        for resource in resources:
            got = list(tx.reservations.blocking_overlaps([resource.id], WINDOW))
            assert got == model.blocking(resource)
            for a, b in pairwise(got):
                assert a.block.end <= b.block.start, f"{a.id} and {b.id} overlap"
        if model.order:
            latest = model.rows[model.order[-1]]
            assert tx.reservations.get(latest.id) == latest


def _check_listing(storage: Storage, model: ReferenceModel, resources: list[Resource]) -> None:
    query = ReservationQuery(resource_ids=frozenset(r.id for r in resources))

    def fetch(page: PageRequest) -> Page[Reservation]:
        with storage.transaction(readonly=True) as tx:
            return tx.reservations.find(query, page)

    pages = walk(fetch, 7)
    listed = [r for page in pages for r in page.items]
    assert listed == sorted(model.rows.values(), key=lambda r: (r.span.start, r.id))


class StoragePropertiesContract:
    """Hypothesis drives random add / move / status / stale-edit histories on three resources."""

    property_examples = 60

    def test_random_histories_never_double_book(self, storage: Storage) -> None:
        """After every step no blocking blocks overlap and storage equals the reference model."""

        @settings(
            max_examples=self.property_examples,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(history=steps)
        def run(history: list[object]) -> None:
            resources = [make_resource() for _ in range(3)]
            store(storage, *resources)
            model = ReferenceModel()
            for step in history:
                _apply(storage, step, model, resources)
                _check(storage, model, resources)
            _check_listing(storage, model, resources)

        run()
