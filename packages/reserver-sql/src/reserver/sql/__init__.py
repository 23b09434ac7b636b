"""Reserver storage on SQLAlchemy 2: SQLite (embedded) and PostgreSQL, with Alembic migrations."""

from __future__ import annotations

from reserver.sql.schema import alembic_config, migrate
from reserver.sql.storage import SqlStorage, SqlTransaction
from reserver.sql.tables import metadata
from reserver.sql.types import UtcDateTime

__all__ = ["SqlStorage", "SqlTransaction", "UtcDateTime", "alembic_config", "metadata", "migrate"]
