"""Who is asking: the one seam between a request's credentials and the core's ``Principal``.

Views never read ``Authorization`` themselves; they call ``current_principal()``. What turns a
bearer token into a principal is ``Services.authenticate`` (the core's identity by default).
"""

from __future__ import annotations

from flask import g, request
from reserver.core.errors import AuthenticationError
from reserver.core.principals import Principal
from reserver.flask.services import current_services

_CACHE = "reserver_principal"


def bearer_token() -> str | None:
    """The bearer token of the current request, if it sent one."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def current_principal() -> Principal:
    """The principal acting for this request.

    Raises:
        AuthenticationError: no bearer token, or one that stands for nobody (401 problem+json).
    """
    cached = g.get(_CACHE)
    if isinstance(cached, Principal):
        return cached
    token = bearer_token()
    if token is None:
        raise AuthenticationError("send 'Authorization: Bearer <token>'")
    principal = current_services().authenticate(token)
    setattr(g, _CACHE, principal)
    return principal


def optional_principal() -> Principal | None:
    """The acting principal, or ``None`` for an anonymous or unauthenticated request."""
    try:
        return current_principal()
    except AuthenticationError:
        return None


def client_address() -> str:
    """The client's address (behind ``trusted_proxies`` proxies, as ``ProxyFix`` saw it)."""
    return request.remote_addr or "unknown"
