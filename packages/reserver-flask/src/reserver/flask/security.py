"""Security headers on every answer, CORS for the configured origins, trusted proxies."""

from __future__ import annotations

from werkzeug.middleware.proxy_fix import ProxyFix

from flask import Flask, Response, request
from reserver.flask.settings import Settings

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
ALLOWED_HEADERS = "Authorization, Content-Type, If-Match, Idempotency-Key"
EXPOSED_HEADERS = (
    "ETag, Location, Retry-After, Idempotent-Replayed, "
    "X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset"
)
METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"


class Headers:
    """Adds the security and CORS headers that ``settings`` ask for."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._origins = frozenset(settings.cors_origins)

    def __call__(self, response: Response) -> Response:
        """Add the headers to ``response``."""
        headers = response.headers
        docs = request.path.startswith("/api/docs")
        headers.setdefault("Content-Security-Policy", DOCS_CSP if docs else API_CSP)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "no-referrer")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if request.path.startswith("/api/v1/"):
            headers.setdefault("Cache-Control", "no-store")
        if self._settings.hsts:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        self._cors(response)
        return response

    def _cors(self, response: Response) -> None:
        origin = request.headers.get("Origin")
        if origin is None or not (origin in self._origins or "*" in self._origins):
            return
        response.headers["Access-Control-Allow-Origin"] = origin
        response.vary.add("Origin")
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            response.headers["Access-Control-Allow-Methods"] = METHODS
            response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
            response.headers["Access-Control-Max-Age"] = "600"


def install(app: Flask, settings: Settings) -> None:
    """Add the headers to every answer of ``app``; trust ``X-Forwarded-*`` from known proxies."""
    app.after_request(Headers(settings))
    hops = settings.trusted_proxies
    if hops:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_prefix=hops
        )
