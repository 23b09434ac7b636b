"""Business hours and blackouts for a resource, a group subtree, or everything."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from reserver.core.errors import ValidationError
from reserver.core.events import BlackoutAdded, BlackoutRemoved, HoursChanged
from reserver.core.identity.access import require_visible
from reserver.core.ids import BlackoutId, ResourceId, new_id
from reserver.core.ports import Transaction
from reserver.core.principals import Permission, Principal
from reserver.core.schedules import Blackout, Scope, ScopeKind, WeeklyHours
from reserver.core.services.context import ServiceContext, require
from reserver.core.services.resolution import load_rules
from reserver.core.spans import TimeSpan


class ScheduleService:
    """Hours and blackouts; reach them as ``reserver.schedules``. Admins change, everyone looks."""

    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    @staticmethod
    def _check_scope(tx: Transaction, scope: Scope) -> None:
        if scope.kind is ScopeKind.RESOURCE:
            tx.resources.get(scope.id)  # type: ignore[arg-type]
        elif scope.kind is ScopeKind.GROUP:
            tx.groups.get(scope.id)  # type: ignore[arg-type]

    def set_hours(self, principal: Principal, scope: Scope, hours: WeeklyHours) -> WeeklyHours:
        """Replace the business hours of ``scope`` (local wall times of each resource)."""
        require(principal, Permission.MANAGE_SCHEDULES, "set business hours")
        with self._ctx.storage.transaction() as tx:
            self._check_scope(tx, scope)
            tx.hours.put(scope, hours)
            self._ctx.emit(tx, HoursChanged, principal.id, scope=scope)
            return hours

    def clear_hours(self, principal: Principal, scope: Scope) -> None:
        """Drop the hours of ``scope``, so the next scope up applies again."""
        require(principal, Permission.MANAGE_SCHEDULES, "clear business hours")
        with self._ctx.storage.transaction() as tx:
            self._check_scope(tx, scope)
            tx.hours.delete(scope)
            self._ctx.emit(tx, HoursChanged, principal.id, scope=scope)

    def hours(self, principal: Principal, scope: Scope) -> WeeklyHours | None:
        """The hours set on ``scope`` itself, or ``None``."""
        with self._ctx.storage.transaction(readonly=True) as tx:
            self._check_scope(tx, scope)
            _require_visible(tx, principal, scope)
            return tx.hours.get(scope)

    def effective_hours(self, principal: Principal, resource_id: str) -> WeeklyHours:
        """The hours that apply to a resource: its own, else its nearest group's, else global."""
        with self._ctx.storage.transaction(readonly=True) as tx:
            resource = tx.resources.get(resource_id)  # type: ignore[arg-type]
            require_visible(tx, principal, resource.id)
            return load_rules(tx, resource, self._ctx.settings).hours

    def add_blackout(
        self,
        principal: Principal,
        scope: Scope,
        *,
        reason: str = "",
        first_day: date | None = None,
        last_day: date | None = None,
        yearly: bool = False,
        span: TimeSpan | None = None,
    ) -> Blackout:
        """Black out whole local days (optionally every year) or an absolute span."""
        require(principal, Permission.MANAGE_SCHEDULES, "add blackouts")
        if first_day is not None and last_day is None:
            last_day = first_day
        blackout = Blackout(
            BlackoutId(new_id()), scope, reason, first_day, last_day, yearly, span, self._ctx.now()
        )
        if blackout.span is not None and blackout.span.end <= self._ctx.now():
            raise ValidationError.for_field("span", "is already over")
        with self._ctx.storage.transaction() as tx:
            self._check_scope(tx, scope)
            tx.blackouts.add(blackout)
            self._ctx.emit(tx, BlackoutAdded, principal.id, blackout=blackout)
            return blackout

    def remove_blackout(self, principal: Principal, blackout_id: BlackoutId) -> None:
        """Remove a blackout."""
        require(principal, Permission.MANAGE_SCHEDULES, "remove blackouts")
        with self._ctx.storage.transaction() as tx:
            blackout = tx.blackouts.get(blackout_id)
            tx.blackouts.delete(blackout_id)
            self._ctx.emit(tx, BlackoutRemoved, principal.id, blackout=blackout)

    def blackouts(self, principal: Principal, scope: Scope) -> Sequence[Blackout]:
        """The blackouts set on ``scope`` itself."""
        with self._ctx.storage.transaction(readonly=True) as tx:
            self._check_scope(tx, scope)
            _require_visible(tx, principal, scope)
            return tx.blackouts.for_scopes([scope])


def _require_visible(tx: Transaction, principal: Principal, scope: Scope) -> None:
    if scope.kind is ScopeKind.RESOURCE:
        require_visible(tx, principal, ResourceId(str(scope.id)))
