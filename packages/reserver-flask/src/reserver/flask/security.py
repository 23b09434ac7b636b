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
        self._origins = frozenset(settings.cors_origins)
        common = [
            ("X-Content-Type-Options", "nosniff"),
            ("X-Frame-Options", "DENY"),
            ("Referrer-Policy", "no-referrer"),
            ("Cross-Origin-Opener-Policy", "same-origin"),
        ]
        if settings.hsts:
            common.append(("Strict-Transport-Security", "max-age=31536000; includeSubDomains"))
        # Built once: a response gets them in one pass over its own headers, not one a header.
        elsewhere = [("Content-Security-Policy", API_CSP), *common]
        self._docs = _lowered([("Content-Security-Policy", DOCS_CSP), *common])
        self._other = _lowered(elsewhere)
        self._api = _lowered([*elsewhere, ("Cache-Control", "no-store")])

    def __call__(self, response: Response) -> Response:
        """Add the headers that ``response`` does not set itself."""
        path = request.path
        if path.startswith("/api/docs"):
            wanted = self._docs
        elif path.startswith("/api/v1/"):
            wanted = self._api
        else:
            wanted = self._other
        headers = response.headers
        present = {name.lower() for name, _ in headers.items()}
        for lowered, name, value in wanted:
            if lowered not in present:
                headers.add(name, value)
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


def _lowered(pairs: list[tuple[str, str]]) -> tuple[tuple[str, str, str], ...]:
    return tuple((name.lower(), name, value) for name, value in pairs)


def install(app: Flask, settings: Settings) -> None:
    """Add the headers to every answer of ``app``; trust ``X-Forwarded-*`` from known proxies."""
    app.after_request(Headers(settings))
    hops = settings.trusted_proxies
    if hops:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_prefix=hops
        )
