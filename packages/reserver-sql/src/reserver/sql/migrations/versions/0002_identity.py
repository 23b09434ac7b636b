"""Identity: users, sessions, MFA backup codes, API keys, OAuth, roles, grants, throttling.

Every secret arrives hashed (passwords) or as a SHA-256 digest (tokens, keys, codes); none is
stored in clear. Usernames and e-mails are unique case-insensitively through their folded key
columns. Auto-numbered keys are BIGINT on PostgreSQL and INTEGER on SQLite, where only an
``INTEGER PRIMARY KEY`` numbers rows itself.

Revision ID: 0002
Revises: 0001
Create Date: 2025-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from reserver.sql.types import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = (
    "settings",
    "invites",
    "throttle_failures",
    "grants",
    "custom_roles",
    "oauth_tokens",
    "authorization_codes",
    "oauth_clients",
    "api_keys",
    "backup_codes",
    "refresh_tokens",
    "user_custom_roles",
    "user_roles",
    "users",
)


def _serial() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _text(name: str, *, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(), nullable=nullable)


def _long(name: str, *, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.Text(), nullable=nullable)


def _at(name: str, *, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, UtcDateTime(), nullable=nullable)


def _index(table: str, *columns: str) -> None:
    op.create_index(f"ix_{table}_{'_'.join(columns)}", table, list(columns))


def _users() -> None:
    op.create_table(
        "users",
        _text("id"),
        _text("username"),
        _text("username_key"),
        _long("display_name"),
        _long("display_name_key"),
        _text("email", nullable=True),
        _text("email_key", nullable=True),
        _text("password_hash"),
        _at("created_at", nullable=False),
        _long("roles"),
        _long("custom_roles"),
        _text("timezone"),
        _text("language"),
        _long("preferences"),
        sa.Column("active", sa.Boolean(), nullable=False),
        _at("password_changed_at"),
        _long("totp_sealed", nullable=True),
        _long("totp_pending", nullable=True),
        sa.Column("totp_last_step", sa.BigInteger(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("username_key", name="uq_users_username_key"),
        sa.UniqueConstraint("email_key", name="uq_users_email_key"),
    )
    for name in ("user_roles", "user_custom_roles"):
        op.create_table(
            name,
            _text("user_id"),
            _text("role"),
            sa.PrimaryKeyConstraint("user_id", "role", name=f"pk_{name}"),
            sa.ForeignKeyConstraint(
                ["user_id"], ["users.id"], name=f"fk_{name}_user_id_users", ondelete="CASCADE"
            ),
        )
        _index(name, "role", "user_id")


def _sessions() -> None:
    op.create_table(
        "refresh_tokens",
        _text("token_hash"),
        _text("family_id"),
        _text("user_id"),
        _at("issued_at", nullable=False),
        _at("expires_at", nullable=False),
        _at("used_at"),
        _at("revoked_at"),
        _text("client", nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name="pk_refresh_tokens"),
    )
    _index("refresh_tokens", "family_id")
    _index("refresh_tokens", "user_id")
    revoked = sa.text("revoked_at IS NOT NULL")
    op.create_index(
        "ix_refresh_tokens_revoked",
        "refresh_tokens",
        ["family_id"],
        sqlite_where=revoked,
        postgresql_where=revoked,
    )
    op.create_table(
        "backup_codes",
        _text("user_id"),
        _text("code_hash"),
        _at("used_at"),
        sa.PrimaryKeyConstraint("user_id", "code_hash", name="pk_backup_codes"),
    )
    op.create_table(
        "api_keys",
        _text("id"),
        _text("user_id"),
        _long("name"),
        _text("prefix"),
        _text("key_hash"),
        _long("scopes"),
        _at("created_at", nullable=False),
        _at("expires_at"),
        _at("last_used_at"),
        _at("revoked_at"),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("prefix", name="uq_api_keys_prefix"),
    )
    _index("api_keys", "user_id")


def _oauth() -> None:
    op.create_table(
        "oauth_clients",
        _text("id"),
        _long("name"),
        _text("owner"),
        _long("redirect_uris"),
        _long("grant_types"),
        _long("scopes"),
        _at("created_at", nullable=False),
        _text("secret_hash", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_oauth_clients"),
    )
    _index("oauth_clients", "owner")
    op.create_table(
        "authorization_codes",
        _text("code_hash"),
        _text("client_id"),
        _text("user_id"),
        _long("redirect_uri"),
        _long("scopes"),
        _text("code_challenge"),
        _at("created_at", nullable=False),
        _at("expires_at", nullable=False),
        _at("used_at"),
        sa.PrimaryKeyConstraint("code_hash", name="pk_authorization_codes"),
    )
    op.create_table(
        "oauth_tokens",
        _text("token_hash"),
        _text("client_id"),
        _text("user_id"),
        _long("scopes"),
        _at("issued_at", nullable=False),
        _at("expires_at", nullable=False),
        _at("revoked_at"),
        sa.PrimaryKeyConstraint("token_hash", name="pk_oauth_tokens"),
    )
    _index("oauth_tokens", "client_id")


def _access_and_system() -> None:
    op.create_table(
        "custom_roles",
        _text("name"),
        _long("permissions"),
        _long("description"),
        _at("created_at", nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_custom_roles"),
    )
    op.create_table(
        "grants",
        _text("resource_id"),
        _text("subject"),
        _text("action"),
        _at("created_at", nullable=False),
        sa.PrimaryKeyConstraint("resource_id", "subject", "action", name="pk_grants"),
    )
    _index("grants", "subject")
    _index("grants", "action", "resource_id")
    op.create_table(
        "throttle_failures",
        sa.Column("seq", _serial(), autoincrement=True, nullable=False),
        _text("key"),
        _at("at", nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_throttle_failures"),
    )
    _index("throttle_failures", "key", "at")
    _index("throttle_failures", "at")
    op.create_table(
        "invites",
        _text("code_hash"),
        _text("created_by"),
        _at("created_at", nullable=False),
        _at("expires_at", nullable=False),
        _text("email", nullable=True),
        _at("used_at"),
        sa.PrimaryKeyConstraint("code_hash", name="pk_invites"),
    )
    op.create_table(
        "settings",
        _text("name"),
        _long("value"),
        sa.PrimaryKeyConstraint("name", name="pk_settings"),
    )


def upgrade() -> None:
    _users()
    _sessions()
    _oauth()
    _access_and_system()


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)
