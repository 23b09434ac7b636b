"""The schema as SQLAlchemy Core tables; the database gets it only through the migrations.

Nested value objects (policies, attributes, rules, hours, change lists) are JSON text written by
the core converter. What queries filter on lives in its own columns: tags and features in their
own tables (so "has all these tags" runs in SQL), capacity and location beside the attributes,
the case-folded name and description for sorting and text search.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from reserver.core.models import BLOCKING_STATUSES
from reserver.sql.types import UtcDateTime

BLOCKING = tuple(sorted(status.value for status in BLOCKING_STATUSES))
OVERLAP_MESSAGE = "reservation overlap"
NO_OVERLAP_CONSTRAINT = "reservations_no_overlap"

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def is_blocking(status: sa.ColumnElement[str]) -> sa.ColumnElement[bool]:
    """``status IN (<blocking statuses>)`` with inline literals.

    Literals, not bound parameters: SQLite and PostgreSQL use a partial index only when the
    query's condition visibly implies the index's, and a parameter proves nothing.
    """
    return status.in_([sa.literal_column(f"'{value}'") for value in BLOCKING])


def _id(
    name: str = "id", *, primary_key: bool = False, nullable: bool = False, unique: bool = False
) -> sa.Column[str]:
    return sa.Column(name, sa.String(), primary_key=primary_key, nullable=nullable, unique=unique)


resources = sa.Table(
    "resources",
    metadata,
    _id(primary_key=True),
    sa.Column("name", sa.String(), nullable=False),
    sa.Column("name_key", sa.String(), nullable=False),
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("description_key", sa.Text(), nullable=False),
    sa.Column("kind", sa.String(), nullable=False),
    sa.Column("timezone", sa.String(), nullable=False),
    sa.Column("tags", sa.Text(), nullable=False),
    sa.Column("attributes", sa.Text(), nullable=False),
    sa.Column("capacity", sa.Integer(), nullable=True),
    sa.Column("location", sa.String(), nullable=True),
    sa.Column("location_key", sa.String(), nullable=True),
    sa.Column("status", sa.String(), nullable=False),
    sa.Column("maintenance_until", UtcDateTime(), nullable=True),
    _id("group_id", nullable=True),
    sa.Column("policy", sa.Text(), nullable=True),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=True),
    sa.Column("retired_at", UtcDateTime(), nullable=True),
    sa.Index(None, "name_key", "id"),
    sa.Index(None, "group_id"),
)


def _resource_set(name: str, column: str) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        _id("resource_id", primary_key=True),
        sa.Column(column, sa.String(), primary_key=True),
        sa.ForeignKeyConstraint(["resource_id"], ["resources.id"], ondelete="CASCADE"),
        sa.Index(None, column, "resource_id"),
    )


resource_tags = _resource_set("resource_tags", "tag")
resource_features = _resource_set("resource_features", "feature")

groups = sa.Table(
    "groups",
    metadata,
    _id(primary_key=True),
    sa.Column("name", sa.String(), nullable=False),
    sa.Column("kind", sa.String(), nullable=False),
    _id("parent_id", nullable=True),
    sa.Column("path", sa.Text(), nullable=False),
    sa.Column("timezone", sa.String(), nullable=True),
    sa.Column("policy", sa.Text(), nullable=True),
)

# Every (group, ancestor) pair, from each group's own ``path``: "resources in this subtree"
# becomes one indexed join.
group_ancestors = sa.Table(
    "group_ancestors",
    metadata,
    _id("ancestor_id", primary_key=True),
    _id("group_id", primary_key=True),
    sa.ForeignKeyConstraint(["group_id"], ["groups.id"], ondelete="CASCADE"),
)

reservations = sa.Table(
    "reservations",
    metadata,
    _id(primary_key=True),
    _id("resource_id", nullable=False),
    _id("holder", nullable=False),
    _id("booked_by", nullable=False),
    sa.Column("span_start", UtcDateTime(), nullable=False),
    sa.Column("span_end", UtcDateTime(), nullable=False),
    sa.Column("block_start", UtcDateTime(), nullable=False),
    sa.Column("block_end", UtcDateTime(), nullable=False),
    sa.Column("status", sa.String(), nullable=False),
    sa.Column("title", sa.Text(), nullable=False),
    sa.Column("notes", sa.Text(), nullable=False),
    _id("series_id", nullable=True),
    sa.Column("occurrence_key", sa.String(), nullable=True),
    _id("booking_id", nullable=True),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=True),
    sa.Column("updated_at", UtcDateTime(), nullable=True),
    sa.Column("cancel_reason", sa.Text(), nullable=True),
    sa.CheckConstraint("span_start < span_end", name="span"),
    sa.CheckConstraint("block_start < block_end", name="block"),
    sa.Index(None, "span_start", "id"),
    sa.Index(None, "resource_id", "span_start", "id"),
    sa.Index(None, "holder", "span_start"),
    sa.Index(None, "series_id"),
    sa.Index(None, "booking_id"),
)
# Blocking blocks of one resource are disjoint, so this index answers "who overlaps [s, e)" with
# one range scan plus one backward step (see reserver.sql.reservations).
sa.Index(
    "ix_reservations_blocking",
    reservations.c.resource_id,
    reservations.c.block_start,
    reservations.c.block_end,
    sqlite_where=is_blocking(reservations.c.status),
    postgresql_where=is_blocking(reservations.c.status),
)
reservations.append_constraint(
    postgresql.ExcludeConstraint(
        (reservations.c.resource_id, "="),
        (
            sa.func.tstzrange(
                reservations.c.block_start, reservations.c.block_end, sa.literal_column("'[)'")
            ),
            "&&",
        ),
        where=is_blocking(reservations.c.status),
        using="gist",
        name=NO_OVERLAP_CONSTRAINT,
    ).ddl_if(dialect="postgresql")
)

series = sa.Table(
    "series",
    metadata,
    _id(primary_key=True),
    _id("resource_id", nullable=False),
    _id("holder", nullable=False),
    _id("booked_by", nullable=False),
    sa.Column("first_start", UtcDateTime(), nullable=False),
    sa.Column("timezone", sa.String(), nullable=False),
    sa.Column("duration_us", sa.BigInteger(), nullable=False),
    sa.Column("rule", sa.Text(), nullable=False),
    sa.Column("title", sa.Text(), nullable=False),
    sa.Column("notes", sa.Text(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=True),
)

history = sa.Table(
    "history",
    metadata,
    sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
    _id(nullable=False, unique=True),
    _id("reservation_id", nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
    _id("actor", nullable=False),
    sa.Column("action", sa.String(), nullable=False),
    sa.Column("changes", sa.Text(), nullable=False),
    sa.Column("note", sa.Text(), nullable=False),
    sa.Index(None, "reservation_id", "at", "seq"),
)

hours = sa.Table(
    "hours",
    metadata,
    sa.Column("scope_kind", sa.String(), primary_key=True),
    sa.Column("scope_id", sa.String(), primary_key=True),
    sa.Column("hours", sa.Text(), nullable=False),
)

blackouts = sa.Table(
    "blackouts",
    metadata,
    _id(primary_key=True),
    sa.Column("scope_kind", sa.String(), nullable=False),
    sa.Column("scope_id", sa.String(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("first_day", sa.Date(), nullable=True),
    sa.Column("last_day", sa.Date(), nullable=True),
    sa.Column("yearly", sa.Boolean(), nullable=False),
    sa.Column("span_start", UtcDateTime(), nullable=True),
    sa.Column("span_end", UtcDateTime(), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=True),
    sa.Index(None, "scope_kind", "scope_id"),
)

# ``seq`` keeps the order messages were added in: events of one instant go out in causal order.
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
    _id(nullable=False, unique=True),
    sa.Column("topic", sa.String(), nullable=False),
    sa.Column("payload", sa.Text(), nullable=False),
    sa.Column("occurred_at", UtcDateTime(), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("next_attempt_at", UtcDateTime(), nullable=True),
    sa.Column("delivered_at", UtcDateTime(), nullable=True),
    sa.Column("last_error", sa.Text(), nullable=True),
)
sa.Index(
    "ix_outbox_pending",
    outbox.c.occurred_at,
    outbox.c.seq,
    sqlite_where=outbox.c.delivered_at.is_(None),
    postgresql_where=outbox.c.delivered_at.is_(None),
)

# Counters the database itself bumps (triggers, see migration 0003) in every transaction that
# writes one of their tables: a storage's cache of those tables holds only while the generation
# it was filled at stands (reserver.sql.config_cache). Row 1 counts the configuration that
# every booking reads, row 2 the accounts and sessions that every request's log-in check reads.
CONFIGURATION, IDENTITY = 1, 2
GENERATION_OF_TABLE = {
    **dict.fromkeys(
        (
            "resources",
            "resource_tags",
            "resource_features",
            "groups",
            "group_ancestors",
            "hours",
            "blackouts",
            "grants",
        ),
        CONFIGURATION,
    ),
    **dict.fromkeys(
        ("users", "user_roles", "user_custom_roles", "custom_roles", "refresh_tokens"), IDENTITY
    ),
}
config_generation = sa.Table(
    "config_generation",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("generation", sa.BigInteger(), nullable=False),
)
