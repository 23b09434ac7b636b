"""The location tree (site > building > floor > room): create, move and query subtrees."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from reserver.core.commands import GroupDraft
from reserver.core.errors import ConflictError, ValidationError
from reserver.core.events import GroupChanged, GroupDeleted
from reserver.core.ids import GroupId, new_id
from reserver.core.models import BookingPolicy, Group
from reserver.core.principals import Permission, Principal
from reserver.core.queries import PageRequest, ResourceQuery
from reserver.core.services.context import ServiceContext, require
from reserver.core.spans import zone

MAX_DEPTH = 16


class GroupService:
    """Group use cases; reach them as ``reserver.groups``. Admins change, everyone looks."""

    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    def create(self, principal: Principal, draft: GroupDraft) -> Group:
        """Add a group, at the root or below ``draft.parent_id``."""
        require(principal, Permission.MANAGE_RESOURCES, "create groups")
        if draft.timezone is not None:
            zone(draft.timezone)
        with self._ctx.storage.transaction() as tx:
            path: tuple[GroupId, ...] = ()
            if draft.parent_id is not None:
                path = tx.groups.get(draft.parent_id).lineage
            if len(path) >= MAX_DEPTH:
                raise ValidationError.for_field(
                    "parent_id", f"groups nest at most {MAX_DEPTH} deep"
                )
            group = Group(
                GroupId(new_id()),
                draft.name.strip(),
                draft.kind,
                draft.parent_id,
                path,
                draft.timezone,
                draft.policy,
            )
            tx.groups.add(group)
            self._ctx.emit(tx, GroupChanged, principal.id, group=group)
            return group

    def get(self, principal: Principal, group_id: GroupId) -> Group:
        """Return one group."""
        with self._ctx.storage.transaction(readonly=True) as tx:
            return tx.groups.get(group_id)

    def list(self, principal: Principal) -> Sequence[Group]:
        """Every group; callers build the tree from ``parent_id``."""
        with self._ctx.storage.transaction(readonly=True) as tx:
            return tx.groups.all()

    def subtree(self, principal: Principal, group_id: GroupId) -> Sequence[Group]:
        """The group and all groups below it."""
        with self._ctx.storage.transaction(readonly=True) as tx:
            return tx.groups.subtree(group_id)

    def update(
        self,
        principal: Principal,
        group_id: GroupId,
        *,
        name: str | None = None,
        kind: str | None = None,
        timezone: str | None = None,
        policy: BookingPolicy | None = None,
        clear_policy: bool = False,
    ) -> Group:
        """Rename a group or set its kind, default time zone or booking policy."""
        require(principal, Permission.MANAGE_RESOURCES, "change groups")
        if timezone is not None:
            zone(timezone)
        with self._ctx.storage.transaction() as tx:
            current = tx.groups.get(group_id)
            updated = attrs.evolve(
                current,
                name=current.name if name is None else name.strip(),
                kind=kind or current.kind,
                timezone=timezone or current.timezone,
                policy=None if clear_policy else (policy or current.policy),
            )
            tx.groups.update(updated)
            self._ctx.emit(tx, GroupChanged, principal.id, group=updated)
            return updated

    def move(self, principal: Principal, group_id: GroupId, new_parent: GroupId | None) -> Group:
        """Move a group (and its subtree) below ``new_parent``; refuses cycles."""
        require(principal, Permission.MANAGE_RESOURCES, "move groups")
        with self._ctx.storage.transaction() as tx:
            group = tx.groups.get(group_id)
            subtree = tx.groups.subtree(group_id)
            prefix: tuple[GroupId, ...] = ()
            if new_parent is not None:
                parent = tx.groups.get(new_parent)
                if group_id in parent.lineage:
                    raise ConflictError(f"group {group_id!r} cannot move below its own subtree")
                prefix = parent.lineage
            depth = max(len(g.path) for g in subtree) - len(group.path)
            if len(prefix) + depth >= MAX_DEPTH:
                raise ValidationError.for_field(
                    "parent_id", f"groups nest at most {MAX_DEPTH} deep"
                )
            cut = len(group.path)
            moved = group
            for member in subtree:
                updated = attrs.evolve(member, path=prefix + member.path[cut:])
                if member.id == group_id:
                    updated = moved = attrs.evolve(updated, parent_id=new_parent)
                tx.groups.update(updated)
            self._ctx.emit(tx, GroupChanged, principal.id, group=moved)
            return moved

    def delete(self, principal: Principal, group_id: GroupId) -> None:
        """Remove an empty group (no child groups, no resources, retired ones included)."""
        require(principal, Permission.MANAGE_RESOURCES, "delete groups")
        with self._ctx.storage.transaction() as tx:
            if len(tx.groups.subtree(group_id)) > 1:
                raise ConflictError(f"group {group_id!r} still has groups below it")
            members = tx.resources.find(
                ResourceQuery(group_ids=frozenset({group_id}), include_retired=True),
                PageRequest(limit=1),
            )
            if members.items:
                raise ConflictError(f"group {group_id!r} still holds resources; move them first")
            tx.groups.delete(group_id)
            self._ctx.emit(tx, GroupDeleted, principal.id, group_id=group_id)
