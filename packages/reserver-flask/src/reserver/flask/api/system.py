"""Probes and metrics, outside ``/api/v1``: ``/health``, ``/live``, ``/ready``, ``/metrics``."""

from __future__ import annotations

import functools
import hmac
from importlib.metadata import PackageNotFoundError, version

import attrs

from flask import Response
from reserver.core.errors import AuthenticationError
from reserver.core.queries import PageRequest, ResourceQuery
from reserver.flask import metrics
from reserver.flask.api.routing import Api
from reserver.flask.auth import bearer_token
from reserver.flask.services import core, current_settings

api = Api("system", "system")


@functools.cache
def app_version() -> str:
    """The version of reserver-flask that is running.

    Read once: parsing the package's metadata took half of every ``/health``.
    """
    try:
        return version("reserver-flask")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


@attrs.frozen
class Health:
    """The server answers; ``version`` is the running release."""

    status: str
    version: str


@attrs.frozen
class Live:
    """The process is alive."""

    alive: bool


@attrs.frozen
class Ready:
    """The server can do its work: its database answered a query."""

    status: str
    database: str


@api.operation("GET", "/health")
def health() -> Health:
    """Whether the server answers, and which version it runs (cheap: touches no database)."""
    return Health("ok", app_version())


@api.operation("GET", "/live")
def live() -> Live:
    """Liveness: the process answers requests."""
    return Live(alive=True)


@api.operation("GET", "/ready", errors=(503,))
def ready() -> Ready:
    """Readiness: the database answers a real query (503 problem when it does not)."""
    with core().storage.transaction(readonly=True) as tx:
        tx.resources.find(ResourceQuery(), PageRequest(limit=1))
    return Ready("ok", "ok")


@api.operation("GET", "/metrics", errors=(401,))
def prometheus() -> Response:
    """Prometheus metrics in the text exposition format.

    With ``RESERVER_METRICS_TOKEN`` set, only for ``Authorization: Bearer <that token>``.
    """
    expected = current_settings().metrics_token
    if expected is not None:
        given = bearer_token() or ""
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise AuthenticationError("send 'Authorization: Bearer <the metrics token>'")
    return metrics.exposition()
