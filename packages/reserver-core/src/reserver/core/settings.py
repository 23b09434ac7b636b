"""Settings the core needs; adapters read their configuration and pass these in."""

from __future__ import annotations

from datetime import timedelta

import attrs

from reserver.core.models import BookingPolicy
from reserver.core.spans import zone


def _zone_name(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    zone(value, attribute.name)


def _step(instance: object, attribute: attrs.Attribute[timedelta], value: timedelta) -> None:
    if value < timedelta(minutes=1):
        raise ValueError("slot_step must be at least one minute")


@attrs.frozen
class CoreSettings:
    """Defaults for resources that set nothing themselves."""

    default_timezone: str = attrs.field(default="UTC", validator=_zone_name)
    default_policy: BookingPolicy = BookingPolicy()
    slot_step: timedelta = attrs.field(default=timedelta(minutes=15), validator=_step)
    alternatives: int = 3
    search_days: int = 14
