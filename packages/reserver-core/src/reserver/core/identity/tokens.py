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
    A token's signature is checked once: a token is an immutable string, so one that verified
    stays verified under the same keys, and its expiry is still checked on every load. Up to
    ``remembered`` verified tokens are kept (an access token is checked on every request).
    """

    def __init__(self, keys: tuple[str, ...], purpose: str, *, remembered: int = 4096) -> None:
        # itsdangerous signs with the last key of the list and verifies with all of them.
        self._serializer = URLSafeSerializer(list(reversed(keys)), salt=f"reserver.{purpose}")
        self._purpose = purpose
        self._remembered = remembered
        self._verified: dict[str, dict[str, Any]] = {}

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
        claims = self._verified.get(token)
        if claims is None:
            claims = self._verify(token)
            if len(self._verified) >= self._remembered:
                self._verified.clear()
            self._verified[token] = claims
        if claims["exp"] <= now.timestamp():
            raise AuthenticationError("the token is invalid or expired")
        return dict(claims)

    def _verify(self, token: str) -> dict[str, Any]:
        try:
            claims = self._serializer.loads(token)
        except BadData as exc:
            raise AuthenticationError("the token is invalid or expired") from exc
        if (
            not isinstance(claims, dict)
            or claims.get("typ") != self._purpose
            or not isinstance(claims.get("exp"), int)
        ):
            raise AuthenticationError("the token is invalid or expired")
        return claims
