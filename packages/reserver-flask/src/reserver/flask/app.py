"""The application factory: ``create_app(settings, services=...)``; there is no module-level app."""

from __future__ import annotations

from flask import Flask, Request, Response, g
from flask.sessions import SessionInterface, SessionMixin
from reserver.flask import docs, metrics, problems, security
from reserver.flask.api import MOUNTS
from reserver.flask.limits import Limits
from reserver.flask.services import EXTENSION, Services, build_services, current_services
from reserver.flask.settings import Settings


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> Flask:
    """Build the web app; tests pass ``services`` wired with in-memory adapters.

    Args:
        settings: what to serve and how; read from ``RESERVER_*`` variables when left out.
        services: the ``Reserver`` and stores to serve; built from ``settings`` when left out.

    Raises:
        ConfigurationError: the settings cannot work (a weak secret in production, ...).
    """
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.session_interface = _NoSessions()
    app.config.from_mapping(settings.flask_config())
    app.url_map.strict_slashes = False
    services = services or build_services(settings)
    app.extensions[EXTENSION] = services
    app.extensions[EXTENSION + ".settings"] = settings
    _request_scopes(app)  # first: the limiter's authentication is part of the request
    metrics.install(app)
    limits = Limits(app, settings)
    for prefix, api in MOUNTS:
        app.register_blueprint(api.blueprint, url_prefix=prefix or None)
        for op in api.operations:
            endpoint = f"{api.blueprint.name}.{op.name}"
            if prefix == "":
                limits.exempt(endpoint)
            elif op.rate_limit is not None:
                limits.strict(endpoint)
    for endpoint in docs.register(app, services):
        limits.exempt(endpoint)
    security.install(app, settings)
    problems.register(app)
    return app


class _NoSessions(SessionInterface):
    """No cookie session: the API authenticates every request by its bearer token.

    Flask's default opened (and built a signing serializer for) a cookie session on every
    request. With this, ``flask.session`` is Flask's null session: reading it finds nothing,
    writing to it fails.
    """

    def open_session(self, app: Flask, request: Request) -> None:
        return None

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        return None


_SCOPE = "reserver_request_scope"


def _request_scopes(app: Flask) -> None:
    """Run each request's use cases in one request scope (``Reserver.request_scope``)."""

    def open_scope() -> None:
        scope = current_services().reserver.request_scope()
        scope.__enter__()
        setattr(g, _SCOPE, scope)

    def close_scope(_: BaseException | None) -> None:
        scope = g.pop(_SCOPE, None)
        if scope is not None:
            scope.__exit__(None, None, None)

    app.before_request(open_scope)
    app.teardown_request(close_scope)
