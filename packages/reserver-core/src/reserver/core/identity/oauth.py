"""OAuth 2 for integrations: client credentials, and authorization codes with PKCE (S256).

Clients are registered by administrators; tokens are revoked as RFC 7009 says.

Every grant is capped three times: by the client's registered scopes, by what the client's
owner may do, and (authorization code) by what the consenting user may do; authentication
then intersects the token's scopes with the user's rights of the moment.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Sequence
from urllib.parse import urlencode, urlsplit, urlunsplit

import attrs

from reserver.core.errors import (
    AuthenticationError,
    NotFoundError,
    OAuthError,
    OAuthErrorCode,
    ValidationError,
)
from reserver.core.events import OAuthClientChanged, OAuthTokenIssued, OAuthTokenRevoked
from reserver.core.identity.commands import Tokens, seconds
from reserver.core.identity.keys import scopes_of
from reserver.core.identity.kit import IdentityKit, require, require_full_session
from reserver.core.identity.models import (
    AuthorizationCode,
    ClientId,
    GrantType,
    OAuthClient,
    OAuthToken,
)
from reserver.core.identity.tokens import digest, new_secret, same
from reserver.core.ids import UserId
from reserver.core.ports import Transaction
from reserver.core.principals import Permission, Principal

TOKEN_PREFIX = "ro_"
CODE_PREFIX = "rc_"
CLIENT_PREFIX = "rcl_"
PKCE = re.compile(r"[A-Za-z0-9._~-]{43,128}")
LOOPBACK = {"localhost", "127.0.0.1", "[::1]", "::1"}


@attrs.frozen
class Authorization:
    """An issued authorization code and where to send the browser (properly encoded)."""

    code: str
    redirect_uri: str
    state: str | None
    location: str


def s256(verifier: str) -> str:
    """The PKCE S256 challenge of ``verifier``: BASE64URL(SHA256(verifier)), unpadded."""
    raw = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _redirect_uri(uri: str) -> str:
    parts = urlsplit(uri) if isinstance(uri, str) else None
    if parts is None or not parts.netloc or parts.fragment:
        raise ValidationError.for_field("redirect_uris", f"{uri!r} is not an absolute URL")
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK):
        return uri
    raise ValidationError.for_field(
        "redirect_uris", f"{uri!r} must be https (http only for loopback addresses)"
    )


def _scope_text(scopes: Iterable[Permission]) -> str:
    return " ".join(sorted(s.value for s in scopes))


def _requested(scope: str | None, allowed: frozenset[Permission]) -> frozenset[Permission]:
    if scope is None or not scope.strip():
        return allowed
    try:
        wanted = frozenset(Permission(s) for s in scope.split())
    except ValueError as exc:
        raise OAuthError(OAuthErrorCode.INVALID_SCOPE, f"unknown scope in {scope!r}") from exc
    if not wanted <= allowed:
        beyond = _scope_text(wanted - allowed)
        raise OAuthError(OAuthErrorCode.INVALID_SCOPE, f"the client may not ask for: {beyond}")
    return wanted


class OAuthService:
    """OAuth 2 provider; reach it as ``reserver.oauth``."""

    def __init__(self, kit: IdentityKit) -> None:
        self._kit = kit
        self._ctx = kit.ctx

    # -- clients -----------------------------------------------------------------------------

    def register_client(
        self,
        principal: Principal,
        name: str,
        redirect_uris: Iterable[str],
        grant_types: Iterable[str],
        scopes: Iterable[str],
        owner: UserId,
        *,
        public: bool = False,
    ) -> tuple[OAuthClient, str | None]:
        """Register a client acting for ``owner``; returns it and its secret (shown once).

        Raises:
            ValidationError: a bad URI, grant type, scope, or a scope the owner lacks.
        """
        require(principal, Permission.MANAGE_INTEGRATIONS, "register OAuth clients")
        uris = tuple(_redirect_uri(u) for u in redirect_uris)
        try:
            grants = frozenset(GrantType(g) for g in grant_types)
        except ValueError as exc:
            raise ValidationError.for_field(
                "grant_types", "must be authorization_code and/or client_credentials"
            ) from exc
        wanted = scopes_of(scopes)
        label = name.strip() if isinstance(name, str) else ""
        problems = self._client_problems(label, uris, grants, wanted, public)
        if problems:
            raise ValidationError.merge(problems)
        secret = None if public else new_secret()
        with self._ctx.storage.transaction() as tx:
            owner_user = tx.identity.users.get(owner)
            rights = self._kit.principal(tx, owner_user).permissions
            if not wanted <= rights:
                raise ValidationError.for_field(
                    "scopes", f"the owner may not: {_scope_text(wanted - rights)}"
                )
            client = OAuthClient(
                id=ClientId(CLIENT_PREFIX + new_secret(12)),
                name=label,
                owner=owner,
                redirect_uris=uris,
                grant_types=grants,
                scopes=wanted,
                created_at=self._ctx.now(),
                secret_hash=None if secret is None else digest(secret),
            )
            tx.identity.clients.add(client)
            self._ctx.emit(tx, OAuthClientChanged, principal.id, client_id=client.id, owner=owner)
        return client, secret

    @staticmethod
    def _client_problems(
        name: str,
        uris: tuple[str, ...],
        grants: frozenset[GrantType],
        scopes: frozenset[Permission],
        public: bool,
    ) -> list[ValidationError]:
        problems = []
        if not 1 <= len(name) <= 100:
            problems.append(ValidationError.for_field("name", "must be 1 to 100 characters"))
        if not grants:
            problems.append(ValidationError.for_field("grant_types", "name at least one"))
        if GrantType.AUTHORIZATION_CODE in grants and not uris:
            problems.append(
                ValidationError.for_field("redirect_uris", "the code grant needs at least one")
            )
        if public and GrantType.CLIENT_CREDENTIALS in grants:
            problems.append(
                ValidationError.for_field("grant_types", "a public client has no credentials")
            )
        if not scopes:
            problems.append(ValidationError.for_field("scopes", "name at least one"))
        return problems

    def list_clients(self, principal: Principal) -> Sequence[OAuthClient]:
        """Every client for integration managers; otherwise the clients one owns."""
        with self._ctx.storage.transaction(readonly=True) as tx:
            if principal.has(Permission.MANAGE_INTEGRATIONS):
                return tx.identity.clients.all()
            return tx.identity.clients.for_owner(principal.id)

    def delete_client(self, principal: Principal, client_id: ClientId) -> None:
        """Delete a client; every token it holds stops working."""
        require(principal, Permission.MANAGE_INTEGRATIONS, "delete OAuth clients")
        with self._ctx.storage.transaction() as tx:
            client = tx.identity.clients.get(client_id)
            tx.identity.oauth_tokens.revoke_client(client_id, self._ctx.now())
            tx.identity.clients.delete(client_id)
            self._ctx.emit(
                tx,
                OAuthClientChanged,
                principal.id,
                client_id=client_id,
                owner=client.owner,
                deleted=True,
            )

    # -- authorization code with PKCE ----------------------------------------------------

    def authorize(
        self,
        principal: Principal,
        client_id: ClientId,
        redirect_uri: str,
        scope: str | None,
        code_challenge: str,
        code_challenge_method: str = "S256",
        state: str | None = None,
    ) -> Authorization:
        """The logged-in user consents: issue a one-time code bound to the PKCE challenge.

        Raises:
            NotFoundError: no such client (never redirect to an unchecked URI).
            ValidationError: the redirect URI is not registered, PKCE is missing or not S256.
            OAuthError: the client may not use this grant, or asks for scopes beyond it.
        """
        require_full_session(principal, "authorize OAuth clients")
        if code_challenge_method != "S256":
            raise ValidationError.for_field("code_challenge_method", "only S256 is supported")
        if not isinstance(code_challenge, str) or not re.fullmatch(
            r"[A-Za-z0-9_-]{43}", code_challenge
        ):
            raise ValidationError.for_field("code_challenge", "must be an S256 challenge")
        now = self._ctx.now()
        with self._ctx.storage.transaction() as tx:
            client = tx.identity.clients.get(client_id)
            if redirect_uri not in client.redirect_uris:
                raise ValidationError.for_field("redirect_uri", "is not registered for the client")
            if GrantType.AUTHORIZATION_CODE not in client.grant_types:
                raise OAuthError(
                    OAuthErrorCode.UNAUTHORIZED_CLIENT, "the client may not use the code grant"
                )
            wanted = _requested(scope, client.scopes) & self._owner_rights(tx, client)
            granted = wanted & principal.permissions
            if not granted:
                raise OAuthError(OAuthErrorCode.INVALID_SCOPE, "no requested scope can be granted")
            code = CODE_PREFIX + new_secret()
            tx.identity.codes.add(
                AuthorizationCode(
                    code_hash=digest(code),
                    client_id=client.id,
                    user_id=principal.id,
                    redirect_uri=redirect_uri,
                    scopes=granted,
                    code_challenge=code_challenge,
                    created_at=now,
                    expires_at=now + self._kit.settings.code_ttl,
                )
            )
        query = {"code": code, **({"state": state} if state is not None else {})}
        parts = urlsplit(redirect_uri)
        joined = f"{parts.query}&{urlencode(query)}" if parts.query else urlencode(query)
        location = urlunsplit((parts.scheme, parts.netloc, parts.path, joined, ""))
        return Authorization(code, redirect_uri, state, location)

    # -- the token endpoint --------------------------------------------------------------

    def token(
        self,
        grant_type: str,
        client_id: str,
        client_secret: str | None = None,
        *,
        code: str | None = None,
        redirect_uri: str | None = None,
        code_verifier: str | None = None,
        scope: str | None = None,
    ) -> Tokens:
        """Exchange a code (with its PKCE verifier) or client credentials for an access token.

        Raises:
            OAuthError: with the RFC 6749 error code to answer with.
        """
        try:
            kind = GrantType(grant_type)
        except ValueError as exc:
            raise OAuthError(
                OAuthErrorCode.UNSUPPORTED_GRANT_TYPE, f"unsupported grant {grant_type!r}"
            ) from exc
        now = self._ctx.now()
        with self._ctx.storage.transaction() as tx:
            client = self._client(tx, client_id, client_secret)
            if kind not in client.grant_types:
                raise OAuthError(
                    OAuthErrorCode.UNAUTHORIZED_CLIENT, f"the client may not use {kind.value}"
                )
            if kind is GrantType.CLIENT_CREDENTIALS:
                user_id = client.owner
                scopes = _requested(scope, client.scopes) & self._owner_rights(tx, client)
            else:
                taken = self._redeem(tx, client, code, redirect_uri, code_verifier)
                user_id = taken.user_id
                scopes = taken.scopes & self._owner_rights(tx, client)
            if not scopes:
                raise OAuthError(OAuthErrorCode.INVALID_SCOPE, "no scope is left to grant")
            plain = TOKEN_PREFIX + new_secret()
            ttl = self._kit.settings.oauth_token_ttl
            tx.identity.oauth_tokens.add(
                OAuthToken(digest(plain), client.id, user_id, scopes, now, now + ttl)
            )
            self._ctx.emit(
                tx,
                OAuthTokenIssued,
                user_id,
                client_id=client.id,
                user_id=user_id,
                grant_type=kind.value,
                scopes=tuple(sorted(s.value for s in scopes)),
            )
        return Tokens(plain, None, seconds(ttl), scope=_scope_text(scopes))

    def _client(self, tx: Transaction, client_id: str, secret: str | None) -> OAuthClient:
        invalid = OAuthError(OAuthErrorCode.INVALID_CLIENT, "client authentication failed")
        try:
            client = tx.identity.clients.get(ClientId(client_id))
        except NotFoundError:
            raise invalid from None
        if client.secret_hash is None:
            if secret:
                raise invalid
        elif not isinstance(secret, str) or not same(digest(secret), client.secret_hash):
            raise invalid
        return client

    def _redeem(
        self,
        tx: Transaction,
        client: OAuthClient,
        code: str | None,
        redirect_uri: str | None,
        verifier: str | None,
    ) -> AuthorizationCode:
        invalid = OAuthError(OAuthErrorCode.INVALID_GRANT, "the code is invalid, used or expired")
        if not code:
            raise OAuthError(OAuthErrorCode.INVALID_REQUEST, "the code is missing")
        if not isinstance(verifier, str) or not PKCE.fullmatch(verifier):
            raise OAuthError(OAuthErrorCode.INVALID_REQUEST, "a PKCE code_verifier is required")
        try:
            taken = tx.identity.codes.take(digest(code), self._ctx.now())
        except NotFoundError:
            raise invalid from None
        if (
            taken.client_id != client.id
            or taken.expires_at <= self._ctx.now()
            or redirect_uri != taken.redirect_uri
            or not same(s256(verifier), taken.code_challenge)
        ):
            raise invalid
        user = tx.identity.users.get(taken.user_id)
        if not user.active:
            raise invalid
        return taken

    def _owner_rights(self, tx: Transaction, client: OAuthClient) -> frozenset[Permission]:
        try:
            owner = tx.identity.users.get(client.owner)
        except NotFoundError:
            return frozenset()
        return self._kit.principal(tx, owner).permissions if owner.active else frozenset()

    # -- revocation and use --------------------------------------------------------------

    def revoke(self, token: str, client_id: str, client_secret: str | None = None) -> None:
        """Revoke a token of this client (RFC 7009: unknown tokens are silently ignored)."""
        with self._ctx.storage.transaction() as tx:
            client = self._client(tx, client_id, client_secret)
            try:
                found = tx.identity.oauth_tokens.get_by_hash(digest(token))
            except NotFoundError:
                return
            if found.client_id != client.id or found.revoked_at is not None:
                return
            tx.identity.oauth_tokens.revoke(found.token_hash, self._ctx.now())
            self._ctx.emit(
                tx, OAuthTokenRevoked, found.user_id, client_id=client.id, user_id=found.user_id
            )

    def authenticate(self, plain: str) -> Principal:
        """The principal of a live OAuth access token: its user narrowed to the token's scopes."""
        now = self._ctx.now()
        with self._ctx.storage.transaction(readonly=True) as tx:
            try:
                token = tx.identity.oauth_tokens.get_by_hash(digest(plain))
                user = tx.identity.users.get(token.user_id)
                client = tx.identity.clients.get(token.client_id)
            except NotFoundError:
                raise AuthenticationError("the token is invalid, expired or revoked") from None
            if not token.usable_at(now) or not user.active:
                raise AuthenticationError("the token is invalid, expired or revoked")
            scopes = token.scopes & self._owner_rights(tx, client)
            return self._kit.principal(tx, user, scopes=scopes)
