"""API keys and OAuth 2: clients, consent (authorization code with PKCE), tokens, revocation."""

from __future__ import annotations

from flask import request
from reserver.core.errors import OAuthError, OAuthErrorCode
from reserver.core.identity.commands import Tokens
from reserver.core.identity.oauth import Authorization
from reserver.core.ids import UserId
from reserver.core.principals import Principal
from reserver.flask.api.identity_messages import (
    ApiKeyInfo,
    ApiKeyRequest,
    AuthorizeRequest,
    ClientInfo,
    ClientRequest,
    NewApiKey,
    NewClient,
    RevokeRequest,
    TokenRequest,
)
from reserver.flask.api.routing import Api
from reserver.flask.services import core

keys_api = Api("api_keys", "api-keys")
oauth_api = Api("oauth", "oauth")


@keys_api.operation("GET", "/api-keys")
def list_api_keys(principal: Principal) -> list[ApiKeyInfo]:
    """The caller's API keys (never the keys themselves)."""
    return [ApiKeyInfo.of(k) for k in core().api_keys.list(principal)]


@keys_api.operation("POST", "/api-keys", status=201)
def create_api_key(principal: Principal, body: ApiKeyRequest) -> NewApiKey:
    """Issue an API key narrowed to ``scopes``; the ``key`` is shown this once.

    Use it as ``Authorization: Bearer rk_...``.
    """
    made, plain = core().api_keys.create(principal, body.name, body.scopes, body.expires_at)
    return NewApiKey(ApiKeyInfo.of(made), plain)


@keys_api.operation("DELETE", "/api-keys/<key_id>")
def revoke_api_key(principal: Principal, key_id: str) -> ApiKeyInfo:
    """Revoke one of the caller's API keys; it stops working at once."""
    return ApiKeyInfo.of(core().api_keys.revoke(principal, key_id))


@oauth_api.operation("GET", "/oauth/clients")
def list_clients(principal: Principal) -> list[ClientInfo]:
    """The registered OAuth clients (integration managers)."""
    return [ClientInfo.of(c) for c in core().oauth.list_clients(principal)]


@oauth_api.operation("POST", "/oauth/clients", status=201)
def register_client(principal: Principal, body: ClientRequest) -> NewClient:
    """Register an OAuth client; its ``client_secret`` is shown this once."""
    client, secret = core().oauth.register_client(
        principal,
        body.name,
        body.redirect_uris,
        body.grant_types,
        body.scopes,
        UserId(body.owner) if body.owner else principal.id,
        public=body.public,
    )
    return NewClient(ClientInfo.of(client), secret)


@oauth_api.operation("DELETE", "/oauth/clients/<client_id>")
def delete_client(principal: Principal, client_id: str) -> None:
    """Delete a client; its tokens stop working."""
    core().oauth.delete_client(principal, client_id)  # type: ignore[arg-type]


@oauth_api.operation("POST", "/oauth/authorize")
def authorize(principal: Principal, body: AuthorizeRequest) -> Authorization:
    """The logged-in user consents: a one-time code bound to the PKCE challenge.

    ``location`` is the registered redirect URI with ``code`` and ``state``, ready to follow.
    """
    if body.response_type != "code":
        raise OAuthError(OAuthErrorCode.INVALID_REQUEST, "response_type must be 'code'")
    return core().oauth.authorize(
        principal,
        body.client_id,  # type: ignore[arg-type]
        body.redirect_uri,
        body.scope,
        body.code_challenge,
        body.code_challenge_method,
        body.state,
    )


def _client(body_id: str | None, body_secret: str | None) -> tuple[str, str | None]:
    """The client's credentials: HTTP Basic, else the body (RFC 6749 section 2.3.1)."""
    basic = request.authorization
    if basic is not None and basic.type == "basic" and basic.username:
        return basic.username, basic.password
    if not body_id:
        raise OAuthError(OAuthErrorCode.INVALID_CLIENT, "name the client")
    return body_id, body_secret


@oauth_api.operation("POST", "/oauth/token", errors=(401,), rate_limit="auth", form=True)
def token(body: TokenRequest) -> Tokens:
    """Exchange an authorization code (with its PKCE verifier) or client credentials.

    Refusals carry the RFC 6749 ``error`` member next to the problem's own.
    """
    client_id, secret = _client(body.client_id, body.client_secret)
    return core().oauth.token(
        body.grant_type,
        client_id,
        secret,
        code=body.code,
        redirect_uri=body.redirect_uri,
        code_verifier=body.code_verifier,
        scope=body.scope,
    )


@oauth_api.operation("POST", "/oauth/revoke", errors=(401,), rate_limit="auth", form=True)
def revoke(body: RevokeRequest) -> None:
    """Revoke one of this client's tokens (unknown tokens are ignored, as RFC 7009 says)."""
    client_id, secret = _client(body.client_id, body.client_secret)
    core().oauth.revoke(body.token, client_id, secret)
