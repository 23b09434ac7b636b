"""The location tree: ``/api/v1/resource-groups``."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from reserver.core.commands import GroupDraft
from reserver.core.ids import GroupId
from reserver.core.models import Group, Resource
from reserver.core.principals import Principal
from reserver.core.queries import Page, PageRequest, ResourceQuery
from reserver.flask.api.messages import GroupMove, GroupNode, GroupPatch, PageQuery
from reserver.flask.api.routing import Api
from reserver.flask.services import core

api = Api("groups", "resource-groups")


@api.operation("GET", "/resource-groups")
def list_groups(principal: Principal) -> list[Group]:
    """Every group; ``parent_id`` and ``path`` place each in the tree."""
    return list(core().groups.list(principal))


@api.operation(
    "POST", "/resource-groups", status=201, idempotent=True, location="/api/v1/resource-groups/{id}"
)
def create_group(principal: Principal, body: GroupDraft) -> Group:
    """Create a group at the top or below ``parent_id`` (administrators)."""
    return core().groups.create(principal, body)


def _tree(groups: Sequence[Group], root: GroupId | None) -> tuple[GroupNode, ...]:
    below: dict[GroupId | None, list[Group]] = defaultdict(list)
    for group in groups:
        below[group.parent_id].append(group)

    def node(group: Group) -> GroupNode:
        children = sorted(below[group.id], key=lambda g: (g.name.casefold(), g.id))
        return GroupNode(group, tuple(node(c) for c in children))

    tops = [g for g in groups if g.id == root] if root else below[None]
    return tuple(node(g) for g in sorted(tops, key=lambda g: (g.name.casefold(), g.id)))


@api.operation("GET", "/resource-groups/tree")
def group_tree(principal: Principal) -> list[GroupNode]:
    """The whole tree, nested, each level sorted by name."""
    return list(_tree(core().groups.list(principal), None))


@api.operation("GET", "/resource-groups/<group_id>")
def get_group(principal: Principal, group_id: str) -> Group:
    """Read one group."""
    return core().groups.get(principal, GroupId(group_id))


@api.operation("PATCH", "/resource-groups/<group_id>")
def update_group(principal: Principal, group_id: str, body: GroupPatch) -> Group:
    """Rename a group or set its kind, default time zone or booking policy (administrators)."""
    return core().groups.update(
        principal,
        GroupId(group_id),
        name=body.name,
        kind=body.kind,
        timezone=body.timezone,
        policy=body.policy,
        clear_policy=body.clear_policy,
    )


@api.operation("DELETE", "/resource-groups/<group_id>", errors=(409,))
def delete_group(principal: Principal, group_id: str) -> None:
    """Delete an empty group (administrators): no groups below it and no resources in it."""
    core().groups.delete(principal, GroupId(group_id))


@api.operation("POST", "/resource-groups/<group_id>/move", errors=(409,))
def move_group(principal: Principal, group_id: str, body: GroupMove) -> Group:
    """Move a group and its subtree below another group, or to the top (administrators)."""
    parent = None if body.parent_id is None else GroupId(body.parent_id)
    return core().groups.move(principal, GroupId(group_id), parent)


@api.operation("GET", "/resource-groups/<group_id>/subtree")
def group_subtree(principal: Principal, group_id: str) -> list[GroupNode]:
    """The group and everything below it, nested."""
    groups = core().groups.subtree(principal, GroupId(group_id))
    return list(_tree(groups, GroupId(group_id)))


@api.operation("GET", "/resource-groups/<group_id>/resources")
def group_resources(principal: Principal, group_id: str, query: PageQuery) -> Page[Resource]:
    """The resources in the group and every group below it, sorted by name."""
    reserver = core()
    reserver.groups.get(principal, GroupId(group_id))
    return reserver.resources.list(
        principal,
        ResourceQuery(group_ids=frozenset({GroupId(group_id)})),
        PageRequest(query.limit, query.cursor),
    )
