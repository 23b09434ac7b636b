"""The facade-level state machine (reserve / cancel / edit / series / time) on SQL storages."""

from __future__ import annotations

import functools

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from reserver.core.testing import booking_machine
from reserver.sql import SqlStorage

SETTINGS = settings(
    max_examples=40,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _run_on(url: str) -> None:
    SqlStorage.from_url(url).close()  # migrate once; every example opens its own storage
    factory = functools.partial(SqlStorage.from_url, url, migrate=False, synchronous="NORMAL")
    run_state_machine_as_test(booking_machine(factory), settings=SETTINGS)


def test_booking_machine_agrees_with_the_model_on_sqlite(sqlite_url: str) -> None:
    _run_on(sqlite_url)


@pytest.mark.postgres
def test_booking_machine_agrees_with_the_model_on_postgresql(pg_url: str) -> None:
    _run_on(pg_url)
