"""In-memory storage: the whole state in dicts, one lock, and an undo log for all or nothing.

A unit of work holds the storage's lock from start to end, so units never interleave and the
overlap check and the write are atomic. Every write records how to undo itself; a unit that
raises replays those records in reverse. Models are frozen, so storing references is safe and
no unit ever copies the state.

Deviations from the port: a unit of work opened while the same thread already has one open
raises ``StorageError`` (on a database it would deadlock or silently commit separately), and
writing through a ``readonly=True`` unit raises ``StorageError``.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

import attrs

from reserver.core.errors import (
    ConfigurationError,
    ConflictError,
    NotFoundError,
    Rule,
    StorageError,
    ValidationError,
    Violation,
)
from reserver.core.events import OutboxMessage
from reserver.core.ids import (
    BlackoutId,
    EventId,
    GroupId,
    ReservationId,
    ResourceId,
    SeriesId,
    UserId,
)
from reserver.core.models import Group, HistoryEntry, Reservation, Resource, Series, normalize_tags
from reserver.core.queries import (
    Page,
    PageRequest,
    ReservationQuery,
    ResourceQuery,
    decode_cursor,
    page_of,
    resource_sort_key,
)
from reserver.core.schedules import Blackout, Scope, WeeklyHours
from reserver.core.spans import TimeSpan

K = TypeVar("K")
V = TypeVar("V")
Undo = Callable[[], object]


class _Timeline:
    """The blocking reservations of one resource, sorted by block start.

    Blocking blocks of one resource are disjoint, so their ends are sorted too: the rows that
    overlap a span are the one starting at or before its start (if it reaches past it) and
    those starting inside it. Both ends are found by bisection.
    """

    __slots__ = ("rows", "starts")

    def __init__(self) -> None:
        self.starts: list[datetime] = []
        self.rows: list[Reservation] = []

    def overlapping(self, span: TimeSpan) -> list[Reservation]:
        starts, rows = self.starts, self.rows
        high = bisect_left(starts, span.end)
        low = bisect_right(starts, span.start, 0, high) - 1
        if low < 0 or rows[low].block.end <= span.start:
            low += 1
        return rows[low:high]

    def insert(self, row: Reservation) -> None:
        index = bisect_left(self.starts, row.block.start)
        self.starts.insert(index, row.block.start)
        self.rows.insert(index, row)

    def remove(self, row: Reservation) -> None:
        index = bisect_left(self.starts, row.block.start)
        if index == len(self.rows) or self.rows[index].id != row.id:
            raise StorageError(f"reservation {row.id!r} is missing from its resource's timeline")
        del self.starts[index]
        del self.rows[index]


@attrs.define
class _State:
    """Everything the storage holds; only the holder of the storage's lock touches it."""

    resources: dict[ResourceId, Resource] = attrs.Factory(dict)
    groups: dict[GroupId, Group] = attrs.Factory(dict)
    reservations: dict[ReservationId, Reservation] = attrs.Factory(dict)
    timelines: dict[ResourceId, _Timeline] = attrs.Factory(dict)
    by_resource: dict[ResourceId, dict[ReservationId, None]] = attrs.Factory(dict)
    by_holder: dict[UserId, dict[ReservationId, None]] = attrs.Factory(dict)
    series: dict[SeriesId, Series] = attrs.Factory(dict)
    history: dict[ReservationId, list[HistoryEntry]] = attrs.Factory(dict)
    hours: dict[Scope, WeeklyHours] = attrs.Factory(dict)
    blackouts: dict[BlackoutId, Blackout] = attrs.Factory(dict)
    outbox: dict[EventId, OutboxMessage] = attrs.Factory(dict)
    undelivered: dict[EventId, OutboxMessage] = attrs.Factory(dict)


def _get(mapping: Mapping[K, V], key: K, what: str) -> V:
    try:
        return mapping[key]
    except KeyError:
        raise NotFoundError(f"{what} {key!r} not found") from None


def _exists(what: str, key: object) -> ConflictError:
    return ConflictError(f"{what} {key!r} already exists")


def _stale(what: str, key: object, stored: int, expected: int) -> ConflictError:
    message = f"{what} {key!r} changed meanwhile: it is at version {stored}, not {expected}"
    return ConflictError(message, violations=[Violation(Rule.VERSION, message)])


def _overlap(reservation: Reservation) -> ConflictError:
    buffers = " (buffers included)" if reservation.block != reservation.span else ""
    message = f"resource {reservation.resource_id!r} is taken {reservation.span}{buffers}"
    violation = Violation(
        Rule.OVERLAP,
        message,
        resource_id=reservation.resource_id,
        start=reservation.span.start.isoformat(),
    )
    return ConflictError(message, violations=[violation])


class _Unit:
    """One unit of work; the storage's lock is held from ``__enter__`` to ``__exit__``."""

    def __init__(self, storage: InMemoryStorage, *, readonly: bool) -> None:
        self._storage = storage
        self._readonly = readonly
        self._open = False
        self.undo: list[Undo] = []
        self.state = storage._state
        self.resources = _Resources(self)
        self.groups = _Groups(self)
        self.reservations = _Reservations(self)
        self.series = _SeriesRepo(self)
        self.history = _History(self)
        self.hours = _Hours(self)
        self.blackouts = _Blackouts(self)
        self.outbox = _Outbox(self)

    def __enter__(self) -> _Unit:
        self._storage._acquire()
        self._open = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is not None:
                for step in reversed(self.undo):
                    step()
        finally:
            self._open = False
            self.undo = []
            self._storage._release()

    def lock(self, key: str) -> None:
        """Serialize on ``key``: a no-op, since the storage's lock already serializes every unit."""
        self.reading()

    def reading(self) -> _State:
        """Return the state, or raise ``StorageError`` outside the unit's lifetime."""
        if not self._open:
            raise StorageError("this unit of work has ended; open a new one")
        return self.state

    def writing(self) -> list[Undo]:
        """Return the undo log to append to, or raise ``StorageError`` if writes are refused."""
        if not self._open:
            raise StorageError("this unit of work has ended; open a new one")
        if self._readonly:
            raise StorageError("a read-only unit of work cannot write")
        return self.undo

    def put(self, mapping: dict[K, V], key: K, value: V) -> None:
        """Set ``mapping[key]``, logging how to restore what was there."""
        undo = self.writing()
        if key in mapping:
            undo.append(partial(mapping.__setitem__, key, mapping[key]))
        else:
            undo.append(partial(mapping.pop, key))
        mapping[key] = value

    def drop(self, mapping: dict[K, V], key: K) -> None:
        """Remove ``mapping[key]`` if present, logging how to put it back."""
        undo = self.writing()
        if key in mapping:
            undo.append(partial(mapping.__setitem__, key, mapping.pop(key)))


class _Repository:
    __slots__ = ("_unit",)

    def __init__(self, unit: _Unit) -> None:
        self._unit = unit


def _resource_matches(resource: Resource, query: ResourceQuery, state: _State) -> bool:
    attributes = resource.attributes
    if (resource.retired_at is not None and not query.include_retired) or (
        query.statuses is not None and resource.status not in query.statuses
    ):
        return False
    if (query.kind is not None and resource.kind != query.kind) or (
        query.ids is not None and resource.id not in query.ids
    ):
        return False
    if query.tags_all and not normalize_tags(query.tags_all) <= resource.tags:
        return False
    if query.features_all and not query.features_all <= attributes.features:
        return False
    if query.min_capacity is not None and (
        attributes.capacity is None or attributes.capacity < query.min_capacity
    ):
        return False
    if query.location is not None and (
        attributes.location is None or attributes.location.casefold() != query.location.casefold()
    ):
        return False
    if query.text:
        text = query.text.casefold()
        if text not in resource.name.casefold() and text not in resource.description.casefold():
            return False
    if query.group_ids is not None:
        if resource.group_id is None:
            return False
        group = state.groups.get(resource.group_id)
        lineage = group.lineage if group else (resource.group_id,)
        return not query.group_ids.isdisjoint(lineage)
    return True


class _Resources(_Repository):
    def add(self, resource: Resource) -> None:
        state = self._unit.reading()
        if resource.id in state.resources:
            raise _exists("resource", resource.id)
        self._unit.put(state.resources, resource.id, resource)

    def get(self, resource_id: ResourceId) -> Resource:
        return _get(self._unit.reading().resources, resource_id, "resource")

    def get_many(self, resource_ids: Collection[ResourceId]) -> Sequence[Resource]:
        resources = self._unit.reading().resources
        return [resources[i] for i in dict.fromkeys(resource_ids) if i in resources]

    def update(self, resource: Resource, *, expected_version: int) -> None:
        state = self._unit.reading()
        stored = _get(state.resources, resource.id, "resource")
        if stored.version != expected_version:
            raise _stale("resource", resource.id, stored.version, expected_version)
        self._unit.put(state.resources, resource.id, resource)

    def find(self, query: ResourceQuery, page: PageRequest) -> Page[Resource]:
        state = self._unit.reading()
        after = decode_cursor(page.cursor, 2) if page.cursor else None
        candidates: Iterable[Resource] = (
            [state.resources[i] for i in query.ids if i in state.resources]
            if query.ids is not None
            else state.resources.values()
        )
        keyed = sorted(
            (resource_sort_key(r.name, r.id), r)
            for r in candidates
            if _resource_matches(r, query, state)
        )
        if after is not None:
            keyed = keyed[bisect_right(keyed, after, key=lambda kr: kr[0]) :]
        kept = keyed[: page.limit + 1]
        last = kept[page.limit - 1][0] if len(kept) > page.limit else None
        return page_of([r for _, r in kept], page.limit, last)

    def tag_counts(self) -> Mapping[str, int]:
        resources = self._unit.reading().resources
        return dict(Counter(tag for r in resources.values() for tag in r.tags))

    def replace_tag(self, old: str, new: str | None) -> int:
        state = self._unit.reading()
        tagged = [r for r in state.resources.values() if old in r.tags]
        if new == old:
            return len(tagged)
        for resource in tagged:
            tags = (resource.tags - {old}) | ({new} if new else set())
            changed = attrs.evolve(resource, tags=tags, version=resource.version + 1)
            self._unit.put(state.resources, resource.id, changed)
        return len(tagged)


def _group_order(group: Group) -> tuple[int, str, str]:
    return (len(group.path), group.name.casefold(), group.id)


class _Groups(_Repository):
    def add(self, group: Group) -> None:
        groups = self._unit.reading().groups
        if group.id in groups:
            raise _exists("group", group.id)
        self._unit.put(groups, group.id, group)

    def get(self, group_id: GroupId) -> Group:
        return _get(self._unit.reading().groups, group_id, "group")

    def update(self, group: Group) -> None:
        groups = self._unit.reading().groups
        _get(groups, group.id, "group")
        self._unit.put(groups, group.id, group)

    def delete(self, group_id: GroupId) -> None:
        groups = self._unit.reading().groups
        _get(groups, group_id, "group")
        self._unit.drop(groups, group_id)

    def all(self) -> Sequence[Group]:
        return sorted(self._unit.reading().groups.values(), key=_group_order)

    def subtree(self, group_id: GroupId) -> Sequence[Group]:
        groups = self._unit.reading().groups.values()
        found = [g for g in groups if g.id == group_id or group_id in g.path]
        return sorted(found, key=_group_order)


def _reservation_matches(reservation: Reservation, query: ReservationQuery) -> bool:
    return (
        (query.holder is None or reservation.holder == query.holder)
        and (query.resource_ids is None or reservation.resource_id in query.resource_ids)
        and (query.statuses is None or reservation.status in query.statuses)
        and (query.overlapping is None or reservation.span.overlaps(query.overlapping))
        and (query.series_id is None or reservation.series_id == query.series_id)
        and (query.booking_id is None or reservation.booking_id == query.booking_id)
    )


def _reservation_cursor(cursor: str) -> tuple[datetime, str]:
    start, reservation_id = decode_cursor(cursor, 2)
    try:
        return datetime.fromisoformat(start), reservation_id
    except ValueError as exc:
        raise ValidationError.for_field("cursor", "is not a cursor this server issued") from exc


class _Reservations(_Repository):
    def add(self, reservation: Reservation) -> None:
        undo = self._unit.writing()
        state = self._unit.state
        if reservation.id in state.reservations:
            raise _exists("reservation", reservation.id)
        if reservation.is_blocking and self._timeline(reservation.resource_id).overlapping(
            reservation.block
        ):
            raise _overlap(reservation)
        self._replace(None, reservation)
        undo.append(partial(self._replace, reservation, None))

    def get(self, reservation_id: ReservationId) -> Reservation:
        return _get(self._unit.reading().reservations, reservation_id, "reservation")

    def update(self, reservation: Reservation, *, expected_version: int) -> None:
        undo = self._unit.writing()
        stored = _get(self._unit.state.reservations, reservation.id, "reservation")
        if stored.version != expected_version:
            raise _stale("reservation", reservation.id, stored.version, expected_version)
        if reservation.is_blocking and any(
            other.id != reservation.id
            for other in self._timeline(reservation.resource_id).overlapping(reservation.block)
        ):
            raise _overlap(reservation)
        self._replace(stored, reservation)
        undo.append(partial(self._replace, reservation, stored))

    def blocking_overlaps(
        self,
        resource_ids: Collection[ResourceId],
        span: TimeSpan,
        *,
        exclude: Collection[ReservationId] = (),
    ) -> Sequence[Reservation]:
        timelines = self._unit.reading().timelines
        found = [
            row
            for resource_id in dict.fromkeys(resource_ids)
            if resource_id in timelines
            for row in timelines[resource_id].overlapping(span)
            if row.id not in exclude
        ]
        if len(resource_ids) > 1:
            found.sort(key=lambda r: (r.block.start, r.id))
        return found

    def held_by(self, holder: UserId, span: TimeSpan) -> Sequence[Reservation]:
        state = self._unit.reading()
        rows = (state.reservations[i] for i in state.by_holder.get(holder, ()))
        found = [r for r in rows if r.is_blocking and r.span.overlaps(span)]
        return sorted(found, key=lambda r: (r.span.start, r.id))

    def find(self, query: ReservationQuery, page: PageRequest) -> Page[Reservation]:
        state = self._unit.reading()
        after = _reservation_cursor(page.cursor) if page.cursor else None
        keyed = sorted(
            ((r.span.start, r.id), r)
            for r in self._candidates(query, state)
            if _reservation_matches(r, query)
        )
        if after is not None:
            keyed = keyed[bisect_right(keyed, after, key=lambda kr: kr[0]) :]
        kept = keyed[: page.limit + 1]
        last = kept[page.limit - 1][0] if len(kept) > page.limit else None
        cursor = (last[0].isoformat(), last[1]) if last else None
        return page_of([r for _, r in kept], page.limit, cursor)

    @staticmethod
    def _candidates(query: ReservationQuery, state: _State) -> Iterable[Reservation]:
        if query.resource_ids is not None:
            ids: Iterable[ReservationId] = (
                i for rid in query.resource_ids for i in state.by_resource.get(rid, ())
            )
        elif query.holder is not None:
            ids = state.by_holder.get(query.holder, ())
        else:
            return state.reservations.values()
        return [state.reservations[i] for i in ids]

    def _timeline(self, resource_id: ResourceId) -> _Timeline:
        timelines = self._unit.state.timelines
        timeline = timelines.get(resource_id)
        if timeline is None:
            timeline = timelines[resource_id] = _Timeline()
        return timeline

    def _replace(self, old: Reservation | None, new: Reservation | None) -> None:
        """Move the state and every index from ``old`` to ``new`` (either may be ``None``)."""
        state = self._unit.state
        if old is not None:
            if old.is_blocking:
                state.timelines[old.resource_id].remove(old)
            del state.by_resource[old.resource_id][old.id]
            del state.by_holder[old.holder][old.id]
            if new is None:
                del state.reservations[old.id]
        if new is not None:
            state.reservations[new.id] = new
            if new.is_blocking:
                self._timeline(new.resource_id).insert(new)
            state.by_resource.setdefault(new.resource_id, {})[new.id] = None
            state.by_holder.setdefault(new.holder, {})[new.id] = None


class _SeriesRepo(_Repository):
    def add(self, series: Series) -> None:
        stored = self._unit.reading().series
        if series.id in stored:
            raise _exists("series", series.id)
        self._unit.put(stored, series.id, series)

    def get(self, series_id: SeriesId) -> Series:
        return _get(self._unit.reading().series, series_id, "series")

    def update(self, series: Series) -> None:
        stored = self._unit.reading().series
        _get(stored, series.id, "series")
        self._unit.put(stored, series.id, series)


class _History(_Repository):
    def append(self, entry: HistoryEntry) -> None:
        undo = self._unit.writing()
        entries = self._unit.state.history.setdefault(entry.reservation_id, [])
        entries.append(entry)
        undo.append(entries.pop)

    def for_reservation(self, reservation_id: ReservationId) -> Sequence[HistoryEntry]:
        entries = self._unit.reading().history.get(reservation_id, [])
        return sorted(entries, key=lambda e: e.at)


class _Hours(_Repository):
    def get(self, scope: Scope) -> WeeklyHours | None:
        return self._unit.reading().hours.get(scope)

    def put(self, scope: Scope, hours: WeeklyHours) -> None:
        self._unit.put(self._unit.state.hours, scope, hours)

    def delete(self, scope: Scope) -> None:
        self._unit.drop(self._unit.state.hours, scope)

    def all(self) -> Mapping[Scope, WeeklyHours]:
        return dict(self._unit.reading().hours)


class _Blackouts(_Repository):
    def add(self, blackout: Blackout) -> None:
        stored = self._unit.reading().blackouts
        if blackout.id in stored:
            raise _exists("blackout", blackout.id)
        self._unit.put(stored, blackout.id, blackout)

    def get(self, blackout_id: BlackoutId) -> Blackout:
        return _get(self._unit.reading().blackouts, blackout_id, "blackout")

    def delete(self, blackout_id: BlackoutId) -> None:
        stored = self._unit.reading().blackouts
        _get(stored, blackout_id, "blackout")
        self._unit.drop(stored, blackout_id)

    def for_scopes(self, scopes: Collection[Scope]) -> Sequence[Blackout]:
        wanted = set(scopes)
        found = [b for b in self._unit.reading().blackouts.values() if b.scope in wanted]
        return sorted(found, key=lambda b: b.id)


class _Outbox(_Repository):
    def add(self, message: OutboxMessage) -> None:
        state = self._unit.reading()
        if message.id in state.outbox:
            raise _exists("outbox message", message.id)
        self._store(message)

    def due(self, now: datetime, limit: int) -> Sequence[OutboxMessage]:
        pending = self._unit.reading().undelivered.values()
        ready = [m for m in pending if m.next_attempt_at is None or m.next_attempt_at <= now]
        ready.sort(key=lambda m: (m.occurred_at, m.id))
        return ready[: max(limit, 0)]

    def save(self, message: OutboxMessage) -> None:
        _get(self._unit.reading().outbox, message.id, "outbox message")
        self._store(message)

    def get(self, message_id: EventId) -> OutboxMessage:
        return _get(self._unit.reading().outbox, message_id, "outbox message")

    def _store(self, message: OutboxMessage) -> None:
        state = self._unit.state
        self._unit.put(state.outbox, message.id, message)
        if message.delivered_at is None:
            self._unit.put(state.undelivered, message.id, message)
        else:
            self._unit.drop(state.undelivered, message.id)


class InMemoryStorage:
    """Storage in this process's memory, for tests, demos and embedding; lost when it ends."""

    def __init__(self) -> None:
        self._state = _State()
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._closed = False

    @classmethod
    def from_url(cls, url: str) -> InMemoryStorage:
        """Build an empty storage from ``memory://`` (the ``reserver.storage`` entry point).

        Raises:
            ConfigurationError: the URL is not ``memory://``.
        """
        parts = urlsplit(url)
        if parts.scheme != "memory" or parts.netloc or parts.path not in ("", "/") or parts.query:
            raise ConfigurationError(f"in-memory storage takes the URL 'memory://', not {url!r}")
        return cls()

    def transaction(self, *, readonly: bool = False) -> _Unit:
        """Open a unit of work; it holds the storage's lock until it ends."""
        return _Unit(self, readonly=readonly)

    def close(self) -> None:
        """Refuse every later unit of work; the data goes with the object."""
        self._closed = True

    def _acquire(self) -> None:
        if self._closed:
            raise StorageError("this storage is closed")
        me = threading.get_ident()
        if self._owner == me:
            raise StorageError(
                "a unit of work is already open in this thread; pass its transaction down "
                "instead of opening another"
            )
        self._lock.acquire()
        self._owner = me

    def _release(self) -> None:
        self._owner = None
        self._lock.release()


if TYPE_CHECKING:
    from reserver.core.ports import Storage, Transaction

    _: type[Storage] = InMemoryStorage
    _unit: type[Transaction] = _Unit
