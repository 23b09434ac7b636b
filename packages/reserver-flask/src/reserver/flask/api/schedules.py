"""Business hours and blackouts of a resource, a group subtree, or everything.

Hours are local wall times of each resource. The nearest hours win (resource, then its nearest
group, then global, else open around the clock); blackouts add up across every scope above.
"""

from __future__ import annotations

from reserver.core.ids import BlackoutId
from reserver.core.principals import Principal
from reserver.core.schedules import Blackout, Scope, WeeklyHours
from reserver.core.spans import TimeSpan
from reserver.flask.api.messages import BlackoutRequest, ResourceHours, ScopeHours
from reserver.flask.api.routing import Api
from reserver.flask.services import core

hours_api = Api("hours", "business-hours")
blackouts_api = Api("blackouts", "blackouts")


@hours_api.operation("GET", "/resources/<resource_id>/business-hours")
def resource_hours(principal: Principal, resource_id: str) -> ResourceHours:
    """The hours set on the resource itself (``own``) and the hours that apply to it."""
    schedules = core().schedules
    return ResourceHours(
        schedules.hours(principal, Scope.resource(resource_id)),
        schedules.effective_hours(principal, resource_id),
    )


@hours_api.operation("PUT", "/resources/<resource_id>/business-hours")
def set_resource_hours(principal: Principal, resource_id: str, body: WeeklyHours) -> WeeklyHours:
    """Replace the resource's own weekly hours, Monday first (administrators)."""
    return core().schedules.set_hours(principal, Scope.resource(resource_id), body)


@hours_api.operation("DELETE", "/resources/<resource_id>/business-hours")
def clear_resource_hours(principal: Principal, resource_id: str) -> None:
    """Drop the resource's own hours so that its group's or the global ones apply."""
    core().schedules.clear_hours(principal, Scope.resource(resource_id))


@hours_api.operation("GET", "/resource-groups/<group_id>/business-hours")
def group_hours(principal: Principal, group_id: str) -> ScopeHours:
    """The hours set on the group itself (``null`` when none)."""
    return ScopeHours(core().schedules.hours(principal, Scope.group(group_id)))


@hours_api.operation("PUT", "/resource-groups/<group_id>/business-hours")
def set_group_hours(principal: Principal, group_id: str, body: WeeklyHours) -> WeeklyHours:
    """Replace the group's weekly hours, for its whole subtree (administrators)."""
    return core().schedules.set_hours(principal, Scope.group(group_id), body)


@hours_api.operation("DELETE", "/resource-groups/<group_id>/business-hours")
def clear_group_hours(principal: Principal, group_id: str) -> None:
    """Drop the group's hours (administrators)."""
    core().schedules.clear_hours(principal, Scope.group(group_id))


@hours_api.operation("GET", "/business-hours/global")
def global_hours(principal: Principal) -> ScopeHours:
    """The hours set for everything (``null`` when none: open around the clock)."""
    return ScopeHours(core().schedules.hours(principal, Scope.everywhere()))


@hours_api.operation("PUT", "/business-hours/global")
def set_global_hours(principal: Principal, body: WeeklyHours) -> WeeklyHours:
    """Replace the global weekly hours (administrators)."""
    return core().schedules.set_hours(principal, Scope.everywhere(), body)


@hours_api.operation("DELETE", "/business-hours/global")
def clear_global_hours(principal: Principal) -> None:
    """Drop the global hours (administrators)."""
    core().schedules.clear_hours(principal, Scope.everywhere())


def _add(principal: Principal, scope: Scope, body: BlackoutRequest) -> Blackout:
    span = None
    if body.start is not None or body.end is not None:
        span = TimeSpan(body.start, body.end)  # type: ignore[arg-type]
    return core().schedules.add_blackout(
        principal,
        scope,
        reason=body.reason,
        first_day=body.first_day,
        last_day=body.last_day,
        yearly=body.yearly,
        span=span,
    )


@blackouts_api.operation("GET", "/resources/<resource_id>/blackout-dates")
def resource_blackouts(principal: Principal, resource_id: str) -> list[Blackout]:
    """The blackouts set on the resource itself."""
    return list(core().schedules.blackouts(principal, Scope.resource(resource_id)))


@blackouts_api.operation("POST", "/resources/<resource_id>/blackout-dates", status=201)
def add_resource_blackout(
    principal: Principal, resource_id: str, body: BlackoutRequest
) -> Blackout:
    """Black out whole local days (optionally yearly) or a span on one resource (admins)."""
    return _add(principal, Scope.resource(resource_id), body)


@blackouts_api.operation("GET", "/resource-groups/<group_id>/blackout-dates")
def group_blackouts(principal: Principal, group_id: str) -> list[Blackout]:
    """The blackouts set on the group itself (they cover its whole subtree)."""
    return list(core().schedules.blackouts(principal, Scope.group(group_id)))


@blackouts_api.operation("POST", "/resource-groups/<group_id>/blackout-dates", status=201)
def add_group_blackout(principal: Principal, group_id: str, body: BlackoutRequest) -> Blackout:
    """Black out days or a span on a group's whole subtree (administrators)."""
    return _add(principal, Scope.group(group_id), body)


@blackouts_api.operation("GET", "/blackout-dates")
def global_blackouts(principal: Principal) -> list[Blackout]:
    """The blackouts that apply everywhere."""
    return list(core().schedules.blackouts(principal, Scope.everywhere()))


@blackouts_api.operation("POST", "/blackout-dates", status=201)
def add_global_blackout(principal: Principal, body: BlackoutRequest) -> Blackout:
    """Black out days or a span everywhere (administrators)."""
    return _add(principal, Scope.everywhere(), body)


@blackouts_api.operation("DELETE", "/blackout-dates/<blackout_id>")
def remove_blackout(principal: Principal, blackout_id: str) -> None:
    """Remove a blackout, whatever its scope (administrators)."""
    core().schedules.remove_blackout(principal, BlackoutId(blackout_id))
