"""Manage the catalogue: resources, their tags, and retiring them with their history kept."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import attrs

from reserver.core.commands import ResourceDraft, ResourcePatch
from reserver.core.errors import ConflictError, ValidationError
from reserver.core.events import ResourceCreated, ResourceRetired, ResourceUpdated
from reserver.core.identity.access import hidden_resources, require_visible
from reserver.core.ids import GroupId, ResourceId, new_id
from reserver.core.models import (
    BLOCKING_STATUSES,
    Resource,
    ResourceStatus,
    normalize_tags,
)
from reserver.core.ports import Transaction
from reserver.core.principals import Permission, Principal
from reserver.core.queries import (
    Page,
    PageRequest,
    ReservationQuery,
    ResourceQuery,
    encode_cursor,
    resource_sort_key,
)
from reserver.core.services.context import ServiceContext, require
from reserver.core.services.reservations import ReservationService
from reserver.core.spans import TimeSpan, require_aware, zone

_FAR = timedelta(days=3 * 366)


class ResourceService:
    """Resource use cases; reach them as ``reserver.resources``. Admins change, everyone looks."""

    def __init__(self, ctx: ServiceContext, reservations: ReservationService) -> None:
        self._ctx = ctx
        self._reservations = reservations

    def create(self, principal: Principal, draft: ResourceDraft) -> Resource:
        """Add a resource; its time zone defaults to its group's, then the system default."""
        require(principal, Permission.MANAGE_RESOURCES, "create resources")
        with self._ctx.storage.transaction() as tx:
            timezone = draft.timezone or self._group_zone(tx, draft.group_id)
            zone(timezone)
            resource = Resource(
                id=ResourceId(new_id()),
                name=draft.name.strip(),
                timezone=timezone,
                kind=draft.kind,
                description=draft.description,
                tags=draft.tags,
                attributes=draft.attributes,
                group_id=draft.group_id,
                policy=draft.policy,
                created_at=self._ctx.now(),
            )
            tx.resources.add(resource)
            self._ctx.emit(tx, ResourceCreated, principal.id, resource=resource)
            return resource

    def _group_zone(self, tx: Transaction, group_id: GroupId | None) -> str:
        if group_id is None:
            return self._ctx.settings.default_timezone
        group = tx.groups.get(group_id)
        for gid in reversed(group.lineage):
            found = group if gid == group.id else tx.groups.get(gid)
            if found.timezone:
                return found.timezone
        return self._ctx.settings.default_timezone

    def get(self, principal: Principal, resource_id: ResourceId) -> Resource:
        """Return one resource (retired ones too: their history stays).

        Raises:
            NotFoundError: no such resource, or one hidden from the principal by grants.
        """
        with self._ctx.storage.transaction(readonly=True) as tx:
            resource = tx.resources.get(resource_id)
            require_visible(tx, principal, resource_id)
            return resource

    def list(
        self,
        principal: Principal,
        query: ResourceQuery = ResourceQuery(),
        page: PageRequest = PageRequest(),
    ) -> Page[Resource]:
        """List resources; ``query.group_ids`` selects whole subtrees.

        Resources hidden from the principal by grants are left out, pages stay full.
        """
        if not principal.has(Permission.VIEW):
            return Page(())
        with self._ctx.storage.transaction(readonly=True) as tx:
            if query.group_ids is not None:
                subtree = {g.id for gid in query.group_ids for g in tx.groups.subtree(gid)}
                query = attrs.evolve(query, group_ids=frozenset(subtree))
            query = attrs.evolve(query, tags_all=normalize_tags(query.tags_all))
            hidden = hidden_resources(tx, principal)
            if not hidden:
                return tx.resources.find(query, page)
            return _visible_page(tx, query, page, hidden)

    def update(
        self,
        principal: Principal,
        resource_id: ResourceId,
        patch: ResourcePatch,
        *,
        expected_version: int,
    ) -> Resource:
        """Change a resource; ``expected_version`` guards against lost updates."""
        require(principal, Permission.MANAGE_RESOURCES, "change resources")
        changes = patch.changes()
        with self._ctx.storage.transaction() as tx:
            current = tx.resources.get(resource_id)
            if current.is_retired:
                raise ConflictError(f"resource {resource_id!r} is retired")
            if "timezone" in changes:
                zone(str(changes["timezone"]))
            if changes.get("group_id") is not None:
                tx.groups.get(changes["group_id"])  # type: ignore[arg-type]
            until = changes.get("maintenance_until")
            if until is not None:
                changes["maintenance_until"] = require_aware(until, "maintenance_until")  # type: ignore[arg-type]
            if changes.get("status") not in (None, ResourceStatus.MAINTENANCE):
                changes.setdefault("maintenance_until", None)
            if "name" in changes:
                changes["name"] = str(changes["name"]).strip()
            updated = attrs.evolve(current, version=current.version + 1, **changes)  # type: ignore[arg-type]
            tx.resources.update(updated, expected_version=expected_version)
            self._ctx.emit(tx, ResourceUpdated, principal.id, resource=updated)
            return updated

    def retire(
        self, principal: Principal, resource_id: ResourceId, reason: str = "resource retired"
    ) -> Resource:
        """Stop a resource taking bookings for good; future bookings are cancelled, history kept."""
        require(principal, Permission.MANAGE_RESOURCES, "retire resources")
        with self._ctx.storage.transaction() as tx:
            current = tx.resources.get(resource_id)
            if current.is_retired:
                return current
            now = self._ctx.now()
            retired = attrs.evolve(current, retired_at=now, version=current.version + 1)
            tx.resources.update(retired, expected_version=current.version)
            self._cancel_future(tx, principal, resource_id, reason)
            self._ctx.emit(tx, ResourceRetired, principal.id, resource_id=resource_id)
            return retired

    def _cancel_future(
        self, tx: Transaction, principal: Principal, resource_id: ResourceId, reason: str
    ) -> None:
        now = self._ctx.now()
        query = ReservationQuery(
            resource_ids=frozenset({resource_id}),
            statuses=BLOCKING_STATUSES,
            overlapping=TimeSpan(now, now + _FAR),
        )
        page = tx.reservations.find(query, PageRequest(limit=500))
        while True:
            for reservation in page.items:
                if reservation.span.start > now:
                    self._reservations.cancel_in(tx, principal, reservation, reason)
            if page.next_cursor is None:
                return
            page = tx.reservations.find(query, PageRequest(limit=500, cursor=page.next_cursor))

    def tags(self, principal: Principal) -> Mapping[str, int]:
        """Every tag in use, with how many resources carry it."""
        with self._ctx.storage.transaction(readonly=True) as tx:
            return dict(tx.resources.tag_counts())

    def rename_tag(self, principal: Principal, old: str, new: str) -> int:
        """Rename a tag on every resource; returns how many resources changed."""
        require(principal, Permission.MANAGE_RESOURCES, "rename tags")
        (old_tag,) = normalize_tags([old]) or (None,)
        (new_tag,) = normalize_tags([new]) or (None,)
        if old_tag is None or new_tag is None:
            raise ValidationError.for_field("tag", "must not be empty")
        if old_tag == new_tag:
            raise ValidationError.for_field("new", "is the same as the old name")
        with self._ctx.storage.transaction() as tx:
            return tx.resources.replace_tag(old_tag, new_tag)

    def delete_tag(self, principal: Principal, tag: str) -> int:
        """Remove a tag from every resource; returns how many resources changed."""
        require(principal, Permission.MANAGE_RESOURCES, "delete tags")
        (name,) = normalize_tags([tag]) or (None,)
        if name is None:
            raise ValidationError.for_field("tag", "must not be empty")
        with self._ctx.storage.transaction() as tx:
            return tx.resources.replace_tag(name, None)


def _visible_page(
    tx: Transaction, query: ResourceQuery, page: PageRequest, hidden: frozenset[ResourceId]
) -> Page[Resource]:
    """A page of ``query`` without the ``hidden`` resources, refilled from the next pages."""
    kept: list[Resource] = []
    cursor = page.cursor
    while len(kept) <= page.limit:
        found = tx.resources.find(query, PageRequest(limit=page.limit, cursor=cursor))
        kept.extend(r for r in found.items if r.id not in hidden)
        cursor = found.next_cursor
        if cursor is None:
            break
    if len(kept) <= page.limit:
        return Page(tuple(kept))
    last = kept[page.limit - 1]
    return Page(tuple(kept[: page.limit]), encode_cursor(*resource_sort_key(last.name, last.id)))
