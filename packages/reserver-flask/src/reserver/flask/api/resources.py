"""Resources and their tags: ``/api/v1/resources``."""

from __future__ import annotations

from reserver.core.commands import ResourceDraft, ResourcePatch
from reserver.core.ids import ResourceId
from reserver.core.models import Resource
from reserver.core.principals import Principal
from reserver.core.queries import Page, PageRequest
from reserver.flask.api.inputs import resource_query
from reserver.flask.api.messages import (
    ResourceListQuery,
    RetireQuery,
    TagChange,
    TagCount,
    TagRename,
)
from reserver.flask.api.routing import Api
from reserver.flask.services import core

api = Api("resources", "resources")


@api.operation("GET", "/resources")
def list_resources(principal: Principal, query: ResourceListQuery) -> Page[Resource]:
    """List resources, sorted by name.

    Filters combine: every tag, every feature, any of the statuses, any of the groups (with
    their subtrees); ``q`` searches names and descriptions.
    """
    return core().resources.list(
        principal,
        resource_query(
            query,
            statuses=frozenset(query.status) or None,
            include_retired=query.include_retired,
        ),
        PageRequest(query.limit, query.cursor),
    )


@api.operation(
    "POST", "/resources", status=201, etag=True, idempotent=True, location="/api/v1/resources/{id}"
)
def create_resource(principal: Principal, body: ResourceDraft) -> Resource:
    """Create a resource (administrators)."""
    return core().resources.create(principal, body)


@api.operation("GET", "/resources/<resource_id>", etag=True)
def get_resource(principal: Principal, resource_id: str) -> Resource:
    """Read one resource; its ``ETag`` is what ``If-Match`` sends back to change it."""
    return core().resources.get(principal, ResourceId(resource_id))


@api.operation("PATCH", "/resources/<resource_id>", etag=True)
def update_resource(
    principal: Principal, resource_id: str, version: int, body: ResourcePatch
) -> Resource:
    """Change a resource (administrators); fields left out keep their value."""
    return core().resources.update(
        principal, ResourceId(resource_id), body, expected_version=version
    )


@api.operation("DELETE", "/resources/<resource_id>", etag=True)
def retire_resource(principal: Principal, resource_id: str, query: RetireQuery) -> Resource:
    """Retire a resource (administrators): no more bookings, upcoming ones are cancelled.

    Its history stays; retiring twice changes nothing.
    """
    return core().resources.retire(principal, ResourceId(resource_id), query.reason)


@api.operation("GET", "/resources/tags")
def list_tags(principal: Principal) -> list[TagCount]:
    """Every tag in use, with how many resources carry it."""
    counts = core().resources.tags(principal)
    return [TagCount(tag, count) for tag, count in sorted(counts.items())]


@api.operation("PUT", "/resources/tags/rename")
def rename_tag(principal: Principal, body: TagRename) -> TagChange:
    """Rename a tag on every resource (administrators)."""
    return TagChange(core().resources.rename_tag(principal, body.old, body.new))


@api.operation("DELETE", "/resources/tags/<tag>")
def delete_tag(principal: Principal, tag: str) -> TagChange:
    """Remove a tag from every resource (administrators)."""
    return TagChange(core().resources.delete_tag(principal, tag))
