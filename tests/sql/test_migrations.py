"""The schema exists only through the migrations, which build exactly ``metadata``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from reserver.sql import SqlStorage, alembic_config, metadata, migrate
from reserver.sql.schema import HEAD, VERSION_TABLE
from reserver.sql.tables import GENERATION_OF_TABLE


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))


@pytest.fixture
def engine(url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    yield engine
    engine.dispose()


def differences(engine: sa.Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"version_table": VERSION_TABLE, "compare_type": True},
        )
        return list(compare_metadata(context, metadata))


def table_names(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_migrating_an_empty_database_builds_exactly_the_metadata(
    url: str, engine: sa.Engine
) -> None:
    assert table_names(engine) == set()
    migrate(url)
    assert table_names(engine) == set(metadata.tables) | {VERSION_TABLE}
    assert differences(engine) == []


def test_the_migrations_install_the_database_wall(url: str, engine: sa.Engine) -> None:
    migrate(url)
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            found = connection.scalars(
                sa.text("SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name")
            ).all()
            wall = [name for name in found if name.startswith("reservations_")]
            assert wall == ["reservations_no_overlap_insert", "reservations_no_overlap_update"]
        else:
            found = connection.scalars(
                sa.text("SELECT conname FROM pg_constraint WHERE contype = 'x'")
            ).all()
            assert found == ["reservations_no_overlap"]
            extensions = connection.scalars(sa.text("SELECT extname FROM pg_extension")).all()
            assert "btree_gist" in extensions


def test_migrating_twice_changes_nothing(url: str, engine: sa.Engine) -> None:
    migrate(url)
    storage = SqlStorage.from_url(url)  # migrates again, as every process start does
    storage.close()
    migrate(engine)
    assert differences(engine) == []
    with engine.connect() as connection:
        versions = connection.scalars(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).all()
    assert versions == ["0003"]


def test_downgrade_to_base_removes_everything(url: str, engine: sa.Engine) -> None:
    migrate(url)
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), "base")
    assert table_names(engine) == {VERSION_TABLE}
    with engine.connect() as connection:
        assert connection.scalar(sa.text(f"SELECT count(*) FROM {VERSION_TABLE}")) == 0
    migrate(url)
    assert differences(engine) == []


def test_from_url_without_migrate_leaves_the_database_alone(url: str, engine: sa.Engine) -> None:
    storage = SqlStorage.from_url(url, migrate=False)
    storage.close()
    assert table_names(engine) == set()


def test_every_cached_table_bumps_its_generation_on_each_kind_of_write(
    url: str, engine: sa.Engine
) -> None:
    migrate(url)

    def generation(counter: int = 1) -> int:
        with engine.connect() as connection:
            query = sa.text("SELECT generation FROM config_generation WHERE id = :id")
            return int(connection.scalar(query, {"id": counter}))

    writes = {
        "groups": (
            "INSERT INTO groups (id, name, kind, parent_id, path, timezone, policy) "
            "VALUES ('g1', 'G', 'site', NULL, '[]', NULL, NULL)",
            "UPDATE groups SET name = 'H'",
            "DELETE FROM groups",
        ),
        "hours": (
            "INSERT INTO hours (scope_kind, scope_id, hours) VALUES ('global', '', '{}')",
            "UPDATE hours SET hours = '[]'",
            "DELETE FROM hours",
        ),
        "custom_roles": (
            "INSERT INTO custom_roles (name, description, permissions, created_at) "
            "VALUES ('r', '', '[]', '2026-01-01 00:00:00')",
            "UPDATE custom_roles SET description = 'd'",
            "DELETE FROM custom_roles",
        ),
    }
    for table in GENERATION_OF_TABLE:
        with engine.connect() as connection:
            trigger_count = connection.scalar(
                sa.text(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t"
                    if engine.dialect.name == "sqlite"
                    else "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                    "WHERE c.relname = :t AND NOT t.tgisinternal"
                ),
                {"t": table},
            )
        assert trigger_count == (3 if engine.dialect.name == "sqlite" else 1), table
    for table, statements in writes.items():
        for statement in statements:
            counter = GENERATION_OF_TABLE[table]
            before, other = generation(counter), generation(3 - counter)
            with engine.begin() as connection:
                connection.execute(sa.text(statement))
            assert generation(counter) > before, statement
            assert generation(3 - counter) == other, statement


def test_head_names_the_newest_migration() -> None:
    from alembic.script import ScriptDirectory

    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == HEAD


def test_a_database_at_head_is_not_handed_to_alembic(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrate(url)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("Alembic ran on a database already at head")

    monkeypatch.setattr("alembic.command.upgrade", refuse)
    migrate(url)
    SqlStorage.from_url(url).close()
