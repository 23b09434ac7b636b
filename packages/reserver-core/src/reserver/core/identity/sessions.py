"""Log-in, sessions and bearer authentication.

A session is a family of refresh tokens. Logging in starts one: a short-lived access token
signed with the server's keys (it names the user and the session) and an opaque refresh token
stored as a digest. Each refresh rotates the refresh token; presenting a used one again means
it leaked, so the whole family is revoked. An access token is accepted only while its session
lives, so logging out kills it at once.
"""

from __future__ import annotations

from datetime import timedelta

import attrs

from reserver.core.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    TooManyAttemptsError,
)
from reserver.core.events import (
    BackupCodeUsed,
    LoginFailed,
    LoginSucceeded,
    LoginThrottled,
    SessionRevoked,
)
from reserver.core.identity import totp
from reserver.core.identity.commands import LoginResult, MfaRequired, Tokens, seconds
from reserver.core.identity.kit import IdentityKit
from reserver.core.identity.models import RefreshToken, SessionId, User
from reserver.core.identity.passwords import normalize
from reserver.core.identity.tokens import digest, new_secret, same
from reserver.core.ids import UserId, new_id
from reserver.core.ports import Transaction
from reserver.core.principals import Principal

REFRESH_PREFIX = "rt_"
API_KEY_PREFIX = "rk_"
OAUTH_PREFIX = "ro_"
ANONYMOUS = UserId("anonymous")
_WRONG = "wrong username or password"


class SessionService:
    """Log-in, refresh, logout and authentication; the facade exposes them on ``r.identity``."""

    def __init__(self, kit: IdentityKit) -> None:
        self._kit = kit
        self._ctx = kit.ctx

    # -- log-in ------------------------------------------------------------------------------

    def login(self, username: str, password: str, *, client: str | None = None) -> LoginResult:
        """Check a password; return tokens, or an MFA challenge when a second factor is on."""
        name = username.strip().lower() if isinstance(username, str) else ""
        with self._ctx.storage.transaction() as tx:
            refused = self._throttled(tx, name, client)
            user = self._find(tx, name)
        if refused is not None:
            raise refused
        candidate = normalize(password) if isinstance(password, str) else ""
        stored = user.password_hash if user is not None else self._kit.dummy_hash()
        matched = self._kit.hasher.verify(candidate, stored)
        if user is None or not user.active or not matched:
            reason = "unknown_user" if user is None else ("inactive" if matched else "password")
            raise self._fail(name, client, reason, user)
        fresh = None
        if self._kit.hasher.needs_rehash(user.password_hash):
            fresh = self._kit.hasher.hash(candidate)
        with self._ctx.storage.transaction() as tx:
            user = self._rehash(tx, user, fresh)
            if user.mfa_enabled:
                challenge = self._kit.challenges.dump(
                    {"sub": user.id, "pwv": _password_version(user)},
                    self._ctx.now(),
                    self._kit.settings.mfa_challenge_ttl,
                )
                return MfaRequired(challenge, seconds(self._kit.settings.mfa_challenge_ttl))
            self._kit.throttle.succeeded(tx, name, client)
            return self.start(tx, user, client, mfa=False)

    def login_mfa(self, challenge: str, code: str, *, client: str | None = None) -> Tokens:
        """Finish a log-in with a TOTP code or a backup code; each is accepted once only."""
        claims = self._kit.challenges.load(challenge, self._ctx.now())
        with self._ctx.storage.transaction() as tx:
            user = self._user_or_none(tx, UserId(str(claims.get("sub"))))
            name = user.username if user is not None else ""
            refused = self._throttled(tx, name, client)
        if refused is not None:
            raise refused
        if (
            user is None
            or not user.active
            or not user.mfa_enabled
            or not same(str(claims.get("pwv")), _password_version(user))
        ):
            raise AuthenticationError("the log-in has expired; start again")
        try:
            with self._ctx.storage.transaction() as tx:
                backup = self._second_factor(tx, user, code if isinstance(code, str) else "")
                if backup is not None:
                    self._ctx.emit(tx, BackupCodeUsed, user.id, user_id=user.id, remaining=backup)
                self._kit.throttle.succeeded(tx, name, client)
                return self.start(tx, user, client, mfa=True)
        except (AuthenticationError, ConflictError) as exc:
            failure = self._fail(name, client, "second_factor", user, message=str(exc))
            raise failure from None

    def _second_factor(self, tx: Transaction, user: User, code: str) -> int | None:
        """Accept ``code`` once; return the backup codes left if a backup code was used."""
        if totp.looks_like_backup_code(code):
            if not tx.identity.mfa.use(user.id, totp.backup_digest(user.id, code), self._ctx.now()):
                raise AuthenticationError("the code is wrong or used")
            return tx.identity.mfa.remaining(user.id)
        current = tx.identity.users.get(user.id)
        self._kit.spend_totp(tx, current, code, self._ctx.now())
        return None

    def _throttled(
        self, tx: Transaction, name: str, client: str | None
    ) -> TooManyAttemptsError | None:
        """The refusal to raise once ``tx`` has committed (so its event is kept), if any."""
        wait = self._kit.throttle.wait(tx, name, client, self._ctx.now())
        if wait <= timedelta(0):
            return None
        error = TooManyAttemptsError(
            f"too many failed attempts; try again in {_human(wait)}", retry_after=wait
        )
        self._ctx.emit(
            tx,
            LoginThrottled,
            ANONYMOUS,
            username=name,
            retry_after_seconds=error.retry_after_seconds,
            client=client,
        )
        return error

    def _fail(
        self,
        name: str,
        client: str | None,
        reason: str,
        user: User | None,
        *,
        message: str = _WRONG,
    ) -> AuthenticationError:
        """Record a failure in its own unit of work; return the error for the caller to raise."""
        with self._ctx.storage.transaction() as tx:
            self._kit.throttle.failed(tx, name, client, self._ctx.now())
            actor = user.id if user is not None else ANONYMOUS
            self._ctx.emit(tx, LoginFailed, actor, username=name, reason=reason, client=client)
        return AuthenticationError(message)

    @staticmethod
    def _find(tx: Transaction, name: str) -> User | None:
        try:
            return tx.identity.users.get_by_username(name)
        except NotFoundError:
            return None

    @staticmethod
    def _user_or_none(tx: Transaction, user_id: UserId) -> User | None:
        try:
            return tx.identity.users.get(user_id)
        except NotFoundError:
            return None

    @staticmethod
    def _rehash(tx: Transaction, user: User, fresh: str | None) -> User:
        current = tx.identity.users.get(user.id)
        if fresh is None or current.password_hash != user.password_hash:
            return current
        upgraded = attrs.evolve(current, password_hash=fresh, version=current.version + 1)
        tx.identity.users.update(upgraded, expected_version=current.version)
        return upgraded

    # -- sessions ----------------------------------------------------------------------------

    def start(self, tx: Transaction, user: User, client: str | None, *, mfa: bool) -> Tokens:
        """Open a new session for ``user`` inside ``tx`` and return its first tokens."""
        family = SessionId(new_id())
        tokens = self._issue(tx, user.id, family, client)
        self._ctx.emit(
            tx, LoginSucceeded, user.id, user_id=user.id, session_id=family, client=client, mfa=mfa
        )
        return tokens

    def _issue(
        self, tx: Transaction, user_id: UserId, family: SessionId, client: str | None
    ) -> Tokens:
        now = self._ctx.now()
        settings = self._kit.settings
        refresh = REFRESH_PREFIX + new_secret()
        tx.identity.sessions.add(
            RefreshToken(
                token_hash=digest(refresh),
                family_id=family,
                user_id=user_id,
                issued_at=now,
                expires_at=now + settings.refresh_ttl,
                client=client,
            )
        )
        access = self._kit.access_tokens.dump(
            {"sub": user_id, "sid": family}, now, settings.access_ttl
        )
        return Tokens(access, refresh, seconds(settings.access_ttl))

    def refresh(self, refresh_token: str, *, client: str | None = None) -> Tokens:
        """Swap a refresh token for new tokens; a reused one revokes its whole session."""
        now = self._ctx.now()
        token_hash = digest(refresh_token if isinstance(refresh_token, str) else "")
        with self._ctx.storage.transaction() as tx:
            try:
                token = tx.identity.sessions.get_by_hash(token_hash)
            except NotFoundError:
                token = None
            if token is not None and token.revoked_at is None and token.expires_at > now:
                user = self._user_or_none(tx, token.user_id)
                if user is not None and user.active and tx.identity.sessions.use(token_hash, now):
                    return self._issue(tx, user.id, token.family_id, client)
            if token is not None and token.revoked_at is None:
                # Used before (it leaked, or a client raced itself), expired, or its user is
                # gone: the session ends either way.
                tx.identity.sessions.revoke_family(token.family_id, now)
                self._ctx.emit(
                    tx,
                    SessionRevoked,
                    token.user_id,
                    user_id=token.user_id,
                    reason="refresh_token_reused" if token.used_at else "refresh_refused",
                    session_id=token.family_id,
                )
        raise AuthenticationError("the refresh token is invalid, expired or revoked")

    def logout(self, principal: Principal) -> None:
        """End the principal's session: its refresh tokens and access tokens stop working."""
        if principal.session_id is None:
            return
        family = SessionId(principal.session_id)
        with self._ctx.storage.transaction() as tx:
            if tx.identity.sessions.is_revoked(family):
                return
            tx.identity.sessions.revoke_family(family, self._ctx.now())
            self._ctx.emit(
                tx,
                SessionRevoked,
                principal.id,
                user_id=principal.id,
                reason="logout",
                session_id=family,
            )

    def prune_throttle(self) -> int:
        """Drop failures older than the longest throttle window."""
        settings = self._kit.settings
        window = max(
            settings.throttle_account_client.window,
            settings.throttle_client.window,
            settings.throttle_account.window,
        )
        with self._ctx.storage.transaction() as tx:
            return tx.identity.throttle.prune(self._ctx.now() - window)

    def authenticate_session(self, token: str) -> Principal:
        """The principal of a live session's access token."""
        claims = self._kit.access_tokens.load(token, self._ctx.now())
        user_id, family = UserId(str(claims.get("sub"))), SessionId(str(claims.get("sid")))
        with self._ctx.storage.transaction(readonly=True) as tx:
            user = self._user_or_none(tx, user_id)
            if user is None or not user.active or tx.identity.sessions.is_revoked(family):
                raise AuthenticationError("the token is invalid or expired")
            return self._kit.principal(tx, user, session_id=family)


def _password_version(user: User) -> str:
    """Ties an MFA challenge to the password it followed, revealing nothing about it."""
    return digest(user.password_hash)[:16]


def _human(wait: timedelta) -> str:
    total = max(1, int(wait.total_seconds() + 0.999))
    return f"{total} seconds" if total < 120 else f"{(total + 59) // 60} minutes"
