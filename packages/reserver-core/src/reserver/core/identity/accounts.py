"""First-run setup, registration, and what users do to their own account."""

from __future__ import annotations

import attrs

from reserver.core.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    TooManyAttemptsError,
    ValidationError,
)
from reserver.core.events import (
    PasswordChanged,
    RolesChanged,
    SessionRevoked,
    SetupCompleted,
    SetupReopened,
    UserRegistered,
    UserUpdated,
)
from reserver.core.identity.commands import SetupStatus, UserDraft, UserPatch
from reserver.core.identity.kit import (
    IdentityKit,
    display_name_of,
    email_of,
    language_of,
    preferences_of,
    require_full_session,
    timezone_of,
)
from reserver.core.identity.kit import checked_draft as check_draft
from reserver.core.identity.models import Registration, User, UserProfile
from reserver.core.identity.passwords import normalize
from reserver.core.identity.tokens import digest, same
from reserver.core.ids import UserId, new_id
from reserver.core.ports import Transaction
from reserver.core.principals import Principal, Role

SETUP_COMPLETE = "setup_complete"
SETUP_REOPENED = "setup_reopened"
SETUP_LOCK = "identity.setup"
SETUP_ACCOUNT = "#setup"


class AccountService:
    """Setup, registration and self-service; the facade exposes them on ``r.identity``."""

    def __init__(self, kit: IdentityKit) -> None:
        self._kit = kit
        self._ctx = kit.ctx

    # -- first-run setup ---------------------------------------------------------------------

    def setup_status(self) -> SetupStatus:
        """Whether setup has run, whether it was reopened, and how many users exist."""
        with self._ctx.storage.transaction(readonly=True) as tx:
            settings = tx.identity.settings
            return SetupStatus(
                setup_complete=settings.get(SETUP_COMPLETE) == "true",
                setup_reopened=settings.get(SETUP_REOPENED) == "true",
                user_count=tx.identity.users.count(),
            )

    def setup(
        self, draft: UserDraft, password: str, *, reopen_token: str | None = None
    ) -> UserProfile:
        """Create the first administrator, once; after ``reopen_setup``, once more.

        An existing username is promoted only with that user's own password.

        Raises:
            ConflictError: setup is complete (and not reopened).
            AuthenticationError: setup was reopened and ``reopen_token`` is wrong, or the
                password of an existing user is wrong.
            ValidationError: the draft or the new password breaks the rules.
        """
        draft = check_draft(draft)
        secret = normalize(password) if isinstance(password, str) else ""
        with self._ctx.storage.transaction(readonly=True) as tx:
            existing = _find(tx, draft.username)
        if existing is None:
            self._kit.policy.check(secret, username=draft.username)
            hashed = self._kit.hasher.hash(secret)
        elif not self._kit.hasher.verify(secret, existing.password_hash):
            raise AuthenticationError("wrong password for the existing user")
        with self._ctx.storage.transaction() as tx:
            tx.lock(SETUP_LOCK)
            settings = tx.identity.settings
            if settings.get(SETUP_COMPLETE) == "true":
                raise ConflictError("setup is already complete")
            if settings.get(SETUP_REOPENED) == "true" and not self._token_ok(reopen_token):
                raise AuthenticationError("setup was reopened: give the reopen token")
            if existing is None:
                user = self._new_user(draft, hashed, frozenset({Role.ADMIN}))
                tx.identity.users.add(user)
                self._ctx.emit(
                    tx,
                    UserRegistered,
                    user.id,
                    user_id=user.id,
                    username=user.username,
                    via="setup",
                )
            else:
                user = self._promote(tx, existing.id)
            settings.put(SETUP_COMPLETE, "true")
            settings.put(SETUP_REOPENED, "false")
            self._ctx.emit(tx, SetupCompleted, user.id, user_id=user.id, username=user.username)
            return UserProfile.of(user)

    def _promote(self, tx: Transaction, user_id: UserId) -> User:
        current = tx.identity.users.get(user_id)
        roles = current.roles | {Role.ADMIN}
        promoted = attrs.evolve(current, roles=roles, active=True, version=current.version + 1)
        tx.identity.users.update(promoted, expected_version=current.version)
        self._ctx.emit(
            tx,
            RolesChanged,
            user_id,
            user_id=user_id,
            roles=tuple(sorted(r.value for r in roles)),
            custom_roles=tuple(sorted(current.custom_roles)),
        )
        return promoted

    def reopen_setup(self, token: str, *, client: str | None = None) -> None:
        """Let setup run once more, given the configured reopen token (compared in constant time).

        Raises:
            PermissionDeniedError: no reopen token is configured.
            AuthenticationError: the token is wrong (failures are throttled like log-ins).
            TooManyAttemptsError: too many wrong tokens lately.
        """
        if self._kit.settings.setup_reopen_token is None:
            raise PermissionDeniedError("setup cannot be reopened: no reopen token is configured")
        throttle, now = self._kit.throttle, self._ctx.now()
        with self._ctx.storage.transaction() as tx:
            wait = throttle.wait(tx, SETUP_ACCOUNT, client, now)
            ok = wait.total_seconds() <= 0 and self._token_ok(token)
            if ok:
                tx.lock(SETUP_LOCK)
                tx.identity.settings.put(SETUP_COMPLETE, "false")
                tx.identity.settings.put(SETUP_REOPENED, "true")
                self._ctx.emit(tx, SetupReopened, UserId("anonymous"), client=client)
            elif wait.total_seconds() <= 0:
                throttle.failed(tx, SETUP_ACCOUNT, client, now)
        if wait.total_seconds() > 0:
            raise TooManyAttemptsError("too many wrong reopen tokens", retry_after=wait)
        if not ok:
            raise AuthenticationError("wrong reopen token")

    def _token_ok(self, token: str | None) -> bool:
        configured = self._kit.settings.setup_reopen_token
        if configured is None or not isinstance(token, str):
            return False
        # Digests first: equal lengths, so compare_digest leaks nothing, not even the length.
        return same(digest(token), digest(configured))

    # -- registration ------------------------------------------------------------------------

    def register(
        self, draft: UserDraft, password: str, *, invite_code: str | None = None
    ) -> UserProfile:
        """Create an account as the registration setting allows (open, invite or admin).

        Raises:
            PermissionDeniedError: registration is admin-only, or the invite is missing,
                used, expired, or for another e-mail.
            ValidationError: the draft or password breaks the rules.
            ConflictError: the username or e-mail is taken.
        """
        mode = Registration(self._kit.settings.registration)
        if mode is Registration.ADMIN:
            raise PermissionDeniedError("registration is closed; an administrator adds accounts")
        if mode is Registration.INVITE and not invite_code:
            raise PermissionDeniedError("registration needs an invite code")
        draft = check_draft(draft)
        secret = normalize(password) if isinstance(password, str) else ""
        self._kit.policy.check(secret, username=draft.username)
        hashed = self._kit.hasher.hash(secret)
        with self._ctx.storage.transaction() as tx:
            if mode is Registration.INVITE:
                self._use_invite(tx, str(invite_code), draft.email)
            user = self._new_user(draft, hashed, frozenset({Role.USER}))
            tx.identity.users.add(user)
            self._ctx.emit(
                tx, UserRegistered, user.id, user_id=user.id, username=user.username, via=mode.value
            )
            return UserProfile.of(user)

    def _use_invite(self, tx: Transaction, code: str, email: str | None) -> None:
        now = self._ctx.now()
        try:
            invite = tx.identity.invites.take(digest(code), now)
        except NotFoundError as exc:
            raise PermissionDeniedError("the invite code is wrong or used") from exc
        if invite.expires_at <= now:
            raise PermissionDeniedError("the invite has expired")
        if invite.email is not None and (email or "").casefold() != invite.email.casefold():
            raise PermissionDeniedError("the invite is for another e-mail address")

    def _new_user(self, draft: UserDraft, hashed: str, roles: frozenset[Role]) -> User:
        now = self._ctx.now()
        return User(
            id=UserId(new_id()),
            username=draft.username,
            display_name=draft.display_name,
            password_hash=hashed,
            created_at=now,
            email=draft.email,
            roles=roles,
            timezone=draft.timezone,
            language=draft.language,
            preferences=draft.preferences,
            password_changed_at=now,
        )

    def create_user(
        self, draft: UserDraft, password: str, roles: frozenset[Role], actor: UserId
    ) -> UserProfile:
        """Store a new account for an administrator (who has been checked by the caller)."""
        draft = check_draft(draft)
        secret = normalize(password) if isinstance(password, str) else ""
        self._kit.policy.check(secret, username=draft.username)
        hashed = self._kit.hasher.hash(secret)
        with self._ctx.storage.transaction() as tx:
            user = self._new_user(draft, hashed, roles)
            tx.identity.users.add(user)
            self._ctx.emit(
                tx, UserRegistered, actor, user_id=user.id, username=user.username, via="admin"
            )
            return UserProfile.of(user)

    # -- self-service ------------------------------------------------------------------------

    def me(self, principal: Principal) -> UserProfile:
        """The acting user's own profile."""
        with self._ctx.storage.transaction(readonly=True) as tx:
            return UserProfile.of(tx.identity.users.get(principal.id))

    def update_me(self, principal: Principal, patch: UserPatch) -> UserProfile:
        """Change one's own e-mail, name, time zone, language or preferences."""
        require_full_session(principal, "change the profile")
        changes = patch.changes()
        checks = {
            "email": email_of,
            "timezone": timezone_of,
            "language": language_of,
            "preferences": preferences_of,
        }
        errors: list[ValidationError] = []
        for name, check in checks.items():
            if name in changes:
                try:
                    changes[name] = check(changes[name])  # type: ignore[operator]
                except ValidationError as exc:
                    errors.append(exc)
        if errors:
            raise ValidationError.merge(errors)
        with self._ctx.storage.transaction() as tx:
            current = tx.identity.users.get(principal.id)
            if "display_name" in changes:
                changes["display_name"] = display_name_of(
                    str(changes["display_name"]), current.username
                )
            if not changes:
                return UserProfile.of(current)
            updated = attrs.evolve(current, version=current.version + 1, **changes)  # type: ignore[arg-type]
            tx.identity.users.update(updated, expected_version=current.version)
            self._ctx.emit(
                tx, UserUpdated, principal.id, user_id=principal.id, fields=tuple(sorted(changes))
            )
            return UserProfile.of(updated)

    def change_password(
        self, principal: Principal, old: str, new: str, *, client: str | None = None
    ) -> None:
        """Change one's own password; every other session of the user ends.

        Raises:
            AuthenticationError: ``old`` is wrong (failures are throttled like log-ins).
            TooManyAttemptsError: too many wrong passwords lately.
            ValidationError: ``new`` breaks the password policy.
        """
        require_full_session(principal, "change the password")
        with self._ctx.storage.transaction(readonly=True) as tx:
            user = tx.identity.users.get(principal.id)
        self.verify_password(user, old, client=client)
        secret = normalize(new) if isinstance(new, str) else ""
        self._kit.policy.check(secret, username=user.username, field="new")
        self.store_password(
            user.id, self._kit.hasher.hash(secret), principal.id, keep=principal.session_id
        )

    def verify_password(self, user: User, password: str, *, client: str | None = None) -> None:
        """Check a logged-in user's password again, throttled like a log-in."""
        throttle, now = self._kit.throttle, self._ctx.now()
        with self._ctx.storage.transaction(readonly=True) as tx:
            wait = throttle.wait(tx, user.username, client, now)
        if wait.total_seconds() > 0:
            raise TooManyAttemptsError("too many wrong passwords lately", retry_after=wait)
        candidate = normalize(password) if isinstance(password, str) else ""
        if not self._kit.hasher.verify(candidate, user.password_hash):
            with self._ctx.storage.transaction() as tx:
                throttle.failed(tx, user.username, client, now)
            raise AuthenticationError("wrong password")

    def store_password(
        self, user_id: UserId, hashed: str, actor: UserId, *, keep: str | None = None
    ) -> None:
        """Store a new password hash and end the user's sessions (but ``keep``)."""
        now = self._ctx.now()
        with self._ctx.storage.transaction() as tx:
            current = tx.identity.users.get(user_id)
            changed = attrs.evolve(
                current, password_hash=hashed, password_changed_at=now, version=current.version + 1
            )
            tx.identity.users.update(changed, expected_version=current.version)
            keep_family = None if keep is None else keep
            count = tx.identity.sessions.revoke_user(user_id, now, keep_family=keep_family)  # type: ignore[arg-type]
            self._ctx.emit(tx, PasswordChanged, actor, user_id=user_id, by_admin=actor != user_id)
            if count:
                self._ctx.emit(
                    tx,
                    SessionRevoked,
                    actor,
                    user_id=user_id,
                    reason="password_changed",
                    count=count,
                )


def _find(tx: Transaction, username: str) -> User | None:
    try:
        return tx.identity.users.get_by_username(username)
    except NotFoundError:
        return None
