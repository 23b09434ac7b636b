"""Storage contract, part four: concurrency storms, where exactly one of N contenders wins."""

from __future__ import annotations

import functools
import pickle
from collections.abc import Callable

import attrs
import pytest

from reserver.core.errors import ConflictError
from reserver.core.ids import ResourceId, UserId
from reserver.core.models import Reservation
from reserver.core.ports import Storage
from reserver.core.spans import TimeSpan
from reserver.core.testing.builders import make_resource, store
from reserver.core.testing.races import (
    CheckThenInsert,
    Contender,
    book,
    booking_contender,
    edit_contender,
    process_storm,
    race,
    storm_day,
    storm_reservation,
    unexpected,
    winners,
)

ROUNDS = 50
THREADS = 8
PROCESSES = 4
CONTROL_TRIES = 20


def _assert_one_winner_per_round(
    storage: Storage, resource_id: ResourceId, rounds: int, contenders: int
) -> None:
    """Exactly one stored reservation holds each round's contested span."""
    with storage.transaction(readonly=True) as tx:
        for round_no in range(rounds):
            first = storm_reservation(resource_id, round_no, 0)
            last = storm_reservation(resource_id, round_no, contenders - 1)
            contested = TimeSpan(first.block.start, last.block.end)
            held = tx.reservations.blocking_overlaps([resource_id], contested)
            assert len(held) == 1, f"round {round_no}: {[r.id for r in held]} hold the span"


def _assert_the_harness_races() -> None:
    """Negative control: an unlocked check-then-insert must double-book under the harness."""
    for attempt in range(CONTROL_TRIES):
        booker = CheckThenInsert()
        contenders = [storm_reservation("control", attempt, i) for i in range(THREADS)]
        outcomes = race([functools.partial(booker.book, r) for r in contenders])
        assert unexpected(outcomes) == []
        if winners(outcomes) > 1:
            return
    pytest.fail(
        f"the harness does not race: a check-then-insert without a lock never double-booked "
        f"in {CONTROL_TRIES} rounds of {THREADS} threads, so the storm would prove nothing"
    )


class StorageStormsContract:
    """Many threads, one slot: the overlap check and the write are atomic."""

    @pytest.mark.slow
    def test_thread_storm_has_exactly_one_winner_per_round(self, storage: Storage) -> None:
        """Eight threads released together on overlapping spans: one wins, seven conflict."""
        _assert_the_harness_races()
        resource = make_resource()
        store(storage, resource)
        for round_no in range(ROUNDS):
            contenders: list[Reservation] = [
                storm_reservation(resource.id, round_no, i) for i in range(THREADS)
            ]
            outcomes = race([functools.partial(book, storage, r) for r in contenders])
            assert unexpected(outcomes) == [], f"round {round_no}: {outcomes}"
            assert winners(outcomes) == 1, f"round {round_no}: {outcomes}"
        _assert_one_winner_per_round(storage, resource.id, ROUNDS, THREADS)

    @pytest.mark.slow
    def test_lock_serializes_check_then_write_on_one_key(self, storage: Storage) -> None:
        """``tx.lock(key)`` makes a read-then-write atomic: one booking per holder per day.

        Each thread books its own resource, so no overlap check helps: only the lock on the
        holder's key keeps two of them from both seeing "nothing held yet".
        """
        resources = [make_resource() for _ in range(THREADS)]
        store(storage, *resources)

        def quota_of_one(round_no: int, index: int) -> None:
            booking = storm_reservation(resources[index].id, round_no, 0)
            booking = attrs.evolve(booking, holder=UserId("quota-holder"))
            with storage.transaction() as tx:
                tx.lock("quota:quota-holder")
                if tx.reservations.held_by(booking.holder, storm_day(round_no)):
                    raise ConflictError("quota-holder already holds a booking that day")
                tx.reservations.add(booking)

        for round_no in range(ROUNDS):
            outcomes = race([functools.partial(quota_of_one, round_no, i) for i in range(THREADS)])
            assert unexpected(outcomes) == [], f"round {round_no}: {outcomes}"
            assert winners(outcomes) == 1, f"round {round_no}: {outcomes}"


class ProcessStormsContract:
    """Many processes, one slot: the guarantee holds across processes too.

    Override the ``storage_factory`` fixture.
    """

    @pytest.fixture
    def storage_factory(self, storage: Storage) -> Callable[[], Storage]:
        """Return a picklable zero-argument callable that opens a new Storage on ``storage``'s data.

        For example ``functools.partial(SqlStorage.from_url, url)``; each storm process calls
        it once.
        """
        raise NotImplementedError("override storage_factory")

    @pytest.mark.slow
    def test_process_storm_has_exactly_one_winner_per_round(
        self, storage: Storage, request: pytest.FixtureRequest
    ) -> None:
        """Four processes, each with its own storage, released together: one wins per round."""
        self._storm(storage, request, booking_contender)

    @pytest.mark.slow
    def test_process_storm_of_edits_has_exactly_one_winner_per_round(
        self, storage: Storage, request: pytest.FixtureRequest
    ) -> None:
        """Four processes each move a reservation of their own into one span: one moves."""
        self._storm(storage, request, edit_contender)

    def _storm(
        self, storage: Storage, request: pytest.FixtureRequest, contender: Contender
    ) -> None:
        """Race ``contender`` in processes on a new resource; each round, one winner."""
        resource = make_resource()
        store(storage, resource)
        resource_id = resource.id
        factory: Callable[[], Storage] = request.getfixturevalue("storage_factory")
        try:
            pickle.dumps(factory)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            pytest.fail(f"storage_factory must return a picklable callable: {exc}")
        outcomes = process_storm(
            factory, resource_id, workers=PROCESSES, rounds=ROUNDS, contender=contender
        )
        assert -1 not in outcomes, f"a worker could not open its storage: {outcomes[-1]}"
        assert sorted(outcomes) == list(range(ROUNDS)), "some rounds never reported"
        for round_no, row in sorted(outcomes.items()):
            assert unexpected(row) == [], f"round {round_no}: {row}"
            assert winners(row) == 1, f"round {round_no}: {row}"
        _assert_one_winner_per_round(storage, resource_id, ROUNDS, PROCESSES)
