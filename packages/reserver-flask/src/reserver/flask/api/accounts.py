"""The caller's own account: profile, password and MFA."""

from __future__ import annotations

from reserver.core.identity.commands import MfaEnrolment, UserPatch
from reserver.core.identity.models import UserProfile
from reserver.core.principals import Principal
from reserver.flask.api.identity_messages import (
    BackupCodes,
    BackupCodesLeft,
    CodeRequest,
    MfaDisable,
    PasswordChange,
)
from reserver.flask.api.inputs import fields_named
from reserver.flask.api.routing import Api
from reserver.flask.auth import client_address
from reserver.flask.services import core

api = Api("accounts", "account")
PASSWORD_FIELDS = {"old": "current_password", "new": "new_password"}


@api.operation("GET", "/users/me")
def me(principal: Principal) -> UserProfile:
    """The caller's profile, roles and preferences."""
    return core().identity.me(principal)


@api.operation("PATCH", "/users/me", errors=(409,))
def update_me(principal: Principal, body: UserPatch) -> UserProfile:
    """Change one's own e-mail, name, time zone, language or preferences."""
    return core().identity.update_me(principal, body)


@api.operation("POST", "/users/me/password", errors=(401, 429), rate_limit="auth")
def change_password(principal: Principal, body: PasswordChange) -> None:
    """Change one's own password; every other session ends."""
    with fields_named(PASSWORD_FIELDS):
        core().identity.change_password(
            principal, body.current_password, body.new_password, client=client_address()
        )


@api.operation("POST", "/auth/mfa/setup", errors=(409,))
def mfa_setup(principal: Principal) -> MfaEnrolment:
    """Start TOTP enrolment: show ``otpauth_uri`` as a QR code, then confirm with a code."""
    return core().identity.mfa_enrol(principal)


@api.operation("POST", "/auth/mfa/verify", errors=(401, 409, 429), rate_limit="auth")
def mfa_verify(principal: Principal, body: CodeRequest) -> BackupCodes:
    """Turn MFA on with a first TOTP code; returns the backup codes, shown once."""
    return BackupCodes(core().identity.mfa_confirm(principal, body.code))


@api.operation("POST", "/auth/mfa/disable", errors=(401, 409, 429), rate_limit="auth")
def mfa_disable(principal: Principal, body: MfaDisable) -> None:
    """Turn MFA off; needs the password and a code."""
    core().identity.mfa_disable(principal, body.password, body.code, client=client_address())


@api.operation("POST", "/auth/mfa/backup-codes", errors=(401, 409, 429), rate_limit="auth")
def regenerate_backup_codes(principal: Principal, body: CodeRequest) -> BackupCodes:
    """Replace the backup codes (needs a TOTP code); the new ones are shown once."""
    return BackupCodes(core().identity.regenerate_backup_codes(principal, body.code))


@api.operation("GET", "/auth/mfa/backup-codes")
def backup_codes_left(principal: Principal) -> BackupCodesLeft:
    """How many unused backup codes the caller has."""
    return BackupCodesLeft(core().identity.backup_codes_left(principal))
