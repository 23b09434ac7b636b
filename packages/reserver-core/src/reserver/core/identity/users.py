"""User administration: list, add, give roles, reset passwords, deactivate, invite."""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from reserver.core.errors import PermissionDeniedError, ValidationError
from reserver.core.events import InviteCreated, RolesChanged, SessionRevoked
from reserver.core.identity.access import no_escalation
from reserver.core.identity.accounts import AccountService
from reserver.core.identity.commands import UserDraft
from reserver.core.identity.kit import IdentityKit, require
from reserver.core.identity.models import Invite, User, UserProfile, UserQuery
from reserver.core.identity.passwords import normalize
from reserver.core.identity.tokens import digest, new_secret
from reserver.core.ids import UserId
from reserver.core.ports import Transaction
from reserver.core.principals import Permission, Principal, Role
from reserver.core.queries import Page, PageRequest

INVITE_PREFIX = "ri_"


class UserService:
    """User administration; reach it as ``reserver.users``. Needs ``manage_users``.

    Nobody hands out, or takes over, more rights than they hold: roles given, and accounts
    whose password is reset or that are deactivated, must stay within the actor's own rights.
    """

    def __init__(self, kit: IdentityKit, accounts: AccountService) -> None:
        self._kit = kit
        self._ctx = kit.ctx
        self._accounts = accounts

    def list(
        self,
        principal: Principal,
        query: UserQuery | None = None,
        page: PageRequest = PageRequest(),
    ) -> Page[UserProfile]:
        """Users by username, filtered by ``query``."""
        require(principal, Permission.MANAGE_USERS, "list users")
        with self._ctx.storage.transaction(readonly=True) as tx:
            found = tx.identity.users.find(query or UserQuery(), page)
            return Page(tuple(UserProfile.of(u) for u in found.items), found.next_cursor)

    def get(self, principal: Principal, user_id: UserId) -> UserProfile:
        """One user; users may always see themselves."""
        if principal.id != user_id:
            require(principal, Permission.MANAGE_USERS, "see other users")
        with self._ctx.storage.transaction(readonly=True) as tx:
            return UserProfile.of(tx.identity.users.get(user_id))

    def create(
        self,
        principal: Principal,
        draft: UserDraft,
        password: str,
        *,
        roles: Iterable[str] = (Role.USER,),
    ) -> UserProfile:
        """Add an account (the only way in when registration is admin-only)."""
        require(principal, Permission.MANAGE_USERS, "add users")
        checked = _roles(roles)
        self._within(principal, _rights(checked, ()), "give")
        return self._accounts.create_user(draft, password, checked, principal.id)

    def set_roles(
        self,
        principal: Principal,
        user_id: UserId,
        roles: Iterable[str],
        custom_roles: Iterable[str] = (),
    ) -> UserProfile:
        """Replace a user's built-in and custom roles; applies at their next request."""
        require(principal, Permission.MANAGE_USERS, "change roles")
        wanted, custom = _roles(roles), frozenset(custom_roles)
        with self._ctx.storage.transaction() as tx:
            current = tx.identity.users.get(user_id)
            known = {r.name: r.permissions for r in tx.identity.roles.all()}
            unknown = sorted(custom - known.keys())
            if unknown:
                raise ValidationError.for_field("custom_roles", f"unknown: {', '.join(unknown)}")
            self._within(principal, self._rights_of(tx, current), "take away")
            self._within(principal, _rights(wanted, [known[n] for n in custom]), "give")
            if principal.id == user_id and Role.ADMIN in current.roles - wanted:
                raise PermissionDeniedError("administrators may not demote themselves")
            changed = attrs.evolve(
                current, roles=wanted, custom_roles=custom, version=current.version + 1
            )
            tx.identity.users.update(changed, expected_version=current.version)
            self._ctx.emit(
                tx,
                RolesChanged,
                principal.id,
                user_id=user_id,
                roles=tuple(sorted(r.value for r in wanted)),
                custom_roles=tuple(sorted(custom)),
            )
            return UserProfile.of(changed)

    def set_active(self, principal: Principal, user_id: UserId, active: bool) -> UserProfile:
        """Deactivate (every session ends, keys stop working) or reactivate an account."""
        require(principal, Permission.MANAGE_USERS, "deactivate users")
        if principal.id == user_id and not active:
            raise PermissionDeniedError("you may not deactivate yourself")
        with self._ctx.storage.transaction() as tx:
            current = tx.identity.users.get(user_id)
            self._within(principal, self._rights_of(tx, current), "deactivate")
            changed = attrs.evolve(current, active=active, version=current.version + 1)
            tx.identity.users.update(changed, expected_version=current.version)
            if not active:
                count = tx.identity.sessions.revoke_user(user_id, self._ctx.now())
                self._ctx.emit(
                    tx,
                    SessionRevoked,
                    principal.id,
                    user_id=user_id,
                    reason="deactivated",
                    count=count,
                )
            return UserProfile.of(changed)

    def reset_password(self, principal: Principal, user_id: UserId, new: str) -> None:
        """Set a user's password; it obeys the policy, and every session of theirs ends."""
        require(principal, Permission.MANAGE_USERS, "reset passwords")
        with self._ctx.storage.transaction(readonly=True) as tx:
            user = tx.identity.users.get(user_id)
            self._within(principal, self._rights_of(tx, user), "reset the password of")
        secret = normalize(new) if isinstance(new, str) else ""
        self._kit.policy.check(secret, username=user.username, field="new")
        self._accounts.store_password(user_id, self._kit.hasher.hash(secret), principal.id)

    def invite(self, principal: Principal, *, email: str | None = None) -> str:
        """Create a single-use registration invite; returns its code, shown once."""
        require(principal, Permission.MANAGE_USERS, "invite users")
        code = INVITE_PREFIX + new_secret()
        now = self._ctx.now()
        with self._ctx.storage.transaction() as tx:
            tx.identity.invites.add(
                Invite(digest(code), principal.id, now, now + self._kit.settings.invite_ttl, email)
            )
            self._ctx.emit(tx, InviteCreated, principal.id, email=email)
        return code

    def _rights_of(self, tx: Transaction, user: User) -> frozenset[Permission]:
        return self._kit.principal(tx, user).permissions

    @staticmethod
    def _within(principal: Principal, rights: frozenset[Permission], verb: str) -> None:
        no_escalation(principal, rights, f"{verb} an account with")


def _roles(values: Iterable[str]) -> frozenset[Role]:
    try:
        return frozenset(Role(v) for v in values)
    except ValueError as exc:
        raise ValidationError.for_field("roles", "must be admin, user or guest") from exc


def _rights(
    roles: frozenset[Role], custom: Iterable[frozenset[Permission]]
) -> frozenset[Permission]:
    granted: frozenset[Permission] = frozenset().union(*custom)
    return Principal(UserId("-"), roles, granted=granted).permissions
