"""Fixtures of the SQL storage tests: a SQLite file per test, a throwaway PostgreSQL database.

PostgreSQL comes from ``RESERVER_TEST_PG_URL`` (default: the local server, user postgres).
When it cannot be reached the PostgreSQL tests are skipped with a loud reason, unless ``CI``
is set, where they fail: they are mandatory there.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

PG_DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


def _admin_engine(url: sa.URL) -> sa.Engine:
    return sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)


@pytest.fixture
def sqlite_url(tmp_path: pytest.TempPathFactory) -> str:
    """A SQLite database file of this test alone (created on first connection)."""
    return f"sqlite:///{tmp_path}/reserver.db"


@pytest.fixture(scope="session")
def pg_server() -> sa.URL:
    """The PostgreSQL server to create test databases on; skips (fails in CI) if unreachable."""
    url = sa.make_url(os.environ.get("RESERVER_TEST_PG_URL", PG_DEFAULT_URL))
    engine = _admin_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        shown = url.render_as_string(hide_password=True)
        reason = (
            f"PostgreSQL not reachable at {shown} ({type(exc.orig or exc).__name__}); "
            "these tests are mandatory in CI: start a server or set RESERVER_TEST_PG_URL"
        )
        if _in_ci():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    finally:
        engine.dispose()
    return url


@pytest.fixture
def pg_url(pg_server: sa.URL) -> Iterator[str]:
    """An empty database ``reserver_t_<hex>`` of this test alone, dropped afterwards."""
    name = f"reserver_t_{uuid.uuid4().hex[:16]}"
    admin = _admin_engine(pg_server)
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield pg_server.set(database=name).render_as_string(hide_password=False)
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()
