"""Reading a request: JSON bodies and query strings into attrs classes, ``If-Match`` versions.

Everything goes through the core converter's ``structure``, so unknown fields are refused and
every failure is one ``ValidationError`` naming each bad field.
"""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

import attrs
from werkzeug.exceptions import PreconditionFailed, PreconditionRequired, UnsupportedMediaType

from flask import request
from reserver.core.errors import ValidationError
from reserver.core.ids import GroupId
from reserver.core.queries import ResourceQuery
from reserver.core.serialization import structure
from reserver.flask.services import current_services

T = TypeVar("T")
_COLLECTIONS = (list, tuple, set, frozenset, typing.Sequence, typing.AbstractSet)


FORM = "application/x-www-form-urlencoded"


def json_body(cls: type[T], *, form: bool = False) -> T:
    """The request's JSON object (or, with ``form``, its form fields) read as ``cls``.

    Raises:
        UnsupportedMediaType: the body is not ``application/json`` (415).
        BadRequest: the body is not valid JSON (400).
        ValidationError: the body is not a JSON object, or does not fit ``cls`` (422).
    """
    if form and request.mimetype == FORM:
        return structure(current_services().converter, request.form.to_dict(), cls)
    if not request.is_json:
        raise UnsupportedMediaType("send the body as application/json")
    data = request.get_json()  # malformed JSON: 400 problem
    if not isinstance(data, dict):
        raise ValidationError.for_field("body", "expected a JSON object")
    return structure(current_services().converter, data, cls)


def strip_optional(tp: Any) -> Any:
    """``X`` for ``X | None``; anything else as it is."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        rest = [a for a in typing.get_args(tp) if a is not type(None)]
        return rest[0] if len(rest) == 1 else tp
    return tp


def _is_collection(tp: Any) -> bool:
    origin = typing.get_origin(tp) or tp
    return origin in _COLLECTIONS


def _scalar(tp: Any, raw: str, name: str) -> object:
    """One query value as ``tp`` expects it before structuring."""
    if tp is bool:
        lowered = raw.lower()
        if lowered in {"true", "1", "yes"}:
            return True
        if lowered in {"false", "0", "no"}:
            return False
        raise ValidationError.for_field(name, "expected true or false")
    if tp is int:
        try:
            number = int(raw)
        except ValueError:
            raise ValidationError.for_field(name, "expected a whole number") from None
        if abs(number) >= 2**53:
            raise ValidationError.for_field(name, "is out of range")
        return number
    if tp is datetime:
        # An unencoded '+' in a query string arrives as a space: put the offset back.
        head, sep, tail = raw.rpartition(" ")
        return f"{head}+{tail}" if sep and tail[:2].isdigit() else raw
    return raw


@functools.cache
def _query_fields(cls: type) -> tuple[dict[str, Any], frozenset[str]]:
    """The type hints and field names of a query class (read once per class)."""
    return typing.get_type_hints(cls), frozenset(a.name for a in attrs.fields(cls))


def query_args(cls: type[T]) -> T:
    """The request's query string read as ``cls`` (flat attrs fields; lists repeat or use commas).

    Raises:
        ValidationError: an unknown parameter, or a value that does not fit (422).
    """
    hints, known = _query_fields(cls)  # type: ignore[arg-type]  # classes are hashable
    unknown = sorted(set(request.args) - known)
    if unknown:
        raise ValidationError.merge(
            ValidationError.for_field(name, "unknown query parameter") for name in unknown
        )
    data: dict[str, object] = {}
    problems: list[ValidationError] = []
    for name in known & set(request.args):
        tp = strip_optional(hints[name])
        try:
            if _is_collection(tp):
                (item,) = typing.get_args(tp)[:1] or (str,)
                values = [v for raw in request.args.getlist(name) for v in raw.split(",") if v]
                data[name] = [_scalar(item, v, name) for v in values]
            else:
                data[name] = _scalar(tp, request.args[name], name)
        except ValidationError as exc:
            problems.append(exc)
    if problems:
        raise ValidationError.merge(problems)
    return structure(current_services().converter, data, cls)


@contextmanager
def fields_named(names: Mapping[str, str]) -> Iterator[None]:
    """Report a core ``ValidationError`` under the request's field names (``new`` to ...)."""
    try:
        yield
    except ValidationError as exc:
        if not set(exc.fields) & set(names):
            raise
        renamed = {names.get(f, f): reason for f, reason in exc.fields.items()}
        raise ValidationError.merge(
            ValidationError.for_field(f, reason) for f, reason in renamed.items()
        ) from exc


def etag_of(version: int) -> str:
    """The strong entity tag of an object's ``version``."""
    return f'"{version}"'


def if_match_version() -> int:
    """The version that the request's ``If-Match`` names.

    Raises:
        PreconditionRequired: no ``If-Match`` (428): edits must say which version they change.
        PreconditionFailed: ``If-Match`` names no version this server issued (412).
    """
    header = request.headers.get("If-Match")
    if header is None:
        raise PreconditionRequired(
            "send If-Match with the ETag you read, so that no one else's change is overwritten"
        )
    tag = header.strip()
    if tag.startswith('"') and tag.endswith('"') and tag[1:-1].isdigit() and len(tag) < 20:
        return int(tag[1:-1])
    raise PreconditionFailed(f"If-Match {header[:40]!r} does not match the current ETag")


class _ResourceFilters(typing.Protocol):
    """The resource filters that listing and finding share in their query strings."""

    @property
    def tags(self) -> typing.Sequence[str]: ...
    @property
    def group_id(self) -> typing.Sequence[str]: ...
    @property
    def min_capacity(self) -> int | None: ...
    @property
    def features(self) -> typing.Sequence[str]: ...
    @property
    def location(self) -> str | None: ...
    @property
    def kind(self) -> str | None: ...
    @property
    def q(self) -> str | None: ...


def resource_query(filters: _ResourceFilters, **extra: Any) -> ResourceQuery:
    """Translate query-string filters into the core's ``ResourceQuery``."""
    return ResourceQuery(
        tags_all=frozenset(filters.tags),
        group_ids=frozenset(GroupId(g) for g in filters.group_id) or None,
        min_capacity=filters.min_capacity,
        features_all=frozenset(filters.features),
        location=filters.location,
        kind=filters.kind,
        text=filters.q,
        **extra,
    )
