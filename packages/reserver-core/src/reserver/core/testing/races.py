"""Race harnesses for the storage contract: N threads or N processes released together.

This module imports neither pytest nor hypothesis: spawned worker processes import it.
"""

from __future__ import annotations

import functools
import multiprocessing
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from multiprocessing.context import SpawnProcess
from multiprocessing.synchronize import Barrier as ProcessBarrier
from typing import Protocol

import attrs

from reserver.core.errors import ConflictError, Rule
from reserver.core.ids import ReservationId
from reserver.core.models import Reservation
from reserver.core.ports import Storage
from reserver.core.spans import TimeSpan
from reserver.core.testing.builders import T0, make_reservation

WON = "won"
CONFLICT = "conflict"
JOIN_TIMEOUT = 120.0


def race(attempts: Sequence[Callable[[], object]]) -> list[str]:
    """Run every attempt in its own thread, released together by a barrier.

    Returns one outcome per attempt, in order: ``WON``, ``CONFLICT`` (it raised
    ``ConflictError``), or the type and message of anything else it raised.
    """
    barrier = threading.Barrier(len(attempts))
    outcomes = [""] * len(attempts)

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=JOIN_TIMEOUT)
            attempts[index]()
            outcomes[index] = WON
        except ConflictError:
            outcomes[index] = CONFLICT
        except BaseException as exc:  # the storm reports every other failure as a result
            outcomes[index] = describe(exc)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(attempts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    return [outcome or "did not finish" for outcome in outcomes]


def describe(exc: BaseException) -> str:
    """Name an unexpected exception in a storm's outcome list."""
    return f"{type(exc).__name__}: {exc}"


def storm_reservation(resource_id: str, round_no: int, index: int) -> Reservation:
    """Contender ``index`` of ``round_no``: two hours, 10 minutes after its predecessor.

    Every contender of a round overlaps every other one without being identical; rounds
    lie on distinct days, so winners of different rounds never overlap.
    """
    start = T0 + timedelta(days=round_no, minutes=10 * index)
    return make_reservation(
        resource_id,
        start,
        start + timedelta(hours=2),
        id=f"storm-{resource_id}-{round_no}-{index}",
        holder=f"user-{index}",
    )


def storm_day(round_no: int) -> TimeSpan:
    """The day on which the contenders of ``round_no`` book."""
    start = T0 + timedelta(days=round_no) - timedelta(hours=1)
    return TimeSpan(start, start + timedelta(days=1))


class NotAnOverlap(Exception):
    """A contender lost the race for a slot, but was not told that the slot was taken."""


def book(storage: Storage, reservation: Reservation) -> None:
    """Add ``reservation`` in a unit of work of its own; a refusal must name the overlap.

    A contender that loses to an overlapping booking is told so, at once. Any other refusal
    (a deadlock between two inserts that the database broke after a second, "try again")
    is ``NotAnOverlap``, which the storms report as an unexpected outcome.
    """
    with _refused_as_overlap(), storage.transaction() as tx:
        tx.reservations.add(reservation)


@contextmanager
def _refused_as_overlap() -> Iterator[None]:
    try:
        yield
    except ConflictError as exc:
        if Rule.OVERLAP not in exc.rules:
            raise NotAnOverlap(f"lost the race without an overlap: {exc}") from exc
        raise


def move(storage: Storage, original: Reservation, moved: Reservation) -> None:
    """Store ``moved`` over ``original`` in a unit of work of its own (an edit), as ``book``."""
    with _refused_as_overlap(), storage.transaction() as tx:
        tx.reservations.update(moved, expected_version=original.version)


class CheckThenInsert:
    """A deliberately broken booker: it checks, pauses, then inserts, all without a lock.

    The negative control of the thread storm: if the harness really races, two contenders
    both pass the check before either inserts.
    """

    def __init__(self) -> None:
        self.rows: dict[ReservationId, TimeSpan] = {}

    def book(self, reservation: Reservation) -> None:
        """Book ``reservation`` unless an already inserted row overlaps it."""
        if any(span.overlaps(reservation.block) for span in list(self.rows.values())):
            raise ConflictError(f"{reservation.resource_id} is taken")
        time.sleep(0.002)  # widens the window between check and insert that locking closes
        self.rows[reservation.id] = reservation.block


class Contender(Protocol):
    """What a storm process does each round: get ready, then, released together, contend."""

    def __call__(
        self, storage: Storage, resource_id: str, round_no: int, index: int
    ) -> Callable[[], object]:
        """Prepare contender ``index`` of ``round_no``; return its attempt."""
        ...


def booking_contender(
    storage: Storage, resource_id: str, round_no: int, index: int
) -> Callable[[], object]:
    """Book the round's contested span (``storm_reservation``)."""
    return functools.partial(book, storage, storm_reservation(resource_id, round_no, index))


def edit_contender(
    storage: Storage, resource_id: str, round_no: int, index: int
) -> Callable[[], object]:
    """Book a span of one's own first, then move it into the round's contested span."""
    wanted = storm_reservation(resource_id, round_no, index)
    home = wanted.span.start + timedelta(hours=12 + 3 * index)
    original = make_reservation(
        resource_id, home, home + timedelta(hours=1), id=f"{wanted.id}-home", holder=wanted.holder
    )
    book(storage, original)
    moved = attrs.evolve(
        original, span=wanted.span, block=wanted.block, version=original.version + 1
    )
    return functools.partial(move, storage, original, moved)


def storm_worker(
    factory: Callable[[], Storage],
    contender: Contender,
    resource_id: str,
    index: int,
    rounds: int,
    barrier: ProcessBarrier,
    results: multiprocessing.Queue[tuple[int, int, str]],
) -> None:
    """Body of one storm process: build a storage once, then contend in every round."""
    try:
        storage = factory()
    except BaseException as exc:
        results.put((-1, index, describe(exc)))
        raise
    try:
        for round_no in range(rounds):
            try:
                attempt = contender(storage, resource_id, round_no, index)
            except BaseException:
                barrier.abort()  # the others would wait for this process forever
                raise
            barrier.wait(timeout=JOIN_TIMEOUT)
            try:
                attempt()
                outcome = WON
            except ConflictError:
                outcome = CONFLICT
            except Exception as exc:  # reported to the parent, which fails the test
                outcome = describe(exc)
            results.put((round_no, index, outcome))
    finally:
        storage.close()


@contextmanager
def _workers(processes: list[SpawnProcess]) -> Iterator[None]:
    try:
        yield
    finally:
        for process in processes:
            process.join(JOIN_TIMEOUT)
        for process in processes:
            if process.is_alive():
                process.terminate()
                process.join(10)


def process_storm(
    factory: Callable[[], Storage],
    resource_id: str,
    *,
    workers: int,
    rounds: int,
    contender: Contender = booking_contender,
) -> dict[int, list[str]]:
    """Run ``rounds`` rounds of ``workers`` spawned processes contending for overlapping spans.

    ``contender`` (a module-level function: it goes to the processes by pickle) books them,
    by default, or moves a reservation of its own into them.

    The same processes serve every round, synchronized per round by a process barrier.
    Returns the outcomes of each round (one per worker, ordered by worker index); a worker
    that failed to start reports its error under round ``-1``.
    """
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(workers)
    results: multiprocessing.Queue[tuple[int, int, str]] = context.Queue()
    processes = [
        context.Process(
            target=storm_worker,
            args=(factory, contender, resource_id, index, rounds, barrier, results),
            daemon=True,
        )
        for index in range(workers)
    ]
    outcomes: dict[int, list[str]] = {}
    with _workers(processes):
        for process in processes:
            process.start()
        for _ in range(workers * rounds):
            try:
                round_no, index, outcome = results.get(timeout=JOIN_TIMEOUT)
            except queue.Empty:
                break
            row = outcomes.setdefault(round_no, [""] * workers)
            row[index] = outcome
            if round_no < 0:
                barrier.abort()
                break
    return outcomes


def winners(outcomes: Sequence[str]) -> int:
    """How many contenders of a round won."""
    return sum(outcome == WON for outcome in outcomes)


def unexpected(outcomes: Sequence[str]) -> list[str]:
    """The outcomes that are neither a win nor a ``ConflictError``."""
    return [o for o in outcomes if o not in (WON, CONFLICT)]
