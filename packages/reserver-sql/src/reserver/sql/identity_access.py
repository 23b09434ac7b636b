"""Access control and system state: custom roles, per-resource grants, throttling, settings."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from reserver.core.errors import NotFoundError
from reserver.core.identity.models import Action, CustomRole, Grant
from reserver.core.ids import ResourceId
from reserver.sql.db import Db
from reserver.sql.identity_mapping import grant_from_row, grant_values, role_from_row, role_values
from reserver.sql.identity_tables import custom_roles, grants, settings, throttle_failures
from reserver.sql.identity_tokens import utc
from reserver.sql.tables import IDENTITY
from reserver.sql.unique import Key, insert_new

_R = custom_roles.c
_G = grants.c
_F = throttle_failures.c
_S = settings.c
# Built once: building statements per call costs more than running them (bench/RESULTS.md).
_ROLE_BY_NAME = sa.select(custom_roles).where(_R.name == sa.bindparam("name"))
_GRANTS_OF_RESOURCE = sa.select(grants).where(_G.resource_id == sa.bindparam("resource_id"))
# ``record`` forgets a key's failures older than this before its newest one, so that one key
# under attack cannot grow without bound between two ``prune`` runs. It is far longer than any
# throttle window (a day by default), so no backoff decision changes.
FAILURE_RETENTION = timedelta(days=30)


def _grant_order(grant: Grant) -> tuple[str, str, str]:
    return (grant.resource_id, grant.action.value, grant.subject)


class SqlRoleRepository:
    """Custom roles by their case-sensitive name."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def add(self, role: CustomRole) -> None:
        """Insert ``role``; a taken name is ``ConflictError``."""
        keys = (Key(("name",), "name"),)
        subject = f"role {role.name!r}"
        insert_new(self._db, custom_roles, role_values(role), subject=subject, keys=keys)

    def get(self, name: str) -> CustomRole:
        """Return the role, or raise ``NotFoundError``."""
        subject = f"role {name!r}"
        row = self._db.first(_ROLE_BY_NAME, {"name": name}, subject=subject)
        if row is None:
            raise NotFoundError(f"{subject} not found")
        return role_from_row(row)

    def update(self, role: CustomRole) -> None:
        """Replace the role's permissions and description, or raise ``NotFoundError``."""
        subject = f"role {role.name!r}"
        values = role_values(role)
        statement = (
            custom_roles.update()
            .where(_R.name == role.name)
            .values(permissions=values["permissions"], description=values["description"])
        )
        if self._db.execute(statement, subject=subject).rowcount == 0:
            raise NotFoundError(f"{subject} not found")

    def all(self) -> Sequence[CustomRole]:
        """Return every role, by name (code-point order, whatever the database's collation)."""
        return self._db.cached_list(("roles",), self._all, counter=IDENTITY)

    def _all(self) -> tuple[CustomRole, ...]:
        rows = self._db.rows(sa.select(custom_roles), subject="roles")
        return tuple(sorted((role_from_row(row) for row in rows), key=lambda role: role.name))

    def delete(self, name: str) -> None:
        """Remove the role, or raise ``NotFoundError``."""
        subject = f"role {name!r}"
        statement = custom_roles.delete().where(_R.name == name)
        if self._db.execute(statement, subject=subject).rowcount == 0:
            raise NotFoundError(f"{subject} not found")


class SqlGrantRepository:
    """Per-resource grants, one row per (resource, subject, action)."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def add(self, grant: Grant) -> None:
        """Insert ``grant``; the same grant stored already is ``ConflictError``."""
        keys = (Key(("resource_id", "subject", "action"), "grant"),)
        subject = f"grant of {grant.action.value!r} on {grant.resource_id!r} to {grant.subject!r}"
        insert_new(self._db, grants, grant_values(grant), subject=subject, keys=keys)

    def delete(self, grant: Grant) -> None:
        """Remove the grant (whatever its ``created_at``), or raise ``NotFoundError``."""
        subject = f"grant of {grant.action.value!r} on {grant.resource_id!r} to {grant.subject!r}"
        statement = grants.delete().where(
            _G.resource_id == grant.resource_id,
            _G.subject == grant.subject,
            _G.action == grant.action.value,
        )
        if self._db.execute(statement, subject=subject).rowcount == 0:
            raise NotFoundError(f"{subject} not found")

    def for_resource(self, resource_id: ResourceId) -> Sequence[Grant]:
        """Return the resource's grants by (resource, action, subject)."""
        if not self._db.caches():
            return self._grants(
                _GRANTS_OF_RESOURCE,
                {"resource_id": resource_id},
                subject=f"the grants of resource {resource_id!r}",
            )
        return list(
            self._db.cached(("grants by resource",), self._by_resource).get(resource_id, ())
        )

    def _by_resource(self) -> Mapping[ResourceId, tuple[Grant, ...]]:
        """Every grant by its resource: one query per generation serves every resource."""
        every = self._grants(sa.select(grants), None, subject="grants")
        return self._db.grouped(every, lambda grant: grant.resource_id)

    def for_subjects(self, subjects: Collection[str]) -> Sequence[Grant]:
        """Return the grants naming any of ``subjects``, by (resource, action, subject)."""
        wanted = sorted(set(subjects))
        if not wanted:
            return []
        statement = sa.select(grants).where(_G.subject.in_(wanted))
        return self._grants(statement, None, subject="grants")

    def _grants(
        self,
        statement: sa.Select[tuple[object, ...]],
        params: Mapping[str, object] | None,
        *,
        subject: str,
    ) -> list[Grant]:
        # Sorted here: the database's collation may order text differently from code points.
        rows = self._db.rows(statement, params, subject=subject)
        return sorted((grant_from_row(row) for row in rows), key=_grant_order)

    def restricted(self, action: Action) -> frozenset[ResourceId]:
        """Return the ids of the resources with at least one grant of ``action``."""
        return self._db.cached(("restricted", action), lambda: self._restricted(action))

    def _restricted(self, action: Action) -> frozenset[ResourceId]:
        statement = sa.select(_G.resource_id).where(_G.action == action.value).distinct()
        rows = self._db.rows(statement, subject=f"{action.value!r} grants")
        return frozenset(ResourceId(row.resource_id) for row in rows)


class SqlThrottleRepository:
    """Failed attempts, one row each, indexed by (key, at)."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def record(self, key: str, at: datetime) -> None:
        """Store one failure of ``key`` at ``at``, forgetting the key's very old ones."""
        subject = f"the failures of {key!r}"
        self._db.execute(throttle_failures.insert(), {"key": key, "at": at}, subject=subject)
        old = throttle_failures.delete().where(_F.key == key, _F.at < utc(at - FAILURE_RETENTION))
        self._db.execute(old, subject=subject)

    def failures_since(self, key: str, since: datetime) -> Sequence[datetime]:
        """Return the key's failures at or after ``since``, oldest first."""
        statement = (
            sa.select(_F.at).where(_F.key == key, _F.at >= utc(since)).order_by(_F.at, _F.seq)
        )
        return [row.at for row in self._db.rows(statement, subject=f"the failures of {key!r}")]

    def clear(self, key: str) -> None:
        """Forget every failure of ``key``."""
        statement = throttle_failures.delete().where(_F.key == key)
        self._db.execute(statement, subject=f"the failures of {key!r}")

    def prune(self, before: datetime) -> int:
        """Drop every failure older than ``before``; return how many."""
        statement = throttle_failures.delete().where(_F.at < utc(before))
        return self._db.execute(statement, subject="throttle failures").rowcount


class SqlSettingRepository:
    """System settings as text by name."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def get(self, key: str) -> str | None:
        """Return the setting, or ``None`` when it is unset."""
        statement = sa.select(_S.value).where(_S.name == key)
        row = self._db.first(statement, subject=f"setting {key!r}")
        return None if row is None else str(row.value)

    def put(self, key: str, value: str) -> None:
        """Set the setting, replacing any value it had (one upsert, safe under concurrency)."""
        dialect = postgresql if self._db.postgres else sqlite
        insert = dialect.insert(settings).values(name=key, value=value)
        statement = insert.on_conflict_do_update(
            index_elements=[_S.name], set_={"value": insert.excluded.value}
        )
        self._db.execute(statement, subject=f"setting {key!r}")
