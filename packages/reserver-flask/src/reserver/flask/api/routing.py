"""Typed operations: a view's signature says what it reads, its return type what it answers.

A view is a plain function::

    @api.operation("PATCH", "/resources/<resource_id>", etag=True)
    def update_resource(principal: Principal, resource_id: str, version: int,
                        body: ResourcePatch) -> Resource:
        '''Change a resource.'''
        return core().resources.update(principal, ResourceId(resource_id), body,
                                       expected_version=version)

Parameters are filled by name: ``principal`` (the authenticated caller; 401 without one),
``body`` (the JSON body as its annotated attrs class), ``query`` (the query string as its attrs
class), ``version`` (from ``If-Match``; 428 without it, 412 when stale) and the path's own
variables. The return value is rendered through the converter as the annotated type; ``None``
answers 204. The same declarations drive routing and the OpenAPI document, so they cannot drift.
"""

from __future__ import annotations

import functools
import inspect
import re
import typing
from collections.abc import Callable
from typing import Any

import attrs
from werkzeug.exceptions import HTTPException, PreconditionFailed

from flask import Blueprint, Response, json, request
from reserver.core.errors import ConflictError, ReserverError, Rule
from reserver.flask import problems
from reserver.flask.api.inputs import (
    etag_of,
    if_match_version,
    json_body,
    query_args,
    strip_optional,
)
from reserver.flask.api.replay import idempotency_key, run_once
from reserver.flask.auth import current_principal
from reserver.flask.services import current_services

SPECIAL = frozenset({"principal", "body", "query", "version"})
_VARIABLE = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")


@attrs.frozen
class Operation:
    """One documented route of the API."""

    method: str
    rule: str
    name: str
    tag: str
    summary: str
    description: str
    status: int
    response: Any
    body: type | None
    body_required: bool
    form: bool
    query: type | None
    path_params: tuple[str, ...]
    authenticated: bool
    if_match: bool
    etag: bool
    idempotent: bool
    location: str | None
    errors: frozenset[int]
    rate_limit: str | None
    view: Callable[..., Response]

    @property
    def endpoint(self) -> str:
        """The Flask endpoint name (blueprint-qualified at registration)."""
        return self.name


class Api:
    """A blueprint and the operations declared on it."""

    def __init__(self, name: str, tag: str) -> None:
        self.blueprint = Blueprint(name, __name__)
        self.tag = tag
        self.operations: list[Operation] = []

    def operation(
        self,
        method: str,
        rule: str,
        *,
        status: int = 200,
        etag: bool = False,
        idempotent: bool = False,
        location: str | None = None,
        errors: tuple[int, ...] = (),
        rate_limit: str | None = None,
        form: bool = False,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Declare ``view`` as the handler of ``method rule`` (see the module docstring).

        ``rate_limit="auth"`` puts the strict sign-in limit on it; ``form`` also accepts
        ``application/x-www-form-urlencoded`` bodies.
        """

        def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
            options = Options(
                status, etag, idempotent, location, frozenset(errors), rate_limit, form
            )
            op = _describe(self, view, method, rule, options)
            self.operations.append(op)
            self.blueprint.add_url_rule(rule, view.__name__, op.view, methods=[method])
            return view

        return decorate


@attrs.frozen
class Options:
    """How an operation answers, beyond what its signature says."""

    status: int
    etag: bool
    idempotent: bool
    location: str | None
    errors: frozenset[int]
    rate_limit: str | None
    form: bool


def _describe(
    api: Api, view: Callable[..., Any], method: str, rule: str, options: Options
) -> Operation:
    hints = typing.get_type_hints(view)
    names = list(inspect.signature(view).parameters)
    path_params = tuple(_VARIABLE.findall(rule))
    stray = set(names) - SPECIAL - set(path_params)
    if stray or set(path_params) - set(names):
        raise TypeError(f"{view.__name__}: parameters {names} do not match {rule!r}")
    doc = inspect.getdoc(view) or view.__name__
    summary, _, description = doc.partition("\n")
    response = hints.get("return")
    op = Operation(
        method=method,
        rule=rule,
        name=view.__name__,
        tag=api.tag,
        summary=summary.strip().rstrip("."),
        description=description.strip(),
        status=204 if response is type(None) else options.status,
        response=None if response is type(None) else response,
        body=strip_optional(hints["body"]) if "body" in names else None,
        body_required="body" in names and strip_optional(hints["body"]) is hints["body"],
        query=hints.get("query") if "query" in names else None,
        path_params=path_params,
        authenticated="principal" in names,
        if_match="version" in names,
        form=options.form,
        etag=options.etag,
        idempotent=options.idempotent,
        location=options.location,
        errors=options.errors,
        rate_limit=options.rate_limit,
        view=lambda **_: Response(),
    )
    return attrs.evolve(op, view=_handler(op, view))


def _handler(op: Operation, view: Callable[..., Any]) -> Callable[..., Response]:
    @functools.wraps(view)
    def handle(**path: str) -> Response:
        arguments: dict[str, Any] = dict(path)
        if op.authenticated:
            arguments["principal"] = current_principal()
        key = idempotency_key() if op.idempotent else None

        def run() -> Response:
            try:
                if op.query is not None:
                    arguments["query"] = query_args(op.query)
                if op.body is not None:
                    empty = not op.body_required and not request.get_data()
                    arguments["body"] = None if empty else json_body(op.body, form=op.form)
                if op.if_match:
                    arguments["version"] = if_match_version()
                return render(op, _call(op, view, arguments))
            except ReserverError as exc:
                return problems.from_domain(exc)
            except HTTPException as exc:
                answer = problems.from_http(exc)
                if isinstance(answer, HTTPException):
                    raise
                return answer

        if key is None:
            return run()
        return run_once(arguments["principal"].id, key, run)

    return handle


def _call(op: Operation, view: Callable[..., Any], arguments: dict[str, Any]) -> Any:
    try:
        return view(**arguments)
    except ConflictError as exc:
        if op.if_match and Rule.VERSION in exc.rules:
            raise PreconditionFailed(f"If-Match is stale: {exc}") from exc
        raise


def render(op: Operation, result: Any) -> Response:
    """The view's result as JSON of its declared type, with ``ETag`` and ``Location``."""
    if isinstance(result, Response):
        return result
    if op.response is None:
        return Response(status=204)
    data = current_services().converter.unstructure(result, unstructure_as=op.response)
    response = Response(json.dumps(data), status=op.status, mimetype="application/json")
    version = getattr(result, "version", None)
    if op.etag and isinstance(version, int):
        response.headers["ETag"] = etag_of(version)
    if op.location is not None:
        response.headers["Location"] = request.script_root + op.location.format(
            id=getattr(result, "id", "")
        )
    return response
