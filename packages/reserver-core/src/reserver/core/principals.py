"""Who is acting: every use case takes a ``Principal`` and checks it (DESIGN.md invariant 5)."""

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


def _roles(value: Iterable[Role]) -> frozenset[Role]:
    return frozenset(Role(r) for r in value)


@attrs.frozen
class Principal:
    """The acting party of a use case: a user id and its roles."""

    id: UserId
    roles: frozenset[Role] = attrs.field(default=frozenset({Role.USER}), converter=_roles)

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

    @property
    def is_admin(self) -> bool:
        """Admins manage resources, policies, hours and blackouts, and may cancel anything."""
        return Role.ADMIN in self.roles

    @property
    def may_book(self) -> bool:
        """Users and admins book; guests only look."""
        return bool(self.roles & {Role.ADMIN, Role.USER})

    def owns_or_admin(self, holder: UserId, booked_by: UserId | None = None) -> bool:
        """Whether this principal may change a reservation held by ``holder``."""
        return self.is_admin or self.id in (holder, booked_by)
