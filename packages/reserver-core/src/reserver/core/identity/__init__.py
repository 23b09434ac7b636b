"""Identity: accounts, sessions, MFA, roles and grants, API keys and OAuth 2.

The use cases are reached through the facade (``r.identity``, ``r.users``, ``r.access``,
``r.api_keys``, ``r.oauth``); this package re-exports the values they take and return.
"""

from reserver.core.identity.commands import (
    LoginResult,
    MfaEnrolment,
    MfaRequired,
    SetupStatus,
    Tokens,
    UserDraft,
    UserPatch,
)
from reserver.core.identity.models import (
    Action,
    ApiKey,
    AuthorizationCode,
    CustomRole,
    Grant,
    GrantType,
    Invite,
    OAuthClient,
    OAuthToken,
    Preferences,
    RefreshToken,
    Registration,
    User,
    UserProfile,
    UserQuery,
)

__all__ = [
    "Action",
    "ApiKey",
    "AuthorizationCode",
    "CustomRole",
    "Grant",
    "GrantType",
    "Invite",
    "LoginResult",
    "MfaEnrolment",
    "MfaRequired",
    "OAuthClient",
    "OAuthToken",
    "Preferences",
    "RefreshToken",
    "Registration",
    "SetupStatus",
    "Tokens",
    "User",
    "UserDraft",
    "UserPatch",
    "UserProfile",
    "UserQuery",
]
