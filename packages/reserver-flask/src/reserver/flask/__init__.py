"""Reserver's HTTP API on Flask: ``create_app()`` serves the core's use cases under ``/api/v1``.

Errors answer as RFC 9457 problem+json, the OpenAPI 3.1 document is at ``/api/v1/openapi.json``
and an explorer at ``/api/docs``; ``reserver-serve`` runs it under gunicorn.
"""

from reserver.flask.app import create_app
from reserver.flask.auth import current_principal
from reserver.flask.idempotency import (
    IdempotencyStore,
    InMemoryIdempotencyStore,
    SqlIdempotencyStore,
)
from reserver.flask.services import Services, build_services, current_services
from reserver.flask.settings import Environment, Registration, Settings, Tier

__all__ = [
    "Environment",
    "IdempotencyStore",
    "InMemoryIdempotencyStore",
    "Registration",
    "Services",
    "Settings",
    "SqlIdempotencyStore",
    "Tier",
    "build_services",
    "create_app",
    "current_principal",
    "current_services",
]
