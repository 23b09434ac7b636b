"""Tokens: random secrets, their digests, and signed short-lived tokens (itsdangerous).

High-entropy secrets (refresh tokens, API keys, OAuth secrets, codes, backup codes) are stored
as SHA-256 hex digests: with 128 bits or more of randomness a slow hash adds nothing, and a
digest can be looked up. Signed tokens carry their own expiry, read from the ``Clock`` port;
their keys rotate: the first key signs, every key verifies.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadData, URLSafeSerializer

from reserver.core.errors import AuthenticationError


def digest(secret: str) -> str:
    """The SHA-256 hex digest under which a high-entropy secret is stored."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def same(a: str, b: str) -> bool:
    """Compare two secrets or digests in constant time."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def new_secret(nbytes: int = 32) -> str:
    """A fresh URL-safe random secret of ``nbytes`` bytes of entropy."""
    return secrets.token_urlsafe(nbytes)


class SignedTokens:
    """Signs and checks short-lived tokens of one purpose (``salt``) with rotating keys.

    A token carries ``iat`` and ``exp`` as Unix seconds from the caller's clock; ``load``
    refuses a bad signature, another purpose, or an expired token with ``AuthenticationError``.
    """

    def __init__(self, keys: tuple[str, ...], purpose: str) -> None:
        # itsdangerous signs with the last key of the list and verifies with all of them.
        self._serializer = URLSafeSerializer(list(reversed(keys)), salt=f"reserver.{purpose}")
        self._purpose = purpose

    def dump(self, claims: dict[str, Any], now: datetime, ttl: timedelta) -> str:
        """Sign ``claims`` with an issue time of ``now`` and a lifetime of ``ttl``."""
        issued = int(now.timestamp())
        body = {
            **claims,
            "typ": self._purpose,
            "iat": issued,
            "exp": issued + int(ttl.total_seconds()),
        }
        token: str = self._serializer.dumps(body)
        return token

    def load(self, token: str, now: datetime) -> dict[str, Any]:
        """The claims of a valid, unexpired token of this purpose."""
        try:
            claims = self._serializer.loads(token)
        except BadData as exc:
            raise AuthenticationError("the token is invalid or expired") from exc
        if (
            not isinstance(claims, dict)
            or claims.get("typ") != self._purpose
            or not isinstance(claims.get("exp"), int)
            or claims["exp"] <= now.timestamp()
        ):
            raise AuthenticationError("the token is invalid or expired")
        return claims
