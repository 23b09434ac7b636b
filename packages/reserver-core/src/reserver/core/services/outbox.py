"""Deliver outbox events to subscribers at least once, with retries and backoff.

Messages are claimed with a lease in one short unit of work, delivered outside any transaction
(a slow subscriber never holds a database lock), then marked in another. A dispatcher that dies
mid-way leaves its claims to expire, so the messages go out again: consumers drop repeats by
event id.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta

import attrs

from reserver.core.errors import ReserverError
from reserver.core.events import DomainEvent, OutboxMessage
from reserver.core.services.context import ServiceContext

Subscriber = Callable[[DomainEvent], None]


@attrs.frozen
class DispatchReport:
    """What one dispatch pass did."""

    delivered: int = 0
    failed: int = 0


@attrs.frozen
class Backoff:
    """Exponential retry delays: ``base`` doubling per attempt, never above ``ceiling``."""

    base: timedelta = timedelta(seconds=30)
    ceiling: timedelta = timedelta(hours=6)

    def delay(self, attempts: int) -> timedelta:
        """The wait before the next try after ``attempts`` failed ones."""
        factor: int = 2 ** min(attempts - 1, 30)
        return min(self.ceiling, self.base * factor)


class OutboxDispatcher:
    """Delivers the outbox to its subscribers; run ``dispatch`` on a schedule or after commits."""

    def __init__(
        self,
        ctx: ServiceContext,
        subscribers: Sequence[Subscriber] = (),
        *,
        lease: timedelta = timedelta(minutes=5),
        backoff: Backoff = Backoff(),
    ) -> None:
        self._ctx = ctx
        self._subscribers = list(subscribers)
        self._lease = lease
        self._backoff = backoff

    def subscribe(self, subscriber: Subscriber) -> None:
        """Add a subscriber; it must be idempotent by event id."""
        self._subscribers.append(subscriber)

    def dispatch(self, *, limit: int = 100) -> DispatchReport:
        """Deliver up to ``limit`` due messages to every subscriber."""
        claimed = self._claim(limit)
        outcomes: list[tuple[OutboxMessage, str | None]] = []
        for message in claimed:
            event = message.event
            try:
                for subscriber in self._subscribers:
                    subscriber(event)
            except ReserverError as exc:
                outcomes.append((message, f"{type(exc).__name__}: {exc}"))
            else:
                outcomes.append((message, None))
        self._settle(outcomes)
        failed = sum(1 for _, error in outcomes if error is not None)
        return DispatchReport(delivered=len(outcomes) - failed, failed=failed)

    def _claim(self, limit: int) -> list[OutboxMessage]:
        now = self._ctx.now()
        with self._ctx.storage.transaction() as tx:
            due = list(tx.outbox.due(now, limit))
            for message in due:
                tx.outbox.save(attrs.evolve(message, next_attempt_at=now + self._lease))
            return due

    def _settle(self, outcomes: Sequence[tuple[OutboxMessage, str | None]]) -> None:
        if not outcomes:
            return
        now = self._ctx.now()
        with self._ctx.storage.transaction() as tx:
            for message, error in outcomes:
                attempts = message.attempts + 1
                if error is None:
                    settled = attrs.evolve(
                        message, attempts=attempts, delivered_at=now, last_error=None
                    )
                else:
                    retry = now + self._backoff.delay(attempts)
                    settled = attrs.evolve(
                        message, attempts=attempts, next_attempt_at=retry, last_error=error[:1000]
                    )
                tx.outbox.save(settled)
