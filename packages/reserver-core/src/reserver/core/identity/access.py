"""Custom roles and per-resource grants, and the checks every resource use case runs.

Grants restrict, they never widen a role: seeing still needs ``view``, booking ``book``.
A resource with any ``see`` grant is hidden (``NotFoundError``) from everyone but its grantees
of any action and resource managers; a resource with any ``book`` grant refuses bookings
(``PermissionDeniedError``) from everyone but its ``book`` grantees and resource managers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from reserver.core.errors import (
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from reserver.core.events import CustomRoleChanged, GrantChanged
from reserver.core.identity.kit import IdentityKit, require
from reserver.core.identity.models import Action, CustomRole, Grant
from reserver.core.ids import ResourceId, UserId
from reserver.core.ports import Transaction
from reserver.core.principals import Permission, Principal, Role

ROLE_NAME = re.compile(r"[a-z][a-z0-9_-]{1,39}")


def can_see(tx: Transaction, principal: Principal, resource_id: ResourceId) -> bool:
    """Whether ``principal`` may see the resource at all."""
    if principal.has(Permission.MANAGE_RESOURCES):
        return True
    if not principal.has(Permission.VIEW):
        return False
    return _sees(principal, tx.identity.grants.for_resource(resource_id))


def _sees(principal: Principal, grants: Sequence[Grant]) -> bool:
    """Whether the grants of a resource let a ``view`` holder (not a manager) see it."""
    if not any(g.action is Action.SEE for g in grants):
        return True
    subjects = principal.subjects
    return any(g.subject in subjects for g in grants)


def require_visible(tx: Transaction, principal: Principal, resource_id: ResourceId) -> None:
    """Hide the resource (``NotFoundError``) from a principal who may not see it."""
    if not can_see(tx, principal, resource_id):
        raise NotFoundError(f"resource {resource_id!r} does not exist")


def require_bookable(tx: Transaction, principal: Principal, resource_id: ResourceId) -> None:
    """Refuse a booking: ``NotFoundError`` if hidden, ``PermissionDeniedError`` if not granted."""
    if principal.has(Permission.MANAGE_RESOURCES):
        return
    if not principal.has(Permission.VIEW):
        raise NotFoundError(f"resource {resource_id!r} does not exist")
    # One lookup serves both checks (as require_visible, then the book grants): bookings are hot.
    grants = tx.identity.grants.for_resource(resource_id)
    if not _sees(principal, grants):
        raise NotFoundError(f"resource {resource_id!r} does not exist")
    book = [g for g in grants if g.action is Action.BOOK]
    if book and not any(g.subject in principal.subjects for g in book):
        raise PermissionDeniedError(f"resource {resource_id!r} takes bookings by grant only")


def may_approve(tx: Transaction, principal: Principal, resource_id: ResourceId) -> bool:
    """Whether ``principal`` may approve reservations of the resource."""
    if principal.has(Permission.APPROVE):
        return True
    subjects = principal.subjects
    return any(
        g.action is Action.APPROVE and g.subject in subjects
        for g in tx.identity.grants.for_resource(resource_id)
    )


def hidden_resources(tx: Transaction, principal: Principal) -> frozenset[ResourceId]:
    """The resources ``principal`` may not see (empty for most people: one cheap query)."""
    if principal.has(Permission.MANAGE_RESOURCES):
        return frozenset()
    restricted = tx.identity.grants.restricted(Action.SEE)
    if not restricted:
        return frozenset()
    if not principal.has(Permission.VIEW):
        return restricted  # they see nothing; callers also check VIEW
    mine = {g.resource_id for g in tx.identity.grants.for_subjects(principal.subjects)}
    return restricted - mine


def _role_name(name: str) -> str:
    if not isinstance(name, str) or not ROLE_NAME.fullmatch(name):
        raise ValidationError.for_field(
            "name", "must be 2 to 40 lower-case letters, digits, '-' or '_', starting with a letter"
        )
    if name in {r.value for r in Role}:
        raise ValidationError.for_field("name", f"{name!r} is a built-in role")
    return name


def _permissions(values: Iterable[str]) -> frozenset[Permission]:
    try:
        return frozenset(Permission(v) for v in values)
    except ValueError as exc:
        known = ", ".join(p.value for p in Permission)
        raise ValidationError.for_field(
            "permissions", f"unknown permission; known: {known}"
        ) from exc


def no_escalation(principal: Principal, permissions: Iterable[Permission], what: str) -> None:
    """Nobody hands out a right they do not hold themselves."""
    beyond = sorted(p.value for p in set(permissions) - principal.permissions)
    if beyond:
        raise PermissionDeniedError(f"you may not {what} rights you lack: {', '.join(beyond)}")


class AccessService:
    """Custom roles and per-resource grants; reach them as ``reserver.access``."""

    def __init__(self, kit: IdentityKit) -> None:
        self._kit = kit
        self._ctx = kit.ctx

    def create_role(
        self,
        principal: Principal,
        name: str,
        permissions: Iterable[str],
        description: str = "",
    ) -> CustomRole:
        """Define a custom role: a named set of permissions (never more than your own)."""
        require(principal, Permission.MANAGE_ROLES, "define roles")
        role = CustomRole(_role_name(name), _permissions(permissions), self._ctx.now(), description)
        if len(description) > 500:
            raise ValidationError.for_field("description", "must be at most 500 characters")
        no_escalation(principal, role.permissions, "give roles")
        with self._ctx.storage.transaction() as tx:
            tx.identity.roles.add(role)
            self._emit(tx, principal, role)
        return role

    def update_role(
        self, principal: Principal, name: str, permissions: Iterable[str], description: str = ""
    ) -> CustomRole:
        """Replace the permissions of a custom role; it applies at each holder's next request."""
        require(principal, Permission.MANAGE_ROLES, "change roles")
        wanted = _permissions(permissions)
        no_escalation(principal, wanted, "give roles")
        with self._ctx.storage.transaction() as tx:
            current = tx.identity.roles.get(name)
            no_escalation(principal, current.permissions, "change roles holding")
            role = CustomRole(name, wanted, current.created_at, description)
            tx.identity.roles.update(role)
            self._emit(tx, principal, role)
        return role

    def list_roles(self, principal: Principal) -> Sequence[CustomRole]:
        """Every custom role, by name."""
        if not (principal.has(Permission.MANAGE_ROLES) or principal.has(Permission.MANAGE_USERS)):
            raise PermissionDeniedError("you may not list roles")
        with self._ctx.storage.transaction(readonly=True) as tx:
            return tx.identity.roles.all()

    def delete_role(self, principal: Principal, name: str) -> None:
        """Delete a custom role and the grants that name it; holders simply lose it."""
        require(principal, Permission.MANAGE_ROLES, "delete roles")
        with self._ctx.storage.transaction() as tx:
            role = tx.identity.roles.get(name)
            no_escalation(principal, role.permissions, "delete roles holding")
            for grant in tx.identity.grants.for_subjects([Grant.role_subject(name)]):
                tx.identity.grants.delete(grant)
            tx.identity.roles.delete(name)
            self._emit(tx, principal, role, deleted=True)

    def _emit(
        self, tx: Transaction, principal: Principal, role: CustomRole, *, deleted: bool = False
    ) -> None:
        self._ctx.emit(
            tx,
            CustomRoleChanged,
            principal.id,
            name=role.name,
            permissions=tuple(sorted(p.value for p in role.permissions)),
            deleted=deleted,
        )

    def grant(
        self, principal: Principal, resource_id: ResourceId, subject: str, action: str
    ) -> Grant:
        """Let ``subject`` (``user:<id>`` or ``role:<name>``) see, book or approve a resource.

        Raises:
            ValidationError: the subject or action is malformed, or names nobody.
            NotFoundError: the resource does not exist.
            ConflictError: the same grant exists.
        """
        require(principal, Permission.MANAGE_ROLES, "grant access to resources")
        checked = _action(action)
        with self._ctx.storage.transaction() as tx:
            tx.resources.get(resource_id)
            self._check_subject(tx, subject)
            grant = Grant(resource_id, subject, checked, self._ctx.now())
            tx.identity.grants.add(grant)
            self._ctx.emit(
                tx,
                GrantChanged,
                principal.id,
                resource_id=resource_id,
                subject=subject,
                action=checked.value,
            )
            return grant

    def revoke_grant(
        self, principal: Principal, resource_id: ResourceId, subject: str, action: str
    ) -> None:
        """Take a grant back; ``NotFoundError`` if there is no such grant."""
        require(principal, Permission.MANAGE_ROLES, "revoke access to resources")
        checked = _action(action)
        with self._ctx.storage.transaction() as tx:
            tx.identity.grants.delete(Grant(resource_id, subject, checked, self._ctx.now()))
            self._ctx.emit(
                tx,
                GrantChanged,
                principal.id,
                resource_id=resource_id,
                subject=subject,
                action=checked.value,
                revoked=True,
            )

    def grants(self, principal: Principal, resource_id: ResourceId) -> Sequence[Grant]:
        """The grants of one resource."""
        require(principal, Permission.MANAGE_ROLES, "list grants")
        with self._ctx.storage.transaction(readonly=True) as tx:
            tx.resources.get(resource_id)
            return tx.identity.grants.for_resource(resource_id)

    @staticmethod
    def _check_subject(tx: Transaction, subject: str) -> None:
        kind, _, name = subject.partition(":") if isinstance(subject, str) else ("", "", "")
        if kind == "user" and name:
            try:
                tx.identity.users.get(UserId(name))
            except NotFoundError as exc:
                raise ValidationError.for_field("subject", f"no user {name!r}") from exc
            return
        if kind == "role" and name:
            if name in {r.value for r in Role}:
                return
            try:
                tx.identity.roles.get(name)
            except NotFoundError as exc:
                raise ValidationError.for_field("subject", f"no role {name!r}") from exc
            return
        raise ValidationError.for_field("subject", "must be 'user:<id>' or 'role:<name>'")


def _action(value: str) -> Action:
    try:
        return Action(value)
    except ValueError as exc:
        raise ValidationError.for_field("action", "must be 'see', 'book' or 'approve'") from exc
