"""Business hours, blackouts and the outbox in memory."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from reserver.core.adapters.memory._state import MemoryRepository, already_exists, get_or_raise
from reserver.core.events import OutboxMessage
from reserver.core.ids import BlackoutId, EventId
from reserver.core.schedules import Blackout, Scope, WeeklyHours


class MemoryHoursRepository(MemoryRepository):
    """Business hours per scope in memory; deleting a scope without hours does nothing."""

    def get(self, scope: Scope) -> WeeklyHours | None:
        return self._unit.reading().hours.get(scope)

    def nearest(self, scopes: Sequence[Scope]) -> WeeklyHours | None:
        hours = self._unit.reading().hours
        return next((hours[s] for s in scopes if s in hours), None)

    def put(self, scope: Scope, hours: WeeklyHours) -> None:
        self._unit.put(self._unit.state.hours, scope, hours)

    def delete(self, scope: Scope) -> None:
        self._unit.drop(self._unit.state.hours, scope)

    def all(self) -> Mapping[Scope, WeeklyHours]:
        return dict(self._unit.reading().hours)


class MemoryBlackoutRepository(MemoryRepository):
    """Blackouts in memory; ``for_scopes`` lists them by id."""

    def add(self, blackout: Blackout) -> None:
        stored = self._unit.reading().blackouts
        if blackout.id in stored:
            raise already_exists("blackout", blackout.id)
        self._unit.put(stored, blackout.id, blackout)

    def get(self, blackout_id: BlackoutId) -> Blackout:
        return get_or_raise(self._unit.reading().blackouts, blackout_id, "blackout")

    def delete(self, blackout_id: BlackoutId) -> None:
        stored = self._unit.reading().blackouts
        get_or_raise(stored, blackout_id, "blackout")
        self._unit.drop(stored, blackout_id)

    def for_scopes(self, scopes: Collection[Scope]) -> Sequence[Blackout]:
        wanted = set(scopes)
        found = [b for b in self._unit.reading().blackouts.values() if b.scope in wanted]
        return sorted(found, key=lambda b: b.id)


class MemoryOutboxRepository(MemoryRepository):
    """The outbox in memory; ``due`` looks at undelivered messages only, oldest first."""

    def add(self, message: OutboxMessage) -> None:
        state = self._unit.reading()
        if message.id in state.outbox:
            raise already_exists("outbox message", message.id)
        self._unit.put(state.outbox_order, message.id, next(state.next_outbox_order))
        self._store(message)

    def due(self, now: datetime, limit: int) -> Sequence[OutboxMessage]:
        state = self._unit.reading()
        pending = state.undelivered.values()
        ready = [m for m in pending if m.next_attempt_at is None or m.next_attempt_at <= now]
        order = state.outbox_order
        ready.sort(key=lambda m: (m.occurred_at, order[m.id]))
        return ready[: max(limit, 0)]

    def save(self, message: OutboxMessage) -> None:
        get_or_raise(self._unit.reading().outbox, message.id, "outbox message")
        self._store(message)

    def get(self, message_id: EventId) -> OutboxMessage:
        return get_or_raise(self._unit.reading().outbox, message_id, "outbox message")

    def _store(self, message: OutboxMessage) -> None:
        state = self._unit.state
        self._unit.put(state.outbox, message.id, message)
        if message.delivered_at is None:
            self._unit.put(state.undelivered, message.id, message)
        else:
            self._unit.drop(state.undelivered, message.id)
