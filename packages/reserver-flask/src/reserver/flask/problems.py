"""Every error becomes an RFC 9457 ``application/problem+json`` answer, mapped in one table.

Domain errors map by class (the nearest entry of the error's MRO wins); Werkzeug's HTTP errors
keep their status. Anything else is a bug: it is logged with its traceback and answered with a
bare 500 problem that says nothing about the internals.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, NoReturn

import attrs
from werkzeug.exceptions import HTTPException

from flask import Flask, Response, json, request
from reserver.core.errors import (
    AdapterError,
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    NotFoundError,
    OAuthError,
    OAuthErrorCode,
    PermissionDeniedError,
    ReserverError,
    RunAgain,
    TooManyAttemptsError,
    ValidationError,
)
from reserver.flask import metrics
from reserver.flask.services import current_services

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("reserver.flask")


@attrs.frozen
class Kind:
    """How one class of error is answered."""

    status: int
    title: str
    slug: str
    logged: bool = False


TABLE: Mapping[type[Exception], Kind] = {
    ValidationError: Kind(422, "The request is not valid", "validation"),
    NotFoundError: Kind(404, "Not found", "not-found"),
    ConflictError: Kind(409, "The request conflicts with the current state", "conflict"),
    PermissionDeniedError: Kind(403, "Forbidden", "forbidden"),
    AuthenticationError: Kind(401, "Not authenticated", "unauthenticated"),
    TooManyAttemptsError: Kind(429, "Too many attempts", "too-many-attempts"),
    OAuthError: Kind(400, "OAuth request refused", "oauth"),
    AdapterError: Kind(503, "Service unavailable; try again shortly", "unavailable", True),
    ConfigurationError: Kind(500, "The server is not set up correctly", "configuration", True),
}
INTERNAL = Kind(500, "Internal server error", "internal", True)


def kind_of(error: Exception) -> Kind | None:
    """The table entry for ``error``, by the nearest class in its MRO."""
    for cls in type(error).__mro__:
        if cls in TABLE:
            return TABLE[cls]
    return None


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    slug: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> Response:
    """Build a problem+json response."""
    body = {
        "type": f"urn:reserver:problem:{slug}" if slug else "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.path,
        **extra,
    }
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    response.headers.update(headers or {})
    return response


def _domain_extras(error: Exception) -> dict[str, Any]:
    if isinstance(error, ValidationError):
        fields = error.fields or {"body": str(error)}
        return {"errors": [{"field": f, "message": m} for f, m in fields.items()]}
    if isinstance(error, OAuthError):  # RFC 6749 members, for OAuth client libraries
        return {"error": error.code.value, "error_description": str(error)}
    if isinstance(error, ConflictError):
        converter = current_services().converter
        return {
            "violations": converter.unstructure(list(error.violations)),
            "alternatives": converter.unstructure(list(error.alternatives)),
        }
    return {}


def from_domain(error: ReserverError) -> Response:
    """Answer a ``ReserverError`` as the table says."""
    kind = kind_of(error) or INTERNAL
    if isinstance(error, ConflictError):
        metrics.refused(error)
    if kind.logged:
        log.error("%s on %s %s: %s", type(error).__name__, request.method, request.path, error)
    if kind is INTERNAL or kind.status == 500:
        return problem(kind.status, kind.title, kind.title, slug=kind.slug)
    status, headers = kind.status, {}
    if isinstance(error, TooManyAttemptsError):
        headers["Retry-After"] = str(error.retry_after_seconds)
    if isinstance(error, AuthenticationError):
        headers["WWW-Authenticate"] = 'Bearer realm="reserver"'
    if isinstance(error, OAuthError) and error.code is OAuthErrorCode.INVALID_CLIENT:
        status = 401
        headers["WWW-Authenticate"] = 'Basic realm="reserver"'
    return problem(
        status, kind.title, str(error), slug=kind.slug, headers=headers, **_domain_extras(error)
    )


def from_http(error: HTTPException) -> Response | HTTPException:
    """Answer Werkzeug's HTTP errors (404 route, 405, 413, 415, 429, ...) as problems."""
    if error.code is None or error.code < 400:
        return error  # redirects stay redirects
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
    if error.code == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="reserver"')
    return problem(error.code, error.name, error.description or error.name, headers=headers)


def from_unexpected(error: Exception) -> Response:
    """Log a bug with its traceback; answer 500 without internals."""
    if isinstance(error, HTTPException):
        return from_http(error)  # type: ignore[return-value]
    if isinstance(error, ReserverError):
        return from_domain(error)
    log.exception("unexpected error on %s %s", request.method, request.path)
    return problem(INTERNAL.status, INTERNAL.title, "the server failed; it has been logged")


def pass_on(signal: RunAgain) -> NoReturn:
    """Let the storage's signal to run the request again through to it (no answer of its own)."""
    raise signal


def register(app: Flask) -> None:
    """Install the handlers on ``app``."""
    app.register_error_handler(RunAgain, pass_on)
    app.register_error_handler(ReserverError, from_domain)
    app.register_error_handler(HTTPException, from_http)
    app.register_error_handler(Exception, from_unexpected)
