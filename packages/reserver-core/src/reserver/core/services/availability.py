"""When things are free: slots of one resource, the next free slot, and free resources to find."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime, timedelta
from itertools import islice

import attrs

from reserver.core import availability as calc
from reserver.core.errors import Alternative, NotFoundError, PermissionDeniedError, ValidationError
from reserver.core.identity.access import hidden_resources, require_bookable, require_visible
from reserver.core.ids import ResourceId
from reserver.core.models import BookingPolicy, Resource, ResourceStatus
from reserver.core.ports import Transaction
from reserver.core.principals import Permission, Principal
from reserver.core.queries import PageRequest, ResourceQuery, check_limit
from reserver.core.rules import Candidate, policy_violations
from reserver.core.services.context import ServiceContext, scoped
from reserver.core.services.resolution import ResourceRules, RuleBook, load_rules
from reserver.core.spans import TimeSpan, local_day_span

MAX_SEARCH = timedelta(days=366)
SIMILAR_LOOKED_AT = 25
# How far past a refused span its resource's next free slots are looked for first: the blocks
# of the whole search horizon cost a refusal more to read than the search itself, and a
# resource's next free slots are mostly near.
FIRST_LOOK = timedelta(days=2)
# How many resources beyond ``limit`` a search for a span reads the bookings of at once: most
# resources are free at most times, so one batch usually ends the search.
FIND_SLACK = 8


@attrs.frozen
class FoundResource:
    """A free resource and the earliest slot it offers."""

    resource: Resource
    slot: TimeSpan


def _check_duration(duration: timedelta) -> None:
    if not isinstance(duration, timedelta) or duration <= timedelta(0):
        raise ValidationError.for_field("duration", "must be positive")
    if duration > MAX_SEARCH:
        raise ValidationError.for_field("duration", "must be at most 366 days")


def _check_window(window: TimeSpan) -> None:
    if window.duration > MAX_SEARCH:
        raise ValidationError.for_field("window", "may span at most 366 days")


class BusyBlocks:
    """The blocks held on resources near their windows, read when first needed.

    Every window wanted before a read goes into that one read (``busy_blocks``, one round
    trip), so a search can ask for what it will need next along with what it needs now.
    """

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx
        self._wanted: dict[ResourceId, TimeSpan] = {}
        self._read: dict[ResourceId, list[TimeSpan]] = {}

    def want(self, resource_id: ResourceId, window: TimeSpan, policy: BookingPolicy) -> BusyBlocks:
        """Ask for the blocks that can bear on a booking under ``policy`` inside ``window``.

        A block touches a new span if it comes within the span's own buffers, so the window
        grows by them. Two windows wanted for one resource are read as their hull.
        """
        wide = window.widened(policy.buffer_before, policy.buffer_after)
        if (earlier := self._wanted.get(resource_id)) is not None:
            wide = TimeSpan(min(earlier.start, wide.start), max(earlier.end, wide.end))
        self._wanted[resource_id] = wide
        return self

    def of(self, resource_id: ResourceId) -> list[TimeSpan]:
        """The blocks of a resource wanted before, by start (reads every pending window)."""
        if self._wanted:
            wanted, self._wanted = self._wanted, {}
            for rid in wanted:
                self._read[rid] = []
            for rid, block in self._tx.reservations.busy_blocks(wanted):
                self._read[rid].append(block)
        return self._read.get(resource_id, [])


class AvailabilityService:
    """Availability use cases; reach them as ``reserver.availability``. Anyone may look."""

    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    @scoped
    def free_slots(
        self,
        principal: Principal,
        resource_id: ResourceId,
        duration: timedelta,
        *,
        day: date | None = None,
        window: TimeSpan | None = None,
    ) -> list[TimeSpan]:
        """Every bookable span of ``duration`` on local ``day`` (or inside ``window``)."""
        _check_duration(duration)
        with self._ctx.storage.transaction(readonly=True) as tx:
            rules = load_rules(tx, tx.resources.get(resource_id), self._ctx.settings)
            require_visible(tx, principal, resource_id)
            if window is None:
                if day is None:
                    raise ValidationError.for_field("day", "give a day or a window")
                window = local_day_span(day, rules.tz)
            _check_window(window)
            busy = BusyBlocks(tx).want(resource_id, window, rules.policy)
            return self.bookable(rules, window, busy.of(resource_id), duration, limit=None)

    @scoped
    def next_available(
        self,
        principal: Principal,
        resource_id: ResourceId,
        duration: timedelta,
        *,
        after: datetime | None = None,
        days: int | None = None,
    ) -> TimeSpan | None:
        """The earliest bookable span of ``duration`` from ``after`` within ``days``."""
        _check_duration(duration)
        days = self._ctx.settings.search_days if days is None else days
        if not 1 <= days <= 366:
            raise ValidationError.for_field("days", "must be 1 to 366")
        start = max(after or self._ctx.now(), self._ctx.now())
        window = TimeSpan(start, start + timedelta(days=days))
        with self._ctx.storage.transaction(readonly=True) as tx:
            rules = load_rules(tx, tx.resources.get(resource_id), self._ctx.settings)
            require_visible(tx, principal, resource_id)
            busy = BusyBlocks(tx).want(resource_id, window, rules.policy)
            found = self.bookable(rules, window, busy.of(resource_id), duration, limit=1)
            return found[0] if found else None

    @scoped
    def busy(
        self, principal: Principal, resource_id: ResourceId, window: TimeSpan
    ) -> list[TimeSpan]:
        """The spans during which ``resource_id`` is held (who holds them is not shown)."""
        _check_window(window)
        with self._ctx.storage.transaction(readonly=True) as tx:
            tx.resources.get(resource_id)
            require_visible(tx, principal, resource_id)
            return [r.span for r in tx.reservations.blocking_overlaps([resource_id], window)]

    @scoped
    def find(
        self,
        principal: Principal,
        query: ResourceQuery = ResourceQuery(),
        *,
        span: TimeSpan | None = None,
        duration: timedelta | None = None,
        window: TimeSpan | None = None,
        limit: int = 50,
    ) -> list[FoundResource]:
        """Resources matching ``query`` free for ``span``, or for ``duration`` in ``window``.

        Ranked by the earliest free start, then by name.
        """
        check_limit(limit)
        if (span is None) == (duration is None):
            raise ValidationError.for_field(
                "span", "give either a span, or a duration and a window"
            )
        if duration is not None:
            _check_duration(duration)
            if window is None:
                now = self._ctx.now()
                window = TimeSpan(now, now + timedelta(days=self._ctx.settings.search_days))
        search = span if span is not None else window
        assert search is not None
        _check_window(search)
        with self._ctx.storage.transaction(readonly=True) as tx:
            resources = _visible(tx, principal, _all_matching(tx, query))
            return self.find_in(
                tx, resources, span=span, duration=duration, window=search, limit=limit
            )

    def find_in(
        self,
        tx: Transaction,
        resources: Sequence[Resource],
        *,
        span: TimeSpan | None,
        duration: timedelta | None,
        window: TimeSpan,
        limit: int,
        accept: Callable[[Resource], bool] | None = None,
        busy: BusyBlocks | None = None,
    ) -> list[FoundResource]:
        """Rank ``resources`` by their earliest fit inside ``tx`` (alternatives reuse this).

        ``accept``, when given, is asked last, only of resources that fit. Windows already
        wanted from ``busy`` are read together with the search's first one.
        """
        book = RuleBook(tx, self._ctx.settings)
        busy = busy or BusyBlocks(tx)
        if span is not None:
            # Every fit starts at the same time, so the ranking is by name alone: look at the
            # resources in that order, a batch at a time, and stop at ``limit``.
            ordered = sorted(resources, key=_by_name)
            step = limit + FIND_SLACK
            found: list[FoundResource] = []
            for first in range(0, len(ordered), step):
                batch = ordered[first : first + step]
                book.load(batch)
                for resource in batch:
                    busy.want(resource.id, window, book.policy(resource))
                fits = self._free_during(book, batch, span, busy, accept)
                found += islice(fits, limit - len(found))
                if len(found) == limit:
                    break
            return found
        assert duration is not None
        book.load(resources)
        for resource in resources:
            busy.want(resource.id, window, book.policy(resource))
        ranked: list[FoundResource] = []
        for resource in resources:
            slots = self.bookable(
                book.rules(resource), window, busy.of(resource.id), duration, limit=1
            )
            if slots and (accept is None or accept(resource)):
                ranked.append(FoundResource(resource, slots[0]))
        ranked.sort(key=lambda f: (f.slot.start, *_by_name(f.resource)))
        return ranked[:limit]

    def _free_during(
        self,
        book: RuleBook,
        resources: Iterable[Resource],
        span: TimeSpan,
        busy: BusyBlocks,
        accept: Callable[[Resource], bool] | None,
    ) -> Iterator[FoundResource]:
        now = self._ctx.now()
        for resource in resources:
            candidate = Candidate(book.rules(resource), span)
            if (
                next(policy_violations(candidate, now), None) is None
                and not any(b.overlaps(candidate.block) for b in busy.of(resource.id))
                and (accept is None or accept(resource))
            ):
                yield FoundResource(resource, span)

    def bookable(
        self,
        rules: ResourceRules,
        window: TimeSpan,
        busy: Sequence[TimeSpan],
        duration: timedelta,
        *,
        limit: int | None = None,
    ) -> list[TimeSpan]:
        """The spans of ``duration`` in ``window`` that the whole pipeline would accept."""
        policy, resource, now = rules.policy, rules.resource, self._ctx.now()
        if resource.is_retired or resource.status_at(now) is ResourceStatus.DISABLED:
            return []
        if policy.min_duration is not None and duration < policy.min_duration:
            return []
        if policy.max_duration is not None and duration > policy.max_duration:
            return []
        if policy.granularity is not None and duration % policy.granularity:
            return []
        not_before = now + policy.min_notice
        if resource.status_at(now) is ResourceStatus.MAINTENANCE:
            if resource.maintenance_until is None:
                return []
            not_before = max(not_before, resource.maintenance_until)
        not_after = None if policy.max_advance is None else now + policy.max_advance
        return calc.bookable_slots(
            window,
            duration,
            tz=rules.tz,
            hours=rules.hours,
            blackouts=rules.blackouts,
            busy_blocks=busy,
            buffer_before=policy.buffer_before,
            buffer_after=policy.buffer_after,
            step=policy.granularity or self._ctx.settings.slot_step,
            not_before=not_before,
            not_after=not_after,
            limit=limit,
        )


def _all_matching(tx: Transaction, query: ResourceQuery) -> list[Resource]:
    resources: list[Resource] = []
    page = tx.resources.find(query, PageRequest(limit=500))
    resources.extend(page.items)
    while page.next_cursor is not None:
        page = tx.resources.find(query, PageRequest(limit=500, cursor=page.next_cursor))
        resources.extend(page.items)
    return resources


def _visible(tx: Transaction, principal: Principal, resources: list[Resource]) -> list[Resource]:
    if not principal.has(Permission.VIEW):
        return []
    hidden = hidden_resources(tx, principal)
    return [r for r in resources if r.id not in hidden] if hidden else resources


class AlternativeFinder:
    """Suggests what would have worked when a booking is refused."""

    def __init__(self, ctx: ServiceContext, availability: AvailabilityService) -> None:
        self._ctx = ctx
        self._availability = availability

    def for_refusal(
        self,
        tx: Transaction,
        resource_ids: Sequence[ResourceId],
        span: TimeSpan,
        principal: Principal,
    ) -> list[Alternative]:
        """The next free slots of the same length on the same resource, then similar resources.

        Searched inside ``tx``, the refused unit of work itself when it can still be read. Only
        resources the principal may book are suggested; a multi-resource booking gets none.
        """
        wanted = self._ctx.settings.alternatives
        if wanted <= 0 or len(set(resource_ids)) != 1:
            return []
        try:
            resource = tx.resources.get(resource_ids[0])
        except NotFoundError:
            return []
        now = self._ctx.now()
        start = max(span.start, now)
        horizon = TimeSpan(start, start + timedelta(days=self._ctx.settings.search_days))
        near = TimeSpan(start, min(start + FIRST_LOOK, horizon.end))
        rules = load_rules(tx, resource, self._ctx.settings)
        # Read with the similar resources' first batch: one round trip for both.
        busy = BusyBlocks(tx).want(resource.id, near, rules.policy)
        similar = ResourceQuery(
            kind=resource.kind,
            group_ids=None if resource.group_id is None else frozenset({resource.group_id}),
        )
        # A bounded look at similar resources: a refusal must stay cheap (bench/RESULTS.md).
        nearby = tx.resources.find(similar, PageRequest(limit=SIMILAR_LOOKED_AT)).items
        others = _visible(tx, principal, [r for r in nearby if r.id != resource.id])
        hits = self._availability.find_in(
            tx,
            others,
            span=span,
            duration=None,
            window=span,
            limit=wanted,
            accept=lambda r: _bookable(tx, principal, r.id),
            busy=busy,
        )
        slots = self._availability.bookable(
            rules, near, busy.of(resource.id), span.duration, limit=wanted
        )
        if len(slots) < wanted and near != horizon:
            busy.want(resource.id, horizon, rules.policy)
            slots = self._availability.bookable(
                rules, horizon, busy.of(resource.id), span.duration, limit=wanted
            )
        return [_alternative(resource, s) for s in slots] + [
            _alternative(hit.resource, hit.slot) for hit in hits
        ]


def _alternative(resource: Resource, slot: TimeSpan) -> Alternative:
    return Alternative(resource.id, slot.start.isoformat(), slot.end.isoformat())


def _by_name(resource: Resource) -> tuple[str, str]:
    return (resource.name.casefold(), resource.id)


def _bookable(tx: Transaction, principal: Principal, resource_id: ResourceId) -> bool:
    try:
        require_bookable(tx, principal, resource_id)
    except (NotFoundError, PermissionDeniedError):
        return False
    return True
