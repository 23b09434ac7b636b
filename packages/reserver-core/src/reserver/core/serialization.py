"""The one JSON converter: every adapter turns core models into JSON and back through it.

Datetimes travel as ISO 8601 with an offset (naive ones are refused), durations as seconds,
dates and times as ISO strings; unknown fields are refused (no mass assignment).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

import cattrs
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError
from cattrs.preconf.json import JsonConverter
from cattrs.preconf.json import make_converter as make_json_converter

from reserver.core.commands import UNSET
from reserver.core.errors import ValidationError
from reserver.core.spans import NAIVE_HINT

T = TypeVar("T")


def _datetime(value: object, _: type) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not an ISO 8601 date-time") from exc
    else:
        raise ValueError("expected an ISO 8601 date-time string")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(NAIVE_HINT)
    return parsed.astimezone(UTC)


def _timedelta(value: object, _: type) -> timedelta:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("expected a duration in seconds")
    return timedelta(seconds=value)


def _date(value: object, _: type) -> date:
    if not isinstance(value, str):
        raise ValueError("expected an ISO 8601 date, e.g. 2026-01-10")
    return date.fromisoformat(value)


def _time(value: object, _: type) -> time:
    if not isinstance(value, str):
        raise ValueError("expected a local time, e.g. 09:00")
    return time.fromisoformat(value)


def _seconds(value: timedelta) -> int | float:
    seconds = value.total_seconds()
    return int(seconds) if seconds.is_integer() else seconds


MAX_INTEGER = 2**53 - 1


def _boolean(value: object, _: type) -> bool:
    if not isinstance(value, bool):
        raise ValueError("expected true or false")
    return value


def _integer(value: object, _: type) -> int:
    """A JSON integer within the range every client and database can hold (I-JSON, RFC 7493)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("expected a whole number")
    if abs(value) > MAX_INTEGER:
        raise ValueError(f"must be between -{MAX_INTEGER} and {MAX_INTEGER}")
    return value


def _unset_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType) and type(
        UNSET
    ) in typing.get_args(tp)


def make_converter() -> JsonConverter:
    """Return a converter with Reserver's hooks; build one per composition root.

    Patches (``X | UNSET`` fields) read a present key as a value to set; integers must be JSON
    integers within +-(2**53 - 1) and booleans real booleans.
    """
    converter = make_json_converter(forbid_extra_keys=True)

    def unset_factory(tp: Any) -> Callable[[Any, Any], Any]:
        rest = tuple(a for a in typing.get_args(tp) if a is not type(UNSET))
        target: Any = rest[0] if len(rest) == 1 else typing.Union[rest]  # noqa: UP007
        return lambda value, _: converter.structure(value, target)

    converter.register_structure_hook_factory(_unset_union, unset_factory)
    converter.register_structure_hook(int, _integer)
    converter.register_structure_hook(bool, _boolean)  # bool subclasses int: dispatch it apart
    converter.register_structure_hook(datetime, _datetime)
    converter.register_unstructure_hook(datetime, lambda v: v.isoformat())
    converter.register_structure_hook(timedelta, _timedelta)
    converter.register_unstructure_hook(timedelta, _seconds)
    converter.register_structure_hook(date, _date)
    converter.register_unstructure_hook(date, lambda v: v.isoformat())
    converter.register_structure_hook(time, _time)
    converter.register_unstructure_hook(time, lambda v: v.isoformat("minutes"))
    return converter


def structure(converter: cattrs.Converter, data: Any, cls: type[T]) -> T:
    """Structure ``data`` as ``cls``, turning every failure into one ``ValidationError``."""
    try:
        return converter.structure(data, cls)
    except ValidationError:
        raise
    except (ClassValidationError, IterableValidationError) as exc:
        raise ValidationError.merge(_field_errors(exc, "")) from exc
    except ForbiddenExtraKeysError as exc:
        raise ValidationError.merge(
            ValidationError.for_field(k, "unknown field") for k in sorted(exc.extra_fields)
        ) from exc
    except AttributeError as exc:  # cattrs reading a non-object as a class
        raise ValidationError.for_field("body", "expected a JSON object") from exc
    except (ValueError, TypeError, KeyError) as exc:
        raise ValidationError.for_field("body", str(exc) or type(exc).__name__) from exc


def _field_errors(exc: BaseException, prefix: str) -> list[ValidationError]:
    if isinstance(exc, ForbiddenExtraKeysError):
        return [
            ValidationError.for_field(f"{prefix}{k}", "unknown field") for k in exc.extra_fields
        ]
    if isinstance(exc, ValidationError):
        return [ValidationError.for_field(f"{prefix}{k}", v) for k, v in exc.fields.items()] or [
            ValidationError.for_field(prefix.rstrip(".") or "body", str(exc))
        ]
    if isinstance(exc, ClassValidationError | IterableValidationError):
        found: list[ValidationError] = []
        for sub in exc.exceptions:
            name = _note_name(sub)
            found += _field_errors(sub, f"{prefix}{name}." if name else prefix)
        return found
    if isinstance(exc, KeyError):
        return [ValidationError.for_field(prefix.rstrip(".") or "body", "is required")]
    return [ValidationError.for_field(prefix.rstrip(".") or "body", str(exc) or type(exc).__name__)]


def _note_name(exc: BaseException) -> str:
    for note in getattr(exc, "__notes__", ()):
        name = getattr(note, "name", None)
        if name is not None:
            return str(name)
        index = getattr(note, "index", None)
        if index is not None:
            return str(index)
    return ""
