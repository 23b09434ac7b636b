"""``reserver.identity``: the account lifecycle of the acting person, in one place."""

from __future__ import annotations

from reserver.core.errors import AuthenticationError
from reserver.core.identity.accounts import AccountService
from reserver.core.identity.commands import (
    LoginResult,
    MfaEnrolment,
    SetupStatus,
    Tokens,
    UserDraft,
    UserPatch,
)
from reserver.core.identity.keys import PREFIX as API_KEY_PREFIX
from reserver.core.identity.keys import ApiKeyService
from reserver.core.identity.mfa import MfaService
from reserver.core.identity.models import UserProfile
from reserver.core.identity.oauth import TOKEN_PREFIX as OAUTH_PREFIX
from reserver.core.identity.oauth import OAuthService
from reserver.core.identity.sessions import SessionService
from reserver.core.principals import Principal

MAX_BEARER = 4096


class IdentityService:
    """Setup, registration, log-in, sessions, self-service and MFA; ``reserver.identity``.

    Every failure to authenticate is an ``AuthenticationError`` (401) whose message does not
    say which part was wrong; throttled attempts are ``TooManyAttemptsError`` (429).
    """

    def __init__(
        self,
        accounts: AccountService,
        sessions: SessionService,
        mfa: MfaService,
        api_keys: ApiKeyService,
        oauth: OAuthService,
    ) -> None:
        self._accounts = accounts
        self._sessions = sessions
        self._mfa = mfa
        self._api_keys = api_keys
        self._oauth = oauth

    def setup_status(self) -> SetupStatus:
        """Whether first-run setup has run, was reopened, and how many users exist."""
        return self._accounts.setup_status()

    def setup(
        self, draft: UserDraft, password: str, *, reopen_token: str | None = None
    ) -> UserProfile:
        """Create (or promote, with their password) the first administrator, once."""
        return self._accounts.setup(draft, password, reopen_token=reopen_token)

    def reopen_setup(self, token: str, *, client: str | None = None) -> None:
        """Let setup run once more, given the configured reopen token."""
        self._accounts.reopen_setup(token, client=client)

    def register(
        self, draft: UserDraft, password: str, *, invite_code: str | None = None
    ) -> UserProfile:
        """Create an account, as the registration setting allows."""
        return self._accounts.register(draft, password, invite_code=invite_code)

    def login(self, username: str, password: str, *, client: str | None = None) -> LoginResult:
        """Log in with a password: ``Tokens``, or ``MfaRequired`` when MFA is on."""
        return self._sessions.login(username, password, client=client)

    def login_mfa(self, challenge: str, code: str, *, client: str | None = None) -> Tokens:
        """Finish a log-in with a TOTP or backup code."""
        return self._sessions.login_mfa(challenge, code, client=client)

    def refresh(self, refresh_token: str, *, client: str | None = None) -> Tokens:
        """Rotate a refresh token; a reused one ends its session."""
        return self._sessions.refresh(refresh_token, client=client)

    def logout(self, principal: Principal) -> None:
        """End the principal's session (its access token dies with it)."""
        self._sessions.logout(principal)

    def authenticate(self, bearer: str) -> Principal:
        """The principal behind a bearer credential.

        The credential is a session's access token, an ``rk_`` API key or an ``ro_`` OAuth
        access token (an ``Authorization`` header's ``Bearer`` prefix is tolerated).

        Raises:
            AuthenticationError: missing, malformed, expired or revoked.
        """
        if not isinstance(bearer, str):
            raise AuthenticationError("no credentials")
        token = bearer.strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        if not token or len(token) > MAX_BEARER:
            raise AuthenticationError("no credentials")
        if token.startswith(API_KEY_PREFIX):
            return self._api_keys.authenticate(token)
        if token.startswith(OAUTH_PREFIX):
            return self._oauth.authenticate(token)
        return self._sessions.authenticate_session(token)

    def me(self, principal: Principal) -> UserProfile:
        """The acting user's profile."""
        return self._accounts.me(principal)

    def update_me(self, principal: Principal, patch: UserPatch) -> UserProfile:
        """Change one's own profile and preferences."""
        return self._accounts.update_me(principal, patch)

    def change_password(
        self, principal: Principal, old: str, new: str, *, client: str | None = None
    ) -> None:
        """Change one's own password; every other session ends."""
        self._accounts.change_password(principal, old, new, client=client)

    def mfa_enrol(self, principal: Principal) -> MfaEnrolment:
        """Start TOTP enrolment."""
        return self._mfa.enrol(principal)

    def mfa_confirm(self, principal: Principal, code: str) -> tuple[str, ...]:
        """Turn MFA on with a first code; returns the backup codes, shown once."""
        return self._mfa.confirm(principal, code)

    def mfa_disable(
        self, principal: Principal, password: str, code: str, *, client: str | None = None
    ) -> None:
        """Turn MFA off with the password and a code."""
        self._mfa.disable(principal, password, code, client=client)

    def regenerate_backup_codes(self, principal: Principal, code: str) -> tuple[str, ...]:
        """Replace the backup codes; needs a TOTP code."""
        return self._mfa.regenerate_codes(principal, code)

    def prune_throttle(self) -> int:
        """Forget failed attempts too old to matter (a job; idempotent); returns how many."""
        return self._sessions.prune_throttle()

    def backup_codes_left(self, principal: Principal) -> int:
        """How many unused backup codes the user has."""
        return self._mfa.remaining_codes(principal)
