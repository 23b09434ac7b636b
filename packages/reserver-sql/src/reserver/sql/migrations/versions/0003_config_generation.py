"""Generations: counters the database bumps whenever configuration or accounts change.

Resources (with their tags and features), groups (with their ancestry), business hours,
blackouts and grants are read by every booking; users, their roles and their sessions by every
request's log-in check; all of them change rarely. A storage caches what it read of them,
tagged with the generations it read first in the same unit of work; a trigger on each of those
tables bumps its counter (row 1: configuration, row 2: identity) in every transaction that
writes one, whatever wrote it (any process, or SQL by hand), so a cached read never outlives
the state it came from.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

CONFIGURATION, IDENTITY = 1, 2
TABLES = {
    "resources": CONFIGURATION,
    "resource_tags": CONFIGURATION,
    "resource_features": CONFIGURATION,
    "groups": CONFIGURATION,
    "group_ancestors": CONFIGURATION,
    "hours": CONFIGURATION,
    "blackouts": CONFIGURATION,
    "grants": CONFIGURATION,
    "users": IDENTITY,
    "user_roles": IDENTITY,
    "user_custom_roles": IDENTITY,
    "custom_roles": IDENTITY,
    "refresh_tokens": IDENTITY,
}

PG_FUNCTION = """
CREATE FUNCTION reserver_bump_config_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE config_generation SET generation = generation + 1 WHERE id = TG_ARGV[0]::integer;
    RETURN NULL;
END
$$
"""

# Statement-level on PostgreSQL: one bump per statement, however many rows it touched.
PG_TRIGGER = """
CREATE TRIGGER {table}_config_generation
AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table}
FOR EACH STATEMENT EXECUTE FUNCTION reserver_bump_config_generation({counter})
"""

SQLITE_TRIGGER = """
CREATE TRIGGER {table}_config_generation_{suffix}
AFTER {event} ON {table}
BEGIN
    UPDATE config_generation SET generation = generation + 1 WHERE id = {counter};
END
"""

SQLITE_EVENTS = ("INSERT", "UPDATE", "DELETE")


def upgrade() -> None:
    table = op.create_table(
        "config_generation",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_config_generation"),
    )
    op.bulk_insert(
        table, [{"id": CONFIGURATION, "generation": 0}, {"id": IDENTITY, "generation": 0}]
    )
    if op.get_context().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        for name, counter in TABLES.items():
            op.execute(PG_TRIGGER.format(table=name, counter=counter))
        return
    for name, counter in TABLES.items():
        for event in SQLITE_EVENTS:
            op.execute(
                SQLITE_TRIGGER.format(
                    table=name, event=event, suffix=event.lower(), counter=counter
                )
            )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        for name in TABLES:
            op.execute(f"DROP TRIGGER {name}_config_generation ON {name}")
        op.execute("DROP FUNCTION reserver_bump_config_generation()")
    else:
        for name in TABLES:
            for event in SQLITE_EVENTS:
                op.execute(f"DROP TRIGGER {name}_config_generation_{event.lower()}")
    op.drop_table("config_generation")
