"""Resources and groups in memory: filters, keyset pages, tags and the group tree."""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence

import attrs

from reserver.core.adapters.memory._state import (
    MemoryRepository,
    MemoryState,
    already_exists,
    get_or_raise,
    stale_version,
)
from reserver.core.ids import GroupId, ResourceId
from reserver.core.models import Group, Resource, normalize_tags
from reserver.core.queries import (
    Page,
    PageRequest,
    ResourceQuery,
    decode_cursor,
    page_of,
    resource_sort_key,
)


def _matches(resource: Resource, query: ResourceQuery, state: MemoryState) -> bool:
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


class MemoryResourceRepository(MemoryRepository):
    """Resources in memory; ``find`` sorts on every call, which suits catalogues of thousands."""

    def add(self, resource: Resource) -> None:
        state = self._unit.reading()
        if resource.id in state.resources:
            raise already_exists("resource", resource.id)
        self._unit.put(state.resources, resource.id, resource)

    def get(self, resource_id: ResourceId) -> Resource:
        return get_or_raise(self._unit.reading().resources, resource_id, "resource")

    def get_many(self, resource_ids: Collection[ResourceId]) -> Sequence[Resource]:
        resources = self._unit.reading().resources
        return [resources[i] for i in dict.fromkeys(resource_ids) if i in resources]

    def update(self, resource: Resource, *, expected_version: int) -> None:
        state = self._unit.reading()
        stored = get_or_raise(state.resources, resource.id, "resource")
        if stored.version != expected_version:
            raise stale_version("resource", resource.id, stored.version, expected_version)
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
            (resource_sort_key(r.name, r.id), r) for r in candidates if _matches(r, query, state)
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


def _tree_order(group: Group) -> tuple[int, str, str]:
    return (len(group.path), group.name.casefold(), group.id)


class MemoryGroupRepository(MemoryRepository):
    """The group tree in memory; ``all`` and ``subtree`` list parents before children."""

    def add(self, group: Group) -> None:
        groups = self._unit.reading().groups
        if group.id in groups:
            raise already_exists("group", group.id)
        self._unit.put(groups, group.id, group)

    def get(self, group_id: GroupId) -> Group:
        return get_or_raise(self._unit.reading().groups, group_id, "group")

    def update(self, group: Group) -> None:
        groups = self._unit.reading().groups
        get_or_raise(groups, group.id, "group")
        self._unit.put(groups, group.id, group)

    def delete(self, group_id: GroupId) -> None:
        groups = self._unit.reading().groups
        get_or_raise(groups, group_id, "group")
        self._unit.drop(groups, group_id)

    def all(self) -> Sequence[Group]:
        return sorted(self._unit.reading().groups.values(), key=_tree_order)

    def subtree(self, group_id: GroupId) -> Sequence[Group]:
        groups = self._unit.reading().groups.values()
        found = [g for g in groups if g.id == group_id or group_id in g.path]
        return sorted(found, key=_tree_order)
