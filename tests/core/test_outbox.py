from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from reserver.core import DeliveryError, Principal, ReservationRequest, Reserver
from reserver.core.adapters.clock import FixedClock
from reserver.core.events import DomainEvent


class Flaky:
    """Fails its first ``failures`` calls, then records events (idempotently, by id)."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.seen: dict[str, DomainEvent] = {}

    def __call__(self, event: DomainEvent) -> None:
        if self.failures:
            self.failures -= 1
            raise DeliveryError("receiver down")
        self.seen[event.id] = event


def test_failed_delivery_is_retried_with_backoff(
    reserver: Reserver, ann: Principal, room, clock: FixedClock
) -> None:
    flaky = Flaky(failures=3)
    reserver.outbox.subscribe(flaky)
    start = clock.now() + timedelta(days=1)
    reserver.reservations.reserve(
        ann, ReservationRequest(room.id, start, start + timedelta(hours=1))
    )
    assert reserver.outbox.dispatch().failed == 2  # resource.created and reservation.created
    assert reserver.outbox.dispatch().delivered == 0, "nothing is due before the backoff ends"
    clock.advance(timedelta(seconds=31))
    report = reserver.outbox.dispatch()
    assert (report.delivered, report.failed) == (1, 1)
    clock.advance(timedelta(seconds=61))
    assert reserver.outbox.dispatch().delivered == 1
    assert sorted(e.topic for e in flaky.seen.values()) == [
        "reservation.created",
        "resource.created",
    ]


def test_a_crashed_dispatcher_leaves_messages_to_be_delivered_again(
    reserver: Reserver, ann: Principal, room, clock: FixedClock
) -> None:
    class Crash(Exception):
        pass

    def crash(event: DomainEvent) -> None:
        raise Crash

    reserver.outbox.subscribe(crash)
    with pytest.raises(Crash):
        reserver.outbox.dispatch()
    reserver.outbox._subscribers.clear()
    got: list[DomainEvent] = []
    reserver.outbox.subscribe(got.append)
    assert reserver.outbox.dispatch().delivered == 0, "claimed messages wait for their lease"
    clock.advance(timedelta(minutes=6))
    assert reserver.outbox.dispatch().delivered == 1
    assert got[0].topic == "resource.created"


def test_a_failed_change_writes_no_event(
    reserver: Reserver, ann: Principal, room, clock: FixedClock
) -> None:
    from reserver.core import ConflictError

    reserver.outbox.dispatch()
    past: datetime = clock.now() - timedelta(hours=1)
    with pytest.raises(ConflictError):
        reserver.reservations.reserve(
            ann, ReservationRequest(room.id, past, past + timedelta(hours=1))
        )
    got: list[DomainEvent] = []
    reserver.outbox.subscribe(got.append)
    clock.advance(timedelta(hours=1))
    assert reserver.outbox.dispatch().delivered == 0
