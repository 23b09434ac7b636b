"""Resources and the group tree."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from reserver.core.errors import NotFoundError
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
from reserver.sql.db import Db
from reserver.sql.errors import version_error
from reserver.sql.mapping import (
    group_from_row,
    group_values,
    resource_from_row,
    resource_values,
)
from reserver.sql.tables import (
    group_ancestors,
    groups,
    resource_features,
    resource_tags,
    resources,
)

_R = resources.c
_G = groups.c
# Built once: building statements per call costs more than running them (bench/RESULTS.md).
_RESOURCE_BY_ID = sa.select(resources).where(_R.id == sa.bindparam("id"))
_GROUP_BY_ID = sa.select(groups).where(_G.id == sa.bindparam("id"))


def _has_all(table: sa.Table, column: str, values: Collection[str]) -> list[sa.ColumnElement[bool]]:
    return [
        sa.exists().where(table.c.resource_id == _R.id, table.c[column] == value)
        for value in sorted(values)
    ]


def _in_groups(group_ids: Collection[GroupId]) -> sa.ColumnElement[bool]:
    """The resource's group is one of ``group_ids`` or lies below one of them."""
    wanted = sorted(group_ids)
    below = sa.select(group_ancestors.c.group_id).where(group_ancestors.c.ancestor_id.in_(wanted))
    return sa.or_(_R.group_id.in_(wanted), _R.group_id.in_(below))


def resource_filters(query: ResourceQuery) -> list[sa.ColumnElement[bool]]:
    """Return the SQL conditions of ``query``; all must hold."""
    conditions: list[sa.ColumnElement[bool]] = []
    if not query.include_retired:
        conditions.append(_R.retired_at.is_(None))
    if query.statuses is not None:
        conditions.append(_R.status.in_(sorted(s.value for s in query.statuses)))
    if query.group_ids is not None:
        conditions.append(_in_groups(query.group_ids))
    if query.ids is not None:
        conditions.append(_R.id.in_(sorted(query.ids)))
    if query.min_capacity is not None:
        conditions.append(_R.capacity >= query.min_capacity)
    if query.location is not None:
        conditions.append(_R.location_key == query.location.casefold())
    if query.kind is not None:
        conditions.append(_R.kind == query.kind)
    if query.text:
        needle = query.text.casefold()
        conditions.append(
            sa.or_(
                _R.name_key.contains(needle, autoescape=True),
                _R.description_key.contains(needle, autoescape=True),
            )
        )
    conditions += _has_all(resource_tags, "tag", normalize_tags(query.tags_all))
    conditions += _has_all(resource_features, "feature", query.features_all)
    return conditions


class SqlResourceRepository:
    """Resources; tags and features are mirrored into their own tables for filtering."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def add(self, resource: Resource) -> None:
        """Insert ``resource``; a taken id is ``ConflictError``."""
        subject = f"resource {resource.id!r}"
        values = resource_values(self._db.converter, resource)
        self._db.execute(resources.insert(), values, subject=subject)
        self._write_sets(resource)

    def get(self, resource_id: ResourceId) -> Resource:
        """Return the resource, or raise ``NotFoundError``."""
        return self._db.cached(("resource", resource_id), lambda: self._load(resource_id))

    def _load(self, resource_id: ResourceId) -> Resource:
        subject = f"resource {resource_id!r}"
        row = self._db.first(_RESOURCE_BY_ID, {"id": resource_id}, subject=subject)
        if row is None:
            raise NotFoundError(f"{subject} not found")
        return self._decode(row)

    def get_many(self, resource_ids: Collection[ResourceId]) -> Sequence[Resource]:
        """Return the resources that exist among ``resource_ids``, in the order given."""
        wanted = tuple(dict.fromkeys(resource_ids))
        if not wanted:
            return []
        if len(wanted) == 1:  # the commonest case shares ``get``'s cache entry
            try:
                return [self.get(wanted[0])]
            except NotFoundError:
                return []
        return self._db.cached_list(("resources", wanted), lambda: self._load_many(wanted))

    def _load_many(self, wanted: Sequence[ResourceId]) -> tuple[Resource, ...]:
        statement = sa.select(resources).where(_R.id.in_(wanted))
        rows = self._db.rows(statement, subject="resources")
        found = {row.id: self._decode(row) for row in rows}
        return tuple(found[i] for i in wanted if i in found)

    def _decode(self, row: sa.Row[Any]) -> Resource:
        return self._db.resources.decode(row, self._build)

    def _build(self, row: sa.Row[Any]) -> Resource:
        return resource_from_row(self._db.converter, row)

    def update(self, resource: Resource, *, expected_version: int) -> None:
        """Store ``resource`` if the stored version is ``expected_version``."""
        subject = f"resource {resource.id!r}"
        values = resource_values(self._db.converter, resource)
        del values["id"]
        statement = (
            resources.update()
            .where(_R.id == resource.id, _R.version == expected_version)
            .values(values)
        )
        if self._db.execute(statement, subject=subject).rowcount == 0:
            self.get(resource.id)  # NotFoundError when it is missing altogether
            raise version_error("resource", resource.id, expected_version)
        for table in (resource_tags, resource_features):
            self._db.execute(
                table.delete().where(table.c.resource_id == resource.id), subject=subject
            )
        self._write_sets(resource)

    def _write_sets(self, resource: Resource) -> None:
        subject = f"resource {resource.id!r}"
        tags = [{"resource_id": resource.id, "tag": tag} for tag in sorted(resource.tags)]
        features = [
            {"resource_id": resource.id, "feature": feature}
            for feature in sorted(resource.attributes.features)
        ]
        for table, rows in ((resource_tags, tags), (resource_features, features)):
            if rows:
                self._db.execute(table.insert(), rows, subject=subject)

    def find(self, query: ResourceQuery, page: PageRequest) -> Page[Resource]:
        """Return one page of the resources matching ``query``, by case-folded name then id."""
        return self._db.cached(("find resources", query, page), lambda: self._find(query, page))

    def _find(self, query: ResourceQuery, page: PageRequest) -> Page[Resource]:
        statement = sa.select(resources).where(*resource_filters(query))
        if page.cursor is not None:
            name_key, resource_id = decode_cursor(page.cursor, 2)
            after = sa.tuple_(sa.literal(name_key), sa.literal(resource_id))
            statement = statement.where(sa.tuple_(_R.name_key, _R.id) > after)
        statement = statement.order_by(_R.name_key, _R.id).limit(page.limit + 1)
        rows = self._db.rows(statement, subject="resources")
        items = [self._decode(row) for row in rows]
        last = items[page.limit - 1] if len(items) > page.limit else None
        key = None if last is None else resource_sort_key(last.name, last.id)
        return page_of(items, page.limit, key)

    def tag_counts(self) -> Mapping[str, int]:
        """Return how many resources, retired ones included, carry each tag."""
        return self._db.cached_dict(("tag counts",), self._tag_counts)

    def _tag_counts(self) -> dict[str, int]:
        statement = (
            sa.select(resource_tags.c.tag, sa.func.count().label("n"))
            .group_by(resource_tags.c.tag)
            .order_by(resource_tags.c.tag)
        )
        return {row.tag: row.n for row in self._db.rows(statement, subject="tags")}

    def replace_tag(self, old: str, new: str | None) -> int:
        """Rename tag ``old`` to ``new`` (or drop it) everywhere; return how many resources changed.

        Each changed resource gets its version bumped, so that edits based on the old tags are
        refused as stale.
        """
        subject = f"tag {old!r}"
        tagged = (
            sa.select(_R.id, _R.tags)
            .join(resource_tags, resource_tags.c.resource_id == _R.id)
            .where(resource_tags.c.tag == old)
        )
        rows = self._db.rows(tagged, subject=subject)
        if new == old:
            return len(rows)
        added = {new} if new else set()
        for row in rows:
            tags = json.dumps(sorted((set(json.loads(row.tags)) - {old}) | added))
            self._db.execute(
                resources.update().where(_R.id == row.id).values(tags=tags, version=_R.version + 1),
                subject=subject,
            )
        if new and rows:
            having_new = sa.select(resource_tags.c.resource_id).where(resource_tags.c.tag == new)
            self._db.execute(
                resource_tags.update()
                .where(resource_tags.c.tag == old, resource_tags.c.resource_id.not_in(having_new))
                .values(tag=new),
                subject=subject,
            )
        self._db.execute(resource_tags.delete().where(resource_tags.c.tag == old), subject=subject)
        return len(rows)


def _tree_order(group: Group) -> tuple[int, str, str]:
    return (len(group.path), group.name.casefold(), group.id)


class SqlGroupRepository:
    """The group tree; ``all`` and ``subtree`` list parents before children.

    Each group's ``path`` is mirrored into ``group_ancestors``, which answers "the groups
    below this one" (subtrees, and the group filter of resource searches) in SQL.
    """

    def __init__(self, db: Db) -> None:
        self._db = db

    def add(self, group: Group) -> None:
        """Insert ``group``; a taken id is ``ConflictError``."""
        subject = f"group {group.id!r}"
        self._db.execute(groups.insert(), group_values(self._db.converter, group), subject=subject)
        self._write_ancestors(group)

    def get(self, group_id: GroupId) -> Group:
        """Return the group, or raise ``NotFoundError``."""
        return self._db.cached(("group", group_id), lambda: self._load(group_id))

    def _load(self, group_id: GroupId) -> Group:
        subject = f"group {group_id!r}"
        row = self._db.first(_GROUP_BY_ID, {"id": group_id}, subject=subject)
        if row is None:
            raise NotFoundError(f"{subject} not found")
        return group_from_row(self._db.converter, row)

    def update(self, group: Group) -> None:
        """Store ``group``, or raise ``NotFoundError``."""
        subject = f"group {group.id!r}"
        values: dict[str, Any] = group_values(self._db.converter, group)
        del values["id"]
        statement = groups.update().where(_G.id == group.id).values(values)
        if self._db.execute(statement, subject=subject).rowcount == 0:
            raise NotFoundError(f"{subject} not found")
        self._db.execute(
            group_ancestors.delete().where(group_ancestors.c.group_id == group.id),
            subject=subject,
        )
        self._write_ancestors(group)

    def _write_ancestors(self, group: Group) -> None:
        rows = [{"group_id": group.id, "ancestor_id": ancestor} for ancestor in set(group.path)]
        if rows:
            self._db.execute(group_ancestors.insert(), rows, subject=f"group {group.id!r}")

    def delete(self, group_id: GroupId) -> None:
        """Remove the group, or raise ``NotFoundError``."""
        subject = f"group {group_id!r}"
        statement = groups.delete().where(_G.id == group_id)
        if self._db.execute(statement, subject=subject).rowcount == 0:
            raise NotFoundError(f"{subject} not found")

    def all(self) -> Sequence[Group]:
        """Return every group, parents before children."""
        return self._db.cached_list(
            ("groups",), lambda: self._groups(sa.select(groups), subject="groups")
        )

    def subtree(self, group_id: GroupId) -> Sequence[Group]:
        """Return the group and every group below it; nothing for an unknown group."""
        below = sa.select(group_ancestors.c.group_id).where(
            group_ancestors.c.ancestor_id == group_id
        )
        statement = sa.select(groups).where(sa.or_(_G.id == group_id, _G.id.in_(below)))
        return self._groups(statement, subject=f"subtree of group {group_id!r}")

    def _groups(self, statement: sa.Select[*tuple[Any, ...]], *, subject: str) -> list[Group]:
        rows = self._db.rows(statement, subject=subject)
        return sorted((group_from_row(self._db.converter, row) for row in rows), key=_tree_order)
