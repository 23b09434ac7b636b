"""Who is acting: every use case takes a ``Principal`` and checks it (DESIGN.md invariant 5).

A principal's rights are ``Permission``s: those of its built-in roles, plus those of its custom
roles (``granted``), narrowed to ``scopes`` when it acts through an API key or an OAuth token.
Services check permissions, never role names.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

import attrs

from reserver.core.ids import UserId


class Role(StrEnum):
    """Built-in roles: admins manage, users book for themselves, guests only look."""

    ADMIN = "admin"
    USER = "user"
    GUEST = "guest"


class Permission(StrEnum):
    """One right; API key and OAuth scopes are permission names too."""

    VIEW = "view"
    """See resources, groups, hours and availability, and one's own reservations."""
    BOOK = "book"
    """Book resources for oneself."""
    MANAGE_OWN = "manage_own"
    """Edit and cancel one's own reservations."""
    BOOK_FOR_OTHERS = "book_for_others"
    """Book on someone else's behalf."""
    MANAGE_RESERVATIONS = "manage_reservations"
    """See, edit and cancel anyone's reservations (cancel until they end)."""
    APPROVE = "approve"
    """Approve reservations on every resource; one's own bookings need no approval."""
    MANAGE_RESOURCES = "manage_resources"
    """Create, change and retire resources, groups and tags; see every resource."""
    MANAGE_SCHEDULES = "manage_schedules"
    """Set business hours and blackouts."""
    MANAGE_USERS = "manage_users"
    """List users, give roles, reset passwords, invite people."""
    MANAGE_ROLES = "manage_roles"
    """Define custom roles and per-resource grants."""
    MANAGE_INTEGRATIONS = "manage_integrations"
    """Register and delete OAuth clients."""


ALL_PERMISSIONS: frozenset[Permission] = frozenset(Permission)
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: ALL_PERMISSIONS,
    Role.USER: frozenset({Permission.VIEW, Permission.BOOK, Permission.MANAGE_OWN}),
    Role.GUEST: frozenset({Permission.VIEW}),
}


def _roles(value: Iterable[Role]) -> frozenset[Role]:
    return frozenset(Role(r) for r in value)


def _permissions(value: Iterable[Permission]) -> frozenset[Permission]:
    return frozenset(Permission(p) for p in value)


def _names(value: Iterable[str]) -> frozenset[str]:
    return frozenset(str(v) for v in value)


def _scopes(value: Iterable[Permission] | None) -> frozenset[Permission] | None:
    return None if value is None else _permissions(value)


@attrs.frozen
class Principal:
    """The acting party of a use case: a user id, its roles, and what it may do.

    Attributes:
        id: the user.
        roles: built-in roles.
        granted: permissions from custom roles.
        custom_roles: names of the custom roles (per-resource grants may name them).
        scopes: ``None`` for the user's full rights; an API key or OAuth token narrows them
            to these (the effective permissions are the intersection).
        session_id: the login session an access token belongs to (``logout`` revokes it).
    """

    id: UserId
    roles: frozenset[Role] = attrs.field(default=frozenset({Role.USER}), converter=_roles)
    granted: frozenset[Permission] = attrs.field(default=frozenset(), converter=_permissions)
    custom_roles: frozenset[str] = attrs.field(default=frozenset(), converter=_names)
    scopes: frozenset[Permission] | None = attrs.field(default=None, converter=_scopes)
    session_id: str | None = None
    permissions: frozenset[Permission] = attrs.field(init=False, eq=False, repr=False)

    @permissions.default
    def _effective(self) -> frozenset[Permission]:
        own = frozenset(self.granted).union(*(ROLE_PERMISSIONS[r] for r in self.roles))
        return own if self.scopes is None else own & self.scopes

    @classmethod
    def admin(cls, id: str = "admin") -> Principal:
        """Return an administrator principal (composition roots, scripts, tests)."""
        return cls(UserId(id), frozenset({Role.ADMIN}))

    @classmethod
    def user(cls, id: str) -> Principal:
        """Return a plain user principal."""
        return cls(UserId(id), frozenset({Role.USER}))

    @classmethod
    def guest(cls, id: str = "guest") -> Principal:
        """Return a look-only guest principal."""
        return cls(UserId(id), frozenset({Role.GUEST}))

    def has(self, permission: Permission) -> bool:
        """Whether this principal may do what ``permission`` allows."""
        return permission in self.permissions

    @property
    def is_admin(self) -> bool:
        """Whether this principal holds every permission (an unrestricted administrator)."""
        return self.permissions == ALL_PERMISSIONS

    @property
    def may_book(self) -> bool:
        """Whether this principal may book for itself."""
        return Permission.BOOK in self.permissions

    @property
    def subjects(self) -> frozenset[str]:
        """The grant subjects this principal answers to: itself and each of its roles."""
        return frozenset(
            {f"user:{self.id}"}
            | {f"role:{r.value}" for r in self.roles}
            | {f"role:{name}" for name in self.custom_roles}
        )

    def owns_or_admin(self, holder: UserId, booked_by: UserId | None = None) -> bool:
        """Whether this principal may see a reservation held by ``holder``."""
        return Permission.MANAGE_RESERVATIONS in self.permissions or self.id in (
            holder,
            booked_by,
        )
