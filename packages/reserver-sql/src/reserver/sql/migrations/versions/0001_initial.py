"""Initial schema, with the database's own wall against overlapping bookings.

On PostgreSQL an exclusion constraint (btree_gist) refuses two blocking reservations of one
resource whose blocks overlap. On SQLite two triggers do the same; they stay logarithmic because
the blocking blocks of one resource are disjoint: a new block [s, e) overlaps another one only if
some block starts inside [s, e), or the last block starting before s ends after s.

Revision ID: 0001
Revises:
Create Date: 2025-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from reserver.sql.types import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BLOCKING = "('checked_in', 'confirmed', 'offered', 'pending_approval')"

SQLITE_OVERLAP_TRIGGER = """
CREATE TRIGGER reservations_no_overlap_{event}
BEFORE {event_clause} ON reservations
WHEN NEW.status IN {blocking}
BEGIN
    SELECT RAISE(ABORT, 'reservation overlap')
    WHERE EXISTS (
        SELECT 1 FROM reservations AS other
        WHERE other.resource_id = NEW.resource_id
          AND other.status IN {blocking}
          AND other.block_start >= NEW.block_start
          AND other.block_start < NEW.block_end
          AND other.id != NEW.id
    )
    OR EXISTS (
        SELECT 1 FROM (
            SELECT other.block_end FROM reservations AS other
            WHERE other.resource_id = NEW.resource_id
              AND other.status IN {blocking}
              AND other.block_start < NEW.block_start
              AND other.id != NEW.id
            ORDER BY other.block_start DESC
            LIMIT 1
        ) AS previous
        WHERE previous.block_end > NEW.block_start
    );
END
"""

PG_EXCLUSION = f"""
ALTER TABLE reservations ADD CONSTRAINT reservations_no_overlap
EXCLUDE USING gist (resource_id WITH =, tstzrange(block_start, block_end, '[)') WITH &&)
WHERE (status IN {BLOCKING})
"""


def _id(
    name: str = "id", *, primary_key: bool = False, nullable: bool = False, unique: bool = False
) -> sa.Column[str]:
    return sa.Column(name, sa.String(), primary_key=primary_key, nullable=nullable, unique=unique)


def _resource_set(name: str, column: str) -> None:
    op.create_table(
        name,
        _id("resource_id", primary_key=True),
        sa.Column(column, sa.String(), primary_key=True),
        sa.ForeignKeyConstraint(
            ["resource_id"],
            ["resources.id"],
            name=f"fk_{name}_resource_id_resources",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("resource_id", column, name=f"pk_{name}"),
    )
    op.create_index(f"ix_{name}_{column}_resource_id", name, [column, "resource_id"])


def _resources() -> None:
    op.create_table(
        "resources",
        _id(),
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
        sa.PrimaryKeyConstraint("id", name="pk_resources"),
    )
    op.create_index("ix_resources_name_key_id", "resources", ["name_key", "id"])
    op.create_index("ix_resources_group_id", "resources", ["group_id"])
    _resource_set("resource_tags", "tag")
    _resource_set("resource_features", "feature")
    op.create_table(
        "groups",
        _id(),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        _id("parent_id", nullable=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("timezone", sa.String(), nullable=True),
        sa.Column("policy", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_groups"),
    )
    op.create_table(
        "group_ancestors",
        _id("ancestor_id", primary_key=True),
        _id("group_id", primary_key=True),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["groups.id"],
            name="fk_group_ancestors_group_id_groups",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ancestor_id", "group_id", name="pk_group_ancestors"),
    )


def _reservations() -> None:
    op.create_table(
        "reservations",
        _id(),
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
        sa.PrimaryKeyConstraint("id", name="pk_reservations"),
        sa.CheckConstraint("span_start < span_end", name=op.f("ck_reservations_span")),
        sa.CheckConstraint("block_start < block_end", name=op.f("ck_reservations_block")),
    )
    op.create_index("ix_reservations_span_start_id", "reservations", ["span_start", "id"])
    op.create_index(
        "ix_reservations_resource_id_span_start_id",
        "reservations",
        ["resource_id", "span_start", "id"],
    )
    op.create_index("ix_reservations_holder_span_start", "reservations", ["holder", "span_start"])
    op.create_index("ix_reservations_series_id", "reservations", ["series_id"])
    op.create_index("ix_reservations_booking_id", "reservations", ["booking_id"])
    blocking = sa.text(f"status IN {BLOCKING}")
    op.create_index(
        "ix_reservations_blocking",
        "reservations",
        ["resource_id", "block_start", "block_end"],
        sqlite_where=blocking,
        postgresql_where=blocking,
    )
    if op.get_context().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        op.execute(PG_EXCLUSION)
    else:
        for event, clause in (
            ("insert", "INSERT"),
            ("update", "UPDATE OF resource_id, status, block_start, block_end"),
        ):
            op.execute(
                SQLITE_OVERLAP_TRIGGER.format(event=event, event_clause=clause, blocking=BLOCKING)
            )


def _the_rest() -> None:
    op.create_table(
        "series",
        _id(),
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
        sa.PrimaryKeyConstraint("id", name="pk_series"),
    )
    op.create_table(
        "history",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        _id(nullable=False),
        _id("reservation_id", nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        _id("actor", nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("changes", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_history"),
        sa.UniqueConstraint("id", name="uq_history_id"),
    )
    op.create_index("ix_history_reservation_id_at_seq", "history", ["reservation_id", "at", "seq"])
    op.create_table(
        "hours",
        sa.Column("scope_kind", sa.String(), nullable=False),
        sa.Column("scope_id", sa.String(), nullable=False),
        sa.Column("hours", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("scope_kind", "scope_id", name="pk_hours"),
    )
    op.create_table(
        "blackouts",
        _id(),
        sa.Column("scope_kind", sa.String(), nullable=False),
        sa.Column("scope_id", sa.String(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=True),
        sa.Column("last_day", sa.Date(), nullable=True),
        sa.Column("yearly", sa.Boolean(), nullable=False),
        sa.Column("span_start", UtcDateTime(), nullable=True),
        sa.Column("span_end", UtcDateTime(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_blackouts"),
    )
    op.create_index("ix_blackouts_scope_kind_scope_id", "blackouts", ["scope_kind", "scope_id"])
    op.create_table(
        "outbox",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        _id(nullable=False),
        sa.Column("topic", sa.String(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("occurred_at", UtcDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UtcDateTime(), nullable=True),
        sa.Column("delivered_at", UtcDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name="pk_outbox"),
        sa.UniqueConstraint("id", name="uq_outbox_id"),
    )
    pending = sa.text("delivered_at IS NULL")
    op.create_index(
        "ix_outbox_pending",
        "outbox",
        ["occurred_at", "seq"],
        sqlite_where=pending,
        postgresql_where=pending,
    )


def upgrade() -> None:
    _resources()
    _reservations()
    _the_rest()


def downgrade() -> None:
    for table in (
        "outbox",
        "blackouts",
        "hours",
        "history",
        "series",
        "reservations",
        "group_ancestors",
        "groups",
        "resource_features",
        "resource_tags",
        "resources",
    ):
        op.drop_table(table)
