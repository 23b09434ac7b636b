"""The OpenAPI document (``/api/v1/openapi.json``) and the API explorer (``/api/docs``).

The explorer is a small page shipped in this package (``static/``): it reads the document,
lists every operation by area and sends requests from the browser. It loads nothing from other
hosts, so it works offline and under a strict Content-Security-Policy.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, json
from reserver.flask.api import operations
from reserver.flask.api.system import app_version
from reserver.flask.openapi import document
from reserver.flask.services import Services

EXTENSION = "reserver.openapi"
STATIC = {
    "explorer.js": "text/javascript",
    "explorer.css": "text/css",
}
bp = Blueprint("docs", __name__)


@bp.get("/api/v1/openapi.json")
def openapi_json() -> Response:
    """The OpenAPI 3.1 document of this server."""
    return Response(json.dumps(current_app.extensions[EXTENSION]), mimetype="application/json")


@bp.get("/api/docs")
def explorer() -> Response:
    """The interactive API explorer."""
    return _static("explorer.html", "text/html")


@bp.get("/api/docs/<name>")
def explorer_asset(name: str) -> Response:
    """The explorer's script and style sheet."""
    if name not in STATIC:
        abort(404)
    return _static(name, STATIC[name])


def _static(name: str, mimetype: str) -> Response:
    body = files("reserver.flask").joinpath("static", name).read_bytes()
    response = Response(body, mimetype=mimetype)
    response.headers["Cache-Control"] = "no-cache"
    return response


def build(services: Services) -> dict[str, Any]:
    """The OpenAPI document of every operation."""
    return document(operations(), services.converter, app_version())


def register(app: Flask, services: Services) -> list[str]:
    """Serve the document and the explorer; returns their endpoints (exempt from limits)."""
    app.extensions[EXTENSION] = build(services)
    app.register_blueprint(bp)
    return [f"{bp.name}.{view.__name__}" for view in (openapi_json, explorer, explorer_asset)]
