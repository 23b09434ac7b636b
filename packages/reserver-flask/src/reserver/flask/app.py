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
    app = _ReserverFlask(__name__)
    app.session_interface = _NoSessions()
    app.config.from_mapping(settings.flask_config())
    app.url_map.strict_slashes = False
    services = services or build_services(settings)
    app.extensions[EXTENSION] = services
    app.extensions[EXTENSION + ".settings"] = settings
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


class _ReserverFlask(Flask):
    """Flask, dispatching each request in one scope of the storage (``Reserver.run_scoped``)."""

    def full_dispatch_request(self) -> Response:
        """Dispatch the request (hooks, authentication, view) in one ``run_scoped`` call.

        The units of work of a request then share one check of the storage's caches, which on
        PostgreSQL rides with the request's first query. When the storage finds the caches
        were stale it dispatches the request again, with ``g`` as it was before the first
        try, so the request authenticates afresh, and counts it
        (``reserver_http_request_reruns``). Nothing of the first try lasts (the storage wrote
        nothing before its check) but a count in the rate limiter and, when the check came
        only at the end, in the request metrics.
        """
        state = vars(g._get_current_object())
        before = dict(state)
        tries = 0

        def dispatch() -> Response:
            nonlocal tries
            if tries:
                state.clear()
                state.update(before)
                metrics.rerun()
            tries += 1
            return Flask.full_dispatch_request(self)

        return current_services().reserver.run_scoped(dispatch)
