from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from reserver.core import Principal, Reserver, ResourceDraft
from reserver.core.adapters.clock import FixedClock
from reserver.core.models import Resource

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


def _storages() -> list[str]:
    """Memory always; SQLite too where reserver-sql is installed (found by its entry point)."""
    names = {ep.name for ep in entry_points(group="reserver.storage")}
    return ["memory"] + (["sqlite"] if "sql" in names else [])


@pytest.fixture(params=_storages())
def reserver(request: pytest.FixtureRequest, clock: FixedClock, tmp_path: Path) -> Iterator[Reserver]:
    """The whole system on each installed storage: the service suite proves them alike."""
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/reserver.db"
    system = Reserver.from_url(url, clock=clock)
    yield system
    system.close()


@pytest.fixture
def admin() -> Principal:
    return Principal.admin("root")


@pytest.fixture
def ann() -> Principal:
    return Principal.user("ann")


@pytest.fixture
def bob() -> Principal:
    return Principal.user("bob")


@pytest.fixture
def room(reserver: Reserver, admin: Principal) -> Resource:
    return reserver.resources.create(admin, ResourceDraft(name="Room A", timezone="Europe/Berlin"))
