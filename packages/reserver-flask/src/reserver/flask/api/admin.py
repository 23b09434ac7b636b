"""Administration: users, custom roles, per-resource grants and invites."""

from __future__ import annotations

from reserver.core.identity.commands import UserDraft
from reserver.core.identity.models import CustomRole, Grant, UserProfile, UserQuery
from reserver.core.ids import ResourceId, UserId
from reserver.core.principals import Principal
from reserver.core.queries import Page, PageRequest
from reserver.flask.api.identity_messages import (
    ActiveChange,
    GrantRequest,
    InviteCode,
    InviteRequest,
    NewUser,
    PasswordReset,
    RoleChange,
    RoleDefinition,
    RolesChange,
    UserListQuery,
)
from reserver.flask.api.inputs import fields_named
from reserver.flask.api.routing import Api
from reserver.flask.services import core

api = Api("admin", "users")
roles_api = Api("roles", "roles")


@api.operation("GET", "/users")
def list_users(principal: Principal, query: UserListQuery) -> Page[UserProfile]:
    """Users by username (user managers); ``q`` matches username, name or e-mail."""
    return core().users.list(
        principal,
        UserQuery(query.q, query.role, query.custom_role, query.active),
        PageRequest(query.limit, query.cursor),
    )


@api.operation("POST", "/users", status=201, idempotent=True, errors=(409,))
def create_user(principal: Principal, body: NewUser) -> UserProfile:
    """Add an account with its roles (user managers; never more rights than their own)."""
    draft = UserDraft(body.username, body.email, body.display_name, body.timezone, body.language)
    return core().users.create(principal, draft, body.password, roles=body.roles)


@api.operation("POST", "/users/invites", status=201)
def invite(principal: Principal, body: InviteRequest) -> InviteCode:
    """Create a single-use registration invite; the code is shown once."""
    return InviteCode(core().users.invite(principal, email=body.email))


@api.operation("GET", "/users/<user_id>")
def get_user(principal: Principal, user_id: str) -> UserProfile:
    """One user (user managers, or the user themself)."""
    return core().users.get(principal, UserId(user_id))


@api.operation("PUT", "/users/<user_id>/roles", errors=(409,))
def set_roles(principal: Principal, user_id: str, body: RolesChange) -> UserProfile:
    """Replace a user's built-in and custom roles."""
    return core().users.set_roles(principal, UserId(user_id), body.roles, body.custom_roles)


@api.operation("PUT", "/users/<user_id>/active", errors=(409,))
def set_active(principal: Principal, user_id: str, body: ActiveChange) -> UserProfile:
    """Deactivate an account (its sessions end, its keys stop) or reactivate it."""
    return core().users.set_active(principal, UserId(user_id), body.active)


@api.operation("POST", "/users/<user_id>/password")
def reset_password(principal: Principal, user_id: str, body: PasswordReset) -> None:
    """Set a user's password (the policy applies); every session of theirs ends."""
    with fields_named({"new": "new_password"}):
        core().users.reset_password(principal, UserId(user_id), body.new_password)


@roles_api.operation("GET", "/roles")
def list_roles(principal: Principal) -> list[CustomRole]:
    """Every custom role, by name."""
    return list(core().access.list_roles(principal))


@roles_api.operation("POST", "/roles", status=201, errors=(409,))
def create_role(principal: Principal, body: RoleDefinition) -> CustomRole:
    """Define a custom role (never with more rights than one's own)."""
    return core().access.create_role(principal, body.name, body.permissions, body.description)


@roles_api.operation("PUT", "/roles/<name>")
def update_role(principal: Principal, name: str, body: RoleChange) -> CustomRole:
    """Replace a custom role's permissions; holders get them at their next request."""
    return core().access.update_role(principal, name, body.permissions, body.description)


@roles_api.operation("DELETE", "/roles/<name>")
def delete_role(principal: Principal, name: str) -> None:
    """Delete a custom role and the grants that name it."""
    core().access.delete_role(principal, name)


@roles_api.operation("GET", "/resources/<resource_id>/grants")
def list_grants(principal: Principal, resource_id: str) -> list[Grant]:
    """Who may see, book or approve one resource."""
    return list(core().access.grants(principal, ResourceId(resource_id)))


@roles_api.operation("POST", "/resources/<resource_id>/grants", status=201, errors=(409,))
def add_grant(principal: Principal, resource_id: str, body: GrantRequest) -> Grant:
    """Let a user or a role see, book or approve a resource."""
    return core().access.grant(principal, ResourceId(resource_id), body.subject, body.action)


@roles_api.operation("POST", "/resources/<resource_id>/grants/revoke")
def revoke_grant(principal: Principal, resource_id: str, body: GrantRequest) -> None:
    """Take a grant back."""
    core().access.revoke_grant(principal, ResourceId(resource_id), body.subject, body.action)
