"""The identity schema: accounts, sessions, keys, OAuth, roles, grants, throttling, settings.

Registered on the one ``metadata`` of ``reserver.sql.tables``; the database gets it through
migration 0002. Secrets are stored only as the digests or hashes the core hands over. What
queries look up or filter on has its own column: the case-folded username and e-mail (unique, so
two accounts cannot differ by case alone), the roles of a user in their own tables. Sets
(roles, scopes, permissions, grant types) travel as sorted JSON lists.
"""

from __future__ import annotations

import sqlalchemy as sa

from reserver.sql.tables import metadata
from reserver.sql.types import UtcDateTime

# An auto-numbered key: BIGINT on PostgreSQL, INTEGER on SQLite (where only "INTEGER PRIMARY
# KEY" numbers rows itself).
Serial = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _text(name: str, *, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(), nullable=nullable)


def _at(name: str, *, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, UtcDateTime(), nullable=nullable)


users = sa.Table(
    "users",
    metadata,
    _text("id"),
    _text("username"),
    _text("username_key"),
    sa.Column("display_name", sa.Text(), nullable=False),
    sa.Column("display_name_key", sa.Text(), nullable=False),
    _text("email", nullable=True),
    _text("email_key", nullable=True),
    _text("password_hash"),
    _at("created_at", nullable=False),
    sa.Column("roles", sa.Text(), nullable=False),
    sa.Column("custom_roles", sa.Text(), nullable=False),
    _text("timezone"),
    _text("language"),
    sa.Column("preferences", sa.Text(), nullable=False),
    sa.Column("active", sa.Boolean(), nullable=False),
    _at("password_changed_at"),
    sa.Column("totp_sealed", sa.Text(), nullable=True),
    sa.Column("totp_pending", sa.Text(), nullable=True),
    sa.Column("totp_last_step", sa.BigInteger(), nullable=True),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("username_key"),
    sa.UniqueConstraint("email_key"),
)


def _user_set(name: str) -> sa.Table:
    """Which users hold which role: ``find`` filters by role with one indexed lookup."""
    return sa.Table(
        name,
        metadata,
        _text("user_id"),
        _text("role"),
        sa.PrimaryKeyConstraint("user_id", "role"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.Index(None, "role", "user_id"),
    )


user_roles = _user_set("user_roles")
user_custom_roles = _user_set("user_custom_roles")

refresh_tokens = sa.Table(
    "refresh_tokens",
    metadata,
    _text("token_hash"),
    _text("family_id"),
    _text("user_id"),
    _at("issued_at", nullable=False),
    _at("expires_at", nullable=False),
    _at("used_at"),
    _at("revoked_at"),
    _text("client", nullable=True),
    sa.PrimaryKeyConstraint("token_hash"),
    sa.Index(None, "family_id"),
    sa.Index(None, "user_id"),
)
# A family (login session) is revoked once any of its tokens is: this index answers "is this
# session revoked", asked on every authenticated request, with one probe.
sa.Index(
    "ix_refresh_tokens_revoked",
    refresh_tokens.c.family_id,
    sqlite_where=refresh_tokens.c.revoked_at.is_not(None),
    postgresql_where=refresh_tokens.c.revoked_at.is_not(None),
)

backup_codes = sa.Table(
    "backup_codes",
    metadata,
    _text("user_id"),
    _text("code_hash"),
    _at("used_at"),
    sa.PrimaryKeyConstraint("user_id", "code_hash"),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    _text("id"),
    _text("user_id"),
    sa.Column("name", sa.Text(), nullable=False),
    _text("prefix"),
    _text("key_hash"),
    sa.Column("scopes", sa.Text(), nullable=False),
    _at("created_at", nullable=False),
    _at("expires_at"),
    _at("last_used_at"),
    _at("revoked_at"),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("prefix"),
    sa.Index(None, "user_id"),
)

oauth_clients = sa.Table(
    "oauth_clients",
    metadata,
    _text("id"),
    sa.Column("name", sa.Text(), nullable=False),
    _text("owner"),
    sa.Column("redirect_uris", sa.Text(), nullable=False),
    sa.Column("grant_types", sa.Text(), nullable=False),
    sa.Column("scopes", sa.Text(), nullable=False),
    _at("created_at", nullable=False),
    _text("secret_hash", nullable=True),
    sa.PrimaryKeyConstraint("id"),
    sa.Index(None, "owner"),
)

authorization_codes = sa.Table(
    "authorization_codes",
    metadata,
    _text("code_hash"),
    _text("client_id"),
    _text("user_id"),
    sa.Column("redirect_uri", sa.Text(), nullable=False),
    sa.Column("scopes", sa.Text(), nullable=False),
    _text("code_challenge"),
    _at("created_at", nullable=False),
    _at("expires_at", nullable=False),
    _at("used_at"),
    sa.PrimaryKeyConstraint("code_hash"),
)

oauth_tokens = sa.Table(
    "oauth_tokens",
    metadata,
    _text("token_hash"),
    _text("client_id"),
    _text("user_id"),
    sa.Column("scopes", sa.Text(), nullable=False),
    _at("issued_at", nullable=False),
    _at("expires_at", nullable=False),
    _at("revoked_at"),
    sa.PrimaryKeyConstraint("token_hash"),
    sa.Index(None, "client_id"),
)

custom_roles = sa.Table(
    "custom_roles",
    metadata,
    _text("name"),
    sa.Column("permissions", sa.Text(), nullable=False),
    sa.Column("description", sa.Text(), nullable=False),
    _at("created_at", nullable=False),
    sa.PrimaryKeyConstraint("name"),
)

grants = sa.Table(
    "grants",
    metadata,
    _text("resource_id"),
    _text("subject"),
    _text("action"),
    _at("created_at", nullable=False),
    sa.PrimaryKeyConstraint("resource_id", "subject", "action"),
    sa.Index(None, "subject"),
    sa.Index(None, "action", "resource_id"),
)

throttle_failures = sa.Table(
    "throttle_failures",
    metadata,
    sa.Column("seq", Serial, autoincrement=True),
    _text("key"),
    _at("at", nullable=False),
    sa.PrimaryKeyConstraint("seq"),
    sa.Index(None, "key", "at"),
    sa.Index(None, "at"),
)

invites = sa.Table(
    "invites",
    metadata,
    _text("code_hash"),
    _text("created_by"),
    _at("created_at", nullable=False),
    _at("expires_at", nullable=False),
    _text("email", nullable=True),
    _at("used_at"),
    sa.PrimaryKeyConstraint("code_hash"),
)

settings = sa.Table(
    "settings",
    metadata,
    _text("name"),
    sa.Column("value", sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint("name"),
)
