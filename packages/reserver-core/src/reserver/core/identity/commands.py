"""What callers give the identity use cases and what they get back."""

from __future__ import annotations

from datetime import timedelta

import attrs

from reserver.core.commands import UNSET, _Unset
from reserver.core.identity.models import Preferences


@attrs.frozen
class UserDraft:
    """A new account; the password travels separately and is never stored in clear."""

    username: str
    email: str | None = None
    display_name: str = ""
    timezone: str = "UTC"
    language: str = "en"
    preferences: Preferences = Preferences()


@attrs.frozen
class UserPatch:
    """Changes a user makes to their own profile; a field left at ``UNSET`` keeps its value."""

    email: str | _Unset | None = UNSET
    display_name: str | _Unset = UNSET
    timezone: str | _Unset = UNSET
    language: str | _Unset = UNSET
    preferences: Preferences | _Unset = UNSET

    def changes(self) -> dict[str, object]:
        """The fields this patch sets."""
        return {
            a.name: getattr(self, a.name)
            for a in attrs.fields(type(self))
            if getattr(self, a.name) is not UNSET
        }


@attrs.frozen
class Tokens:
    """What a successful log-in, refresh or OAuth token request returns.

    ``refresh_token`` is ``None`` where none is issued (OAuth grants). ``expires_in`` is the
    access token's lifetime in seconds; ``scope`` lists OAuth scopes, space-separated.
    """

    access_token: str
    refresh_token: str | None
    expires_in: int
    token_type: str = "bearer"
    scope: str | None = None


@attrs.frozen
class MfaRequired:
    """The password was right; finish with ``login_mfa(challenge, code)`` within ``expires_in``."""

    challenge: str
    expires_in: int


LoginResult = Tokens | MfaRequired


@attrs.frozen
class MfaEnrolment:
    """A TOTP secret to confirm: show ``otpauth_uri`` as a QR code and ``secret`` as text."""

    secret: str
    otpauth_uri: str


@attrs.frozen
class SetupStatus:
    """Whether first-run setup has created the first administrator."""

    setup_complete: bool
    setup_reopened: bool
    user_count: int


def seconds(value: timedelta) -> int:
    """A lifetime in whole seconds."""
    return int(value.total_seconds())
