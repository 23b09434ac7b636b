"""The OpenAPI 3.1 document, generated from the operations and the attrs classes they use.

Each attrs class becomes a component whose properties come from its fields and type hints;
generic pages are named after their items (``ResourcePage``). Every operation lists its path,
query and header parameters, its body, its success answer and the problems it can answer.
"""

from __future__ import annotations

import enum
import inspect
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

import attrs
from cattrs.preconf.json import JsonConverter

from flask import Response
from reserver.core.commands import UNSET
from reserver.core.errors import Alternative, Violation
from reserver.flask.api.routing import Operation

PROBLEM = {"$ref": "#/components/schemas/Problem"}
TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"
_SEQUENCES = (list, tuple, set, frozenset, Sequence, typing.AbstractSet, Iterable)
_MAPPINGS = (dict, Mapping)
_STATUS_TEXT = {
    400: "The body is not valid JSON",
    401: "No valid credentials",
    403: "The caller may see this but not do it",
    404: "No such object, or the caller may not see it",
    409: "Refused: it conflicts with the current state (violations, alternatives)",
    412: "If-Match names a version that is not the current one",
    413: "The body is too large",
    415: "The body is not application/json",
    422: "The request is not valid (errors names each field)",
    428: "If-Match is required",
    429: "Too many requests (Retry-After says when to retry)",
    503: "The database is unavailable; retry shortly",
}
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An RFC 9457 problem; extra members depend on the problem.",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
        "violations": {"type": "array", "items": {"$ref": "#/components/schemas/Violation"}},
        "alternatives": {"type": "array", "items": {"$ref": "#/components/schemas/Alternative"}},
    },
}


def _bare(tp: Any) -> Any:
    while hasattr(tp, "__supertype__"):  # NewType ids are plain strings on the wire
        tp = tp.__supertype__
    return tp


def _substitute(tp: Any, mapping: Mapping[Any, Any]) -> Any:
    if isinstance(tp, typing.TypeVar):
        return mapping.get(tp, Any)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is None or not args:
        return tp
    new = tuple(a if a is Ellipsis else _substitute(a, mapping) for a in args)
    if origin in (typing.Union, types.UnionType):
        return typing.Union[new]  # noqa: UP007
    return origin[new]


class Schemas:
    """JSON Schemas of Python types; attrs classes are collected as components."""

    def __init__(self, converter: JsonConverter) -> None:
        self.components: dict[str, dict[str, Any]] = {
            "Problem": PROBLEM_SCHEMA,
        }
        self._owners: dict[str, Any] = {}
        self._converter = converter

    def json(self, value: object) -> Any:
        """``value`` as it travels in JSON."""
        return self._converter.unstructure(value)

    def of(self, tp: Any) -> dict[str, Any]:
        """The schema of ``tp`` (a ``$ref`` for attrs classes)."""
        tp = _bare(tp)
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if tp is Any:
            return {}
        if origin in (typing.Union, types.UnionType):
            return self._union(args)
        if origin is not None and attrs.has(origin):
            return self._ref(tp, origin, args)
        if attrs.has(tp):
            return self._ref(tp, tp, ())
        if origin in _SEQUENCES or tp in _SEQUENCES:
            item = args[0] if args else Any
            return {"type": "array", "items": self.of(item)}
        if origin in _MAPPINGS:
            return {"type": "object", "additionalProperties": self.of(args[1])}
        return self._scalar(tp)

    def _scalar(self, tp: Any) -> dict[str, Any]:
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return {"type": "string", "enum": [m.value for m in tp]}
        simple: dict[Any, dict[str, Any]] = {
            str: {"type": "string"},
            bool: {"type": "boolean"},
            int: {"type": "integer"},
            float: {"type": "number"},
            datetime: {"type": "string", "format": "date-time"},
            date: {"type": "string", "format": "date"},
            time: {"type": "string", "pattern": TIME_PATTERN, "description": "local time HH:MM"},
            timedelta: {"type": "number", "minimum": 0, "description": "seconds"},
            type(None): {"type": "null"},
        }
        if tp in simple:
            return dict(simple[tp])
        raise TypeError(f"no JSON Schema for {tp!r}")

    def _union(self, args: tuple[Any, ...]) -> dict[str, Any]:
        members = [a for a in args if a is not type(UNSET)]
        if len(members) == 1:
            return self.of(members[0])
        return {"anyOf": [self.of(a) for a in members]}

    def _ref(self, tp: Any, cls: type, args: tuple[Any, ...]) -> dict[str, Any]:
        name = cls.__name__ if not args else "".join(_bare(a).__name__ for a in args) + cls.__name__
        owner = self._owners.setdefault(name, tp)
        if owner != tp:
            raise TypeError(f"two schemas are named {name!r}: {owner!r} and {tp!r}")
        if name not in self.components:
            self.components[name] = {}  # placeholder: recursive classes refer to themselves
            self.components[name] = self._object(cls, args)
        return {"$ref": f"#/components/schemas/{name}"}

    def _object(self, cls: type, args: tuple[Any, ...]) -> dict[str, Any]:
        hints = typing.get_type_hints(cls)
        params = getattr(cls, "__parameters__", ())
        mapping = dict(zip(params, args, strict=False))
        properties: dict[str, Any] = {}
        required: list[str] = []
        for field in attrs.fields(cls):
            schema = self.of(_substitute(hints[field.name], mapping))
            default = field.default
            if default is attrs.NOTHING:
                required.append(field.name)
            elif not isinstance(default, attrs.Factory) and default is not UNSET:  # type: ignore[arg-type]
                schema = {**schema, "default": self.json(default)}
            properties[field.name] = schema
        found: dict[str, Any] = {
            "type": "object",
            "properties": properties,
            "additionalProperties": False,
        }
        if required:
            found["required"] = required
        doc = inspect.getdoc(cls)
        if doc and not doc.startswith(f"{cls.__name__}("):
            found["description"] = doc
        return found


def _path(op: Operation, prefix: str) -> str:
    rule = op.rule
    for name in op.path_params:
        rule = rule.replace(f"<{name}>", "{" + name + "}")
    return prefix + rule


def _parameters(op: Operation, schemas: Schemas) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = [
        {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
        for p in op.path_params
    ]
    if op.query is not None:
        hints = typing.get_type_hints(op.query)
        for field in attrs.fields(op.query):
            schema = schemas.of(hints[field.name])
            if field.default is not attrs.NOTHING and field.default is not None:
                schema = {**schema, "default": schemas.json(field.default)}
            found.append(
                {
                    "name": field.name,
                    "in": "query",
                    "required": field.default is attrs.NOTHING,
                    "schema": schema,
                }
            )
    if op.if_match:
        found.append(
            {
                "name": "If-Match",
                "in": "header",
                "required": True,
                "description": "The ETag of the version being changed",
                "schema": {"type": "string"},
            }
        )
    if op.idempotent:
        found.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "A unique key: a retry with it gets the first answer again",
                "schema": {"type": "string", "minLength": 1, "maxLength": 200},
            }
        )
    return found


def _problem_statuses(op: Operation, api: bool) -> set[int]:
    statuses = set(op.errors)
    if op.body is not None:
        statuses |= {400, 404, 413, 415, 422}  # 404: an object the body names
    if op.query is not None or op.path_params:
        statuses.add(422)
    if op.authenticated:
        statuses |= {401, 403}
    if op.path_params:
        statuses.add(404)
    if op.if_match:
        statuses |= {412, 428}
    if op.idempotent:
        statuses |= {409, 422}
    if api:
        statuses |= {429, 503}
    return statuses


def _responses(op: Operation, schemas: Schemas, api: bool) -> dict[str, Any]:
    success: dict[str, Any] = {"description": op.summary}
    if op.response is Response:
        success["content"] = {"text/plain": {"schema": {"type": "string"}}}
    elif op.response is not None:
        success["content"] = {"application/json": {"schema": schemas.of(op.response)}}
    headers = {}
    if op.etag:
        headers["ETag"] = {"schema": {"type": "string"}, "description": "The object's version"}
    if op.location:
        headers["Location"] = {"schema": {"type": "string"}, "description": "The new object"}
    if headers:
        success["headers"] = headers
    responses: dict[str, Any] = {str(op.status): success}
    for status in sorted(_problem_statuses(op, api)):
        responses[str(status)] = {
            "description": _STATUS_TEXT.get(status, "Problem"),
            "content": {"application/problem+json": {"schema": PROBLEM}},
        }
    return responses


def document(
    operations: Iterable[tuple[str, Operation]], converter: JsonConverter, version: str
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``operations`` (each with its URL prefix)."""
    schemas = Schemas(converter)
    schemas.of(Violation)
    schemas.of(Alternative)
    paths: dict[str, dict[str, Any]] = {}
    for prefix, op in operations:
        api = prefix.startswith("/api/")
        entry: dict[str, Any] = {
            "operationId": op.name,
            "summary": op.summary,
            "tags": [op.tag],
            "parameters": _parameters(op, schemas),
            "responses": _responses(op, schemas, api),
        }
        if op.description:
            entry["description"] = op.description
        if op.body is not None:
            body = {"schema": schemas.of(op.body)}
            content = {"application/json": body}
            if op.form:
                content["application/x-www-form-urlencoded"] = body
            entry["requestBody"] = {"required": op.body_required, "content": content}
        if op.authenticated:
            entry["security"] = [{"bearer": []}]
        paths.setdefault(_path(op, prefix), {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Reserver API",
            "version": version,
            "description": "Book rooms, desks, labs and equipment without double bookings.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
