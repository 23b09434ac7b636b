"""``SqlStorage`` runs the shipped storage contract on SQLite and on PostgreSQL."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

import pytest

from reserver.core.ports import Storage
from reserver.core.testing import StorageContract
from reserver.sql import SqlStorage


class TestSqliteStorage(StorageContract):
    @pytest.fixture
    def storage(self, sqlite_url: str) -> Iterator[Storage]:
        storage = SqlStorage.from_url(sqlite_url)
        yield storage
        storage.close()

    @pytest.fixture
    def storage_factory(self, sqlite_url: str) -> Callable[[], Storage]:
        return functools.partial(SqlStorage.from_url, sqlite_url)


@pytest.mark.postgres
class TestPostgresStorage(StorageContract):
    @pytest.fixture
    def storage(self, pg_url: str) -> Iterator[Storage]:
        storage = SqlStorage.from_url(pg_url)
        yield storage
        storage.close()

    @pytest.fixture
    def storage_factory(self, pg_url: str) -> Callable[[], Storage]:
        return functools.partial(SqlStorage.from_url, pg_url)
