"""Filters and keyset pagination that every storage applies on its side."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Generic, TypeVar

import attrs

from reserver.core.errors import ValidationError
from reserver.core.ids import BookingId, GroupId, ResourceId, SeriesId, UserId
from reserver.core.models import ReservationStatus, ResourceStatus
from reserver.core.spans import TimeSpan

T = TypeVar("T")
MAX_PAGE = 500


def check_limit(value: object) -> int:
    """Return ``value`` if it is a page size (1 to ``MAX_PAGE``); else ``ValidationError``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PAGE:
        raise ValidationError.for_field("limit", f"must be 1 to {MAX_PAGE}")
    return value


def _limit(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    check_limit(value)


@attrs.frozen
class PageRequest:
    """At most ``limit`` items after the position that ``cursor`` (from a previous page) marks."""

    limit: int = attrs.field(default=50, validator=_limit)
    cursor: str | None = None


@attrs.frozen
class Page(Generic[T]):
    """One page of results; ``next_cursor`` is ``None`` on the last page."""

    items: tuple[T, ...]
    next_cursor: str | None = None


def encode_cursor(*key: str) -> str:
    """Return an opaque cursor for the sort key of the last item of a page."""
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, width: int) -> tuple[str, ...]:
    """Return the sort key inside ``cursor``; raise ``ValidationError`` if it was tampered with."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise ValidationError.for_field("cursor", "is not a cursor this server issued") from exc
    if not isinstance(key, list) or len(key) != width or not all(isinstance(k, str) for k in key):
        raise ValidationError.for_field("cursor", "is not a cursor this server issued")
    return tuple(key)


def page_of(items: Sequence[T], limit: int, key: tuple[str, ...] | None) -> Page[T]:
    """Build a page from up to ``limit + 1`` fetched items; ``key`` is the last kept item's key."""
    if len(items) > limit and key is not None:
        return Page(tuple(items[:limit]), encode_cursor(*key))
    return Page(tuple(items[:limit]))


@attrs.frozen
class ResourceQuery:
    """Which resources to list; every given filter must hold. Sorted by name, then id."""

    statuses: frozenset[ResourceStatus] | None = None
    tags_all: frozenset[str] = frozenset()
    group_ids: frozenset[GroupId] | None = None
    min_capacity: int | None = None
    features_all: frozenset[str] = frozenset()
    location: str | None = None
    kind: str | None = None
    text: str | None = None
    ids: frozenset[ResourceId] | None = None
    include_retired: bool = False


@attrs.frozen
class ReservationQuery:
    """Which reservations to list; every given filter must hold. Sorted by start, then id."""

    holder: UserId | None = None
    resource_ids: frozenset[ResourceId] | None = None
    statuses: frozenset[ReservationStatus] | None = None
    overlapping: TimeSpan | None = None
    series_id: SeriesId | None = None
    booking_id: BookingId | None = None


def resource_sort_key(name: str, id: str) -> tuple[str, str]:
    """The keyset of resource listings: case-folded name, then id."""
    return (name.casefold(), id)
