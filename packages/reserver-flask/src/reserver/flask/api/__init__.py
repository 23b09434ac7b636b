"""The JSON API: every area's operations, mounted under ``/api/v1`` (probes at the root)."""

from __future__ import annotations

from reserver.flask.api import (
    accounts,
    admin,
    availability,
    groups,
    integrations,
    quotas,
    reservations,
    resources,
    schedules,
    sessions,
    system,
)
from reserver.flask.api.routing import Api, Operation

PREFIX = "/api/v1"
MOUNTS: tuple[tuple[str, Api], ...] = (
    (PREFIX, resources.api),
    (PREFIX, groups.api),
    (PREFIX, schedules.hours_api),
    (PREFIX, schedules.blackouts_api),
    (PREFIX, availability.api),
    (PREFIX, reservations.api),
    (PREFIX, quotas.api),
    (PREFIX, sessions.api),
    (PREFIX, accounts.api),
    (PREFIX, admin.api),
    (PREFIX, admin.roles_api),
    (PREFIX, integrations.keys_api),
    (PREFIX, integrations.oauth_api),
    ("", system.api),
)


def operations() -> list[tuple[str, Operation]]:
    """Every operation with the prefix it is mounted under."""
    return [(prefix, op) for prefix, api in MOUNTS for op in api.operations]


__all__ = ["MOUNTS", "PREFIX", "Api", "Operation", "operations"]
