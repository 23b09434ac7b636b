"""Settings the core needs; adapters read their configuration and pass these in."""

from __future__ import annotations

from datetime import timedelta

import attrs

from reserver.core.models import BookingPolicy
from reserver.core.spans import zone


def _zone_name(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    zone(value, attribute.name)


@attrs.frozen
class CoreSettings:
    """Defaults for resources that set nothing themselves."""

    default_timezone: str = attrs.field(default="UTC", validator=_zone_name)
    default_policy: BookingPolicy = BookingPolicy()
    slot_step: timedelta = timedelta(minutes=15)
    alternatives: int = 3
    search_days: int = 14
