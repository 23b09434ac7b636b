"""First-run setup, registration and sessions: log-in (with its MFA step), refresh, log-out."""

from __future__ import annotations

from reserver.core.identity.commands import MfaRequired, SetupStatus, Tokens, UserDraft
from reserver.core.identity.models import UserProfile
from reserver.core.principals import Principal
from reserver.flask.api.identity_messages import (
    LoginRequest,
    MfaLoginRequest,
    RefreshRequest,
    RegisterRequest,
    SetupRequest,
    UnlockRequest,
)
from reserver.flask.api.routing import Api
from reserver.flask.auth import client_address
from reserver.flask.services import core

api = Api("sessions", "auth")
STRICT = "auth"


@api.operation("GET", "/setup/status")
def setup_status() -> SetupStatus:
    """Whether first-run setup has created the first administrator."""
    return core().identity.setup_status()


@api.operation("POST", "/setup/initialize", status=201, errors=(409,), rate_limit=STRICT)
def setup(body: SetupRequest) -> UserProfile:
    """Create the first administrator, once (again only after ``/setup/unlock``).

    Naming an existing user promotes them, and needs that user's own password.
    """
    draft = UserDraft(body.username, body.email, body.display_name, body.timezone, body.language)
    return core().identity.setup(draft, body.password, reopen_token=body.setup_token)


@api.operation("POST", "/setup/unlock", errors=(403,), rate_limit=STRICT)
def unlock_setup(body: UnlockRequest) -> None:
    """Let setup run once more, given the configured reopen token."""
    core().identity.reopen_setup(body.setup_token, client=client_address())


@api.operation("POST", "/register", status=201, errors=(403, 409), rate_limit=STRICT)
def register(body: RegisterRequest) -> UserProfile:
    """Create an account, as the registration setting allows (open, invite or admin-only)."""
    draft = UserDraft(
        body.username,
        body.email,
        body.display_name,
        body.timezone,
        body.language,
        body.preferences,
    )
    return core().identity.register(draft, body.password, invite_code=body.invite_code)


@api.operation("POST", "/token", errors=(401,), rate_limit=STRICT, form=True)
def login(body: LoginRequest) -> Tokens | MfaRequired:
    """Log in with a password (JSON or form): tokens, or an MFA challenge to finish.

    With MFA on, the answer is ``{challenge, expires_in}``: send it to ``/token/mfa`` with a code.
    """
    return core().identity.login(body.username, body.password, client=client_address())


@api.operation("POST", "/token/mfa", errors=(401,), rate_limit=STRICT, form=True)
def login_mfa(body: MfaLoginRequest) -> Tokens:
    """Finish a log-in with a TOTP code or a backup code (each works once)."""
    return core().identity.login_mfa(body.challenge, body.code, client=client_address())


@api.operation("POST", "/token/refresh", errors=(401,), rate_limit=STRICT, form=True)
def refresh(body: RefreshRequest) -> Tokens:
    """Rotate a refresh token (from the body); reusing an old one ends the whole session."""
    return core().identity.refresh(body.refresh_token, client=client_address())


@api.operation("POST", "/logout")
def logout(principal: Principal) -> None:
    """End the caller's session: its access and refresh tokens stop working at once."""
    core().identity.logout(principal)
