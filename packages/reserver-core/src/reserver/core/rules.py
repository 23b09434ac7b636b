"""The one validation pipeline (DESIGN.md invariant 2) that every booking path runs.

It never stops at the first problem: a refusal names every rule the request breaks, so that
people can fix them all at once. Permission is checked by the services before; the storage's
own overlap check after it is the last word under concurrency.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from datetime import datetime, timedelta, tzinfo

import attrs

from reserver.core.availability import aligned, check_span
from reserver.core.errors import ConflictError, PermissionDeniedError, Rule, Violation
from reserver.core.ids import ReservationId, ResourceId, UserId
from reserver.core.models import ZERO, ResourceStatus
from reserver.core.ports import Transaction
from reserver.core.principals import Permission, Principal
from reserver.core.services.resolution import ALWAYS_OPEN, ResourceRules
from reserver.core.spans import TimeSpan, local_midnight

FAR_FUTURE = timedelta(days=3 * 366)


@attrs.frozen
class Candidate:
    """One reservation a request would create or move: which resource, when, and its label."""

    rules: ResourceRules
    span: TimeSpan
    key: str | None = None

    @property
    def resource_id(self) -> ResourceId:
        """The resource this candidate would hold."""
        return self.rules.resource.id

    @property
    def block(self) -> TimeSpan:
        """The span widened by the resource's buffers: what may not overlap."""
        policy = self.rules.policy
        return self.span.widened(policy.buffer_before, policy.buffer_after)

    def violation(self, rule: Rule, message: str) -> Violation:
        """A violation of ``rule`` located at this candidate."""
        return Violation(rule, message, self.resource_id, self.span.start.isoformat())


def policy_violations(candidate: Candidate, now: datetime) -> Iterator[Violation]:
    """Every rule of policy, status, hours and blackouts that ``candidate`` breaks."""
    rules, span, policy = candidate.rules, candidate.span, candidate.rules.policy
    name = rules.resource.name
    if span.start < now:
        yield candidate.violation(Rule.IN_PAST, f"{_local(span.start, rules.tz)} is in the past")
    elif span.start < now + policy.min_notice:
        yield candidate.violation(
            Rule.MIN_NOTICE, f"{name!r} needs booking {_human(policy.min_notice)} ahead"
        )
    if policy.max_advance is not None and span.start > now + policy.max_advance:
        yield candidate.violation(
            Rule.MAX_ADVANCE, f"{name!r} takes bookings at most {_human(policy.max_advance)} ahead"
        )
    yield from _duration_violations(candidate)
    yield from _status_violations(candidate, now)
    if rules.hours is ALWAYS_OPEN and not rules.blackouts:
        return
    outside_hours, blackouts = check_span(span, rules.tz, rules.hours, rules.blackouts)
    if outside_hours:
        yield candidate.violation(
            Rule.BUSINESS_HOURS, f"{name!r} is closed at some time in {_local_span(span, rules.tz)}"
        )
    for blackout in blackouts:
        reason = f" ({blackout.reason})" if blackout.reason else ""
        yield candidate.violation(Rule.BLACKOUT, f"{name!r} is blacked out{reason}")


def _duration_violations(candidate: Candidate) -> Iterator[Violation]:
    policy, span = candidate.rules.policy, candidate.span
    if policy.min_duration is not None and span.duration < policy.min_duration:
        yield candidate.violation(
            Rule.MIN_DURATION, f"must last at least {_human(policy.min_duration)}"
        )
    if policy.max_duration is not None and span.duration > policy.max_duration:
        yield candidate.violation(
            Rule.MAX_DURATION, f"may last at most {_human(policy.max_duration)}"
        )
    step = policy.granularity
    if step is not None and (
        span.duration % step != ZERO or not aligned(span.start, step, candidate.rules.tz)
    ):
        yield candidate.violation(
            Rule.GRANULARITY, f"start and length must be multiples of {_human(step)}"
        )


def _status_violations(candidate: Candidate, now: datetime) -> Iterator[Violation]:
    resource = candidate.rules.resource
    if resource.is_retired:
        yield candidate.violation(Rule.RESOURCE_RETIRED, f"{resource.name!r} is retired")
        return
    status = resource.status_at(now)
    if status is ResourceStatus.DISABLED:
        yield candidate.violation(Rule.RESOURCE_DISABLED, f"{resource.name!r} is disabled")
    elif status is ResourceStatus.MAINTENANCE:
        until = resource.maintenance_until
        if until is None or candidate.span.start < until:
            back = f" until {_local(until, candidate.rules.tz)}" if until else ""
            yield candidate.violation(
                Rule.MAINTENANCE, f"{resource.name!r} is in maintenance{back}"
            )


def conflict_violations(
    tx: Transaction,
    candidate: Candidate,
    accepted: Sequence[Candidate],
    exclude: Collection[ReservationId],
) -> Iterator[Violation]:
    """Overlaps with stored blocking reservations and with the request's own earlier candidates.

    Only the blocks in the way count, so a new booking reads just those (``busy_blocks``);
    a change to stored reservations reads whole rows, to leave out its own.
    """
    block, resource_id = candidate.block, candidate.resource_id
    if exclude:
        overlaps = tx.reservations.blocking_overlaps([resource_id], block, exclude=exclude)
        taken = [other.block for other in overlaps]
    else:
        taken = [other for _, other in tx.reservations.busy_blocks({resource_id: block})]
    for other in taken:
        yield candidate.violation(
            Rule.OVERLAP,
            f"{candidate.rules.resource.name!r} is taken {_local_span(other, candidate.rules.tz)}",
        )
    for earlier in accepted:
        if earlier.resource_id == candidate.resource_id and earlier.block.overlaps(block):
            yield candidate.violation(
                Rule.OVERLAP,
                f"overlaps this request's own occurrence at {earlier.span.start.isoformat()}",
            )


@attrs.frozen
class QuotaLedger:
    """The holder's existing bookings that count against the quota of one scope."""

    active: int
    spans: tuple[TimeSpan, ...]


def quota_ledger(
    tx: Transaction,
    candidate: Candidate,
    holder: UserId,
    now: datetime,
    exclude: Collection[ReservationId],
) -> QuotaLedger:
    """Load what ``holder`` already holds within the quota scope of ``candidate``'s policy."""
    tx.lock(f"quota:{holder}")
    rules = candidate.rules
    window = TimeSpan(min(now, candidate.span.start) - timedelta(days=8), now + FAR_FUTURE)
    held = [r for r in tx.reservations.held_by(holder, window) if r.id not in exclude]
    if rules.quota_group is None:
        in_scope = [r for r in held if r.resource_id == rules.resource.id]
    else:
        members = _members(tx, rules.quota_group, {r.resource_id for r in held})
        in_scope = [r for r in held if r.resource_id in members]
    return QuotaLedger(
        active=sum(1 for r in in_scope if r.span.end > now), spans=tuple(r.span for r in in_scope)
    )


def _members(tx: Transaction, group_id: str, resource_ids: set[ResourceId]) -> set[ResourceId]:
    subtree = {g.id for g in tx.groups.subtree(group_id)}  # type: ignore[arg-type]
    return {r.id for r in tx.resources.get_many(resource_ids) if r.group_id in subtree}


def quota_violations(
    candidate: Candidate, ledger: QuotaLedger, now: datetime
) -> Iterator[Violation]:
    """The quota limits that adding ``candidate`` to ``ledger`` would exceed."""
    quota, tz = candidate.rules.policy.quota, candidate.rules.tz
    if quota.max_active is not None and ledger.active + 1 > quota.max_active:
        yield candidate.violation(
            Rule.QUOTA_ACTIVE, f"at most {quota.max_active} active reservations"
        )
    limits = (
        (quota.max_hours_per_day, 1, Rule.QUOTA_DAILY_HOURS, "day"),
        (quota.max_hours_per_week, 7, Rule.QUOTA_WEEKLY_HOURS, "week"),
    )
    for limit, days, rule, label in limits:
        if limit is None:
            continue
        local = candidate.span.start.astimezone(tz).date()
        first = local - timedelta(days=local.weekday()) if days == 7 else local
        period = TimeSpan(
            local_midnight(first, tz), local_midnight(first + timedelta(days=days), tz)
        )
        used = sum((_clipped(s, period) for s in (*ledger.spans, candidate.span)), ZERO)
        if used > timedelta(hours=limit):
            yield candidate.violation(rule, f"at most {limit:g} hours per {label}")


def _clipped(span: TimeSpan, period: TimeSpan) -> timedelta:
    return max(ZERO, min(span.end, period.end) - max(span.start, period.start))


def with_added(ledger: QuotaLedger, candidate: Candidate, now: datetime) -> QuotaLedger:
    """The ledger after ``candidate`` is booked."""
    return QuotaLedger(
        ledger.active + (1 if candidate.span.end > now else 0), (*ledger.spans, candidate.span)
    )


def evaluate(
    tx: Transaction,
    candidates: Sequence[Candidate],
    holder: UserId,
    now: datetime,
    *,
    exclude: Collection[ReservationId] = (),
) -> list[list[Violation]]:
    """Run the whole pipeline; return each candidate's violations (empty lists pass).

    Candidates are judged in order, and each one that passes counts against the quota and the
    overlap check of those after it, so a series cannot overlap itself.
    """
    results: list[list[Violation]] = []
    accepted: list[Candidate] = []
    ledgers: dict[tuple[ResourceId, str | None], QuotaLedger] = {}
    for candidate in candidates:
        found = list(policy_violations(candidate, now))
        found += conflict_violations(tx, candidate, accepted, exclude)
        quota = candidate.rules.policy.quota
        if not quota.is_unlimited:
            scope = (
                candidate.resource_id if candidate.rules.quota_group is None else ResourceId(""),
                candidate.rules.quota_group,
            )
            if scope not in ledgers:
                ledgers[scope] = quota_ledger(tx, candidate, holder, now, exclude)
            if not found:
                found += quota_violations(candidate, ledgers[scope], now)
            if not found:
                ledgers[scope] = with_added(ledgers[scope], candidate, now)
        if not found:
            accepted.append(candidate)
        results.append(found)
    return results


class Refusal(ConflictError):
    """The pipeline's refusal, raised before its unit of work writes anything.

    So the unit can still be read: the alternatives are searched in it, saving a second one.
    """


def refuse_any(results: Sequence[Sequence[Violation]], what: str) -> None:
    """Raise one ``Refusal`` naming every violation found, if there is any.

    Call it before the unit of work writes (the alternatives search reads the same unit).
    """
    violations = [v for found in results for v in found]
    if violations:
        rules = ", ".join(sorted({v.rule.value for v in violations}))
        raise Refusal(f"{what} was refused: {rules}", violations=violations)


def booking_holder(principal: Principal, holder: UserId | None) -> UserId:
    """Who will hold a booking ``principal`` makes; booking for others needs its own right."""
    if not principal.may_book:
        raise PermissionDeniedError("you may look but not book (needs the 'book' right)")
    if holder is None or holder == principal.id:
        return principal.id
    if not principal.has(Permission.BOOK_FOR_OTHERS):
        raise PermissionDeniedError("you may not book on behalf of someone else")
    return holder


def _local(instant: datetime, tz: tzinfo) -> str:
    """An instant as people read it: the resource's wall time and zone."""
    return f"{instant.astimezone(tz):%Y-%m-%d %H:%M} {tz}"


def _local_span(span: TimeSpan, tz: tzinfo) -> str:
    start, end = span.start.astimezone(tz), span.end.astimezone(tz)
    tail = f"{end:%H:%M}" if end.date() == start.date() else f"{end:%Y-%m-%d %H:%M}"
    return f"{start:%Y-%m-%d %H:%M}-{tail} {tz}"


def _human(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes % (24 * 60) == 0 and minutes:
        return f"{minutes // (24 * 60)} day(s)"
    if minutes % 60 == 0 and minutes:
        return f"{minutes // 60} hour(s)"
    return f"{minutes} minute(s)"
