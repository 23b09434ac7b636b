"""Typed identifiers; opaque strings, new ones are random and unguessable."""

from __future__ import annotations

import secrets
from typing import NewType

ResourceId = NewType("ResourceId", str)
GroupId = NewType("GroupId", str)
ReservationId = NewType("ReservationId", str)
SeriesId = NewType("SeriesId", str)
BookingId = NewType("BookingId", str)
BlackoutId = NewType("BlackoutId", str)
UserId = NewType("UserId", str)
EventId = NewType("EventId", str)


def new_id() -> str:
    """Return a fresh random identifier (128 bits, hex)."""
    return secrets.token_hex(16)
