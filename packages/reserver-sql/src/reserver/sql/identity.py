"""``tx.identity``: the identity repositories of one unit of work, sharing its connection."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from reserver.sql.db import Db
from reserver.sql.identity_access import (
    SqlGrantRepository,
    SqlRoleRepository,
    SqlSettingRepository,
    SqlThrottleRepository,
)
from reserver.sql.identity_oauth import (
    SqlAuthorizationCodeRepository,
    SqlInviteRepository,
    SqlOAuthClientRepository,
    SqlOAuthTokenRepository,
)
from reserver.sql.identity_tokens import (
    SqlApiKeyRepository,
    SqlBackupCodeRepository,
    SqlSessionRepository,
)
from reserver.sql.identity_users import SqlUserRepository

if TYPE_CHECKING:
    from reserver.core.ports import IdentityRepositories


class SqlIdentityRepositories:
    """Accounts, sessions and access control on SQL; each repository is built on first use."""

    def __init__(self, db: Db) -> None:
        self._db = db

    @cached_property
    def users(self) -> SqlUserRepository:
        """User accounts."""
        return SqlUserRepository(self._db)

    @cached_property
    def sessions(self) -> SqlSessionRepository:
        """Login sessions (refresh-token families)."""
        return SqlSessionRepository(self._db)

    @cached_property
    def mfa(self) -> SqlBackupCodeRepository:
        """MFA backup codes."""
        return SqlBackupCodeRepository(self._db)

    @cached_property
    def api_keys(self) -> SqlApiKeyRepository:
        """API keys."""
        return SqlApiKeyRepository(self._db)

    @cached_property
    def clients(self) -> SqlOAuthClientRepository:
        """OAuth clients."""
        return SqlOAuthClientRepository(self._db)

    @cached_property
    def codes(self) -> SqlAuthorizationCodeRepository:
        """OAuth authorization codes."""
        return SqlAuthorizationCodeRepository(self._db)

    @cached_property
    def oauth_tokens(self) -> SqlOAuthTokenRepository:
        """OAuth access tokens."""
        return SqlOAuthTokenRepository(self._db)

    @cached_property
    def roles(self) -> SqlRoleRepository:
        """Custom roles."""
        return SqlRoleRepository(self._db)

    @cached_property
    def grants(self) -> SqlGrantRepository:
        """Per-resource grants."""
        return SqlGrantRepository(self._db)

    @cached_property
    def throttle(self) -> SqlThrottleRepository:
        """Failed log-in attempts."""
        return SqlThrottleRepository(self._db)

    @cached_property
    def invites(self) -> SqlInviteRepository:
        """Registration invites."""
        return SqlInviteRepository(self._db)

    @cached_property
    def settings(self) -> SqlSettingRepository:
        """System settings."""
        return SqlSettingRepository(self._db)


if TYPE_CHECKING:
    _: type[IdentityRepositories] = SqlIdentityRepositories
