"""Workspace-wide test set-up: Hypothesis profiles and the throwaway databases.

It imports no adapter at module level (SQLAlchemy only inside the database fixtures):
tests/core must run with core alone.

PostgreSQL comes from ``RESERVER_TEST_PG_URL`` (default: the local server, user postgres),
Redis from ``RESERVER_TEST_REDIS_URL`` (default: the local server, database 0). When one
cannot be reached its tests are skipped with a loud reason, unless ``CI`` is set, where they
fail: they are mandatory there.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, settings

if TYPE_CHECKING:
    import sqlalchemy as sa

PG_DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
REDIS_DEFAULT_URL = "redis://127.0.0.1:6379/0"

# Before any test module imports the contracts, so their plain asserts explain themselves.
pytest.register_assert_rewrite("reserver.core.testing")

# Both build on Hypothesis' own defaults, not on whatever profile it auto-loaded from $CI.
# No deadline anywhere: a deadline is a timed assertion, and performance lives in bench/.
_defaults = settings.get_profile("default")
settings.register_profile("dev", _defaults, deadline=None)
# CI: the same examples on every run, no example database, a reproduction blob on failure, and
# no "too slow" health check on a busy two-core machine.
settings.register_profile(
    "ci",
    _defaults,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


def _profile() -> str:
    return os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if _in_ci() else "dev")


settings.load_profile(_profile())


def _unreachable(what: str, reason: str) -> None:
    """Skip the test, or fail it in CI, where ``what`` is mandatory."""
    message = f"{reason}; these tests are mandatory in CI: {what}"
    if _in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A Redis server's URL; skips (fails in CI) if it does not answer."""
    import redis

    url = os.environ.get("RESERVER_TEST_REDIS_URL", REDIS_DEFAULT_URL)
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        _unreachable(
            "start one or set RESERVER_TEST_REDIS_URL",
            f"Redis not reachable at {url} ({type(exc).__name__})",
        )
    finally:
        client.close()
    return url


def _admin_engine(url: sa.URL) -> sa.Engine:
    import sqlalchemy as sa

    return sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite database file of this test alone (created on first connection)."""
    return f"sqlite:///{tmp_path}/reserver.db"


@pytest.fixture(scope="session")
def pg_server() -> sa.URL:
    """The PostgreSQL server to create test databases on; skips (fails in CI) if unreachable."""
    import sqlalchemy as sa

    url = sa.make_url(os.environ.get("RESERVER_TEST_PG_URL", PG_DEFAULT_URL))
    engine = _admin_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        shown = url.render_as_string(hide_password=True)
        _unreachable(
            "start a server or set RESERVER_TEST_PG_URL",
            f"PostgreSQL not reachable at {shown} ({type(exc.orig or exc).__name__})",
        )
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
