from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reserver.core.adapters.memory import InMemoryStorage
from reserver.core.errors import ConfigurationError, ConflictError, StorageError
from reserver.core.models import Reservation, Resource
from reserver.core.ports import Storage
from reserver.core.registry import load_factory
from reserver.core.spans import TimeSpan
from reserver.core.testing import (
    InProcessStorageContract,
    at,
    make_reservation,
    make_resource,
    span,
    store,
)


class TestInMemoryStorage(InProcessStorageContract):
    @pytest.fixture
    def storage(self) -> Iterator[Storage]:
        storage = InMemoryStorage()
        yield storage
        storage.close()


@pytest.fixture
def memory() -> InMemoryStorage:
    return InMemoryStorage()


def test_from_url_builds_an_empty_storage() -> None:
    storage = InMemoryStorage.from_url("memory://")
    with storage.transaction(readonly=True) as tx:
        assert dict(tx.resources.tag_counts()) == {}


@pytest.mark.parametrize(
    "url", ["sqlite://", "memory://host", "memory:///data", "memory://?x=1", ""]
)
def test_from_url_refuses_other_urls(url: str) -> None:
    with pytest.raises(ConfigurationError, match="memory://"):
        InMemoryStorage.from_url(url)


def test_the_memory_entry_point_builds_the_storage() -> None:
    factory = load_factory("reserver.storage", "memory")
    assert isinstance(factory("memory://"), InMemoryStorage)


def test_a_nested_unit_of_work_in_one_thread_is_refused(memory: InMemoryStorage) -> None:
    resource = make_resource()
    with memory.transaction() as tx:
        tx.resources.add(resource)
        with pytest.raises(StorageError, match="already open in this thread"):
            memory.transaction().__enter__()
    with memory.transaction(readonly=True) as tx:
        assert tx.resources.get(resource.id) == resource


def test_a_readonly_unit_refuses_writes(memory: InMemoryStorage) -> None:
    with memory.transaction(readonly=True) as tx, pytest.raises(StorageError, match="read-only"):
        tx.resources.add(make_resource())
    with memory.transaction(readonly=True) as tx:
        assert dict(tx.resources.tag_counts()) == {}


def test_a_unit_cannot_be_used_after_it_ended(memory: InMemoryStorage) -> None:
    resource = make_resource()
    with memory.transaction() as tx:
        tx.resources.add(resource)
    with pytest.raises(StorageError, match="has ended"):
        tx.resources.get(resource.id)
    with pytest.raises(StorageError, match="has ended"):
        tx.resources.add(make_resource())


def test_a_closed_storage_opens_no_unit(memory: InMemoryStorage) -> None:
    memory.close()
    with pytest.raises(StorageError, match="closed"):
        memory.transaction().__enter__()


def test_a_second_thread_waits_for_the_unit_in_progress(memory: InMemoryStorage) -> None:
    resource = make_resource()
    entered = threading.Event()

    def second() -> None:
        with memory.transaction() as tx:
            tx.reservations.add(make_reservation(resource.id, at(5), at(6)))
        entered.set()

    with memory.transaction() as tx:
        tx.resources.add(resource)
        thread = threading.Thread(target=second)
        thread.start()
        # A negative wait: it can only pass wrongly (never flake) if the lock were missing.
        assert not entered.wait(0.05), "the second unit ran inside the first one"
    thread.join(10)
    assert entered.is_set()


def test_a_rolled_back_move_restores_the_old_slot(memory: InMemoryStorage) -> None:
    resource = make_resource()
    booked = make_reservation(resource.id, at(0), at(1))
    store(memory, resource, booked)
    moved = attrs.evolve(booked, span=span(5, 6), block=span(5, 6), version=2)

    def abandoned_move() -> None:
        with memory.transaction() as tx:
            tx.reservations.update(moved, expected_version=1)
            raise RuntimeError("abandon the move")

    with pytest.raises(RuntimeError):
        abandoned_move()
    with pytest.raises(ConflictError):
        store(memory, make_reservation(resource.id, at(0), at(1)))
    store(memory, make_reservation(resource.id, at(5), at(6)))
    with memory.transaction(readonly=True) as tx:
        assert tx.reservations.get(booked.id) == booked


def _book_all(storage: Storage, resource: Resource, rows: list[Reservation], *, fail: bool) -> None:
    with storage.transaction() as tx:
        tx.resources.add(resource)
        for row in rows:
            tx.reservations.add(row)
        if fail:
            raise KeyError("the first attempt fails")


def test_a_rolled_back_unit_can_be_replayed(memory: InMemoryStorage) -> None:
    resource = make_resource()
    rows = [make_reservation(resource.id, at(h), at(h + 1)) for h in range(5)]
    with pytest.raises(KeyError):
        _book_all(memory, resource, rows, fail=True)
    _book_all(memory, resource, rows, fail=False)
    with memory.transaction(readonly=True) as tx:
        assert list(tx.reservations.blocking_overlaps([resource.id], span(0, 5))) == rows


gaps = st.lists(st.tuples(st.integers(0, 5), st.integers(1, 5)), min_size=1, max_size=60)


@settings(max_examples=60, deadline=None)
@given(layout=gaps, probe=st.tuples(st.integers(0, 400), st.integers(1, 40)))
def test_overlap_lookup_agrees_with_a_linear_scan(
    layout: list[tuple[int, int]], probe: tuple[int, int]
) -> None:
    storage = InMemoryStorage()
    resource = make_resource()
    rows, cursor = [], 0
    for gap, length in layout:
        start = at(0) + timedelta(minutes=15 * (cursor + gap))
        rows.append(make_reservation(resource.id, start, start + timedelta(minutes=15 * length)))
        cursor += gap + length
    store(storage, resource, *reversed(rows))
    start = at(0) + timedelta(minutes=15 * probe[0])
    window = TimeSpan(start, start + timedelta(minutes=15 * probe[1]))
    with storage.transaction(readonly=True) as tx:
        found = tx.reservations.blocking_overlaps([resource.id], window)
    assert list(found) == [r for r in rows if r.block.overlaps(window)]
