from __future__ import annotations

from datetime import UTC, datetime

import pytest

from reserver.core import Principal, Reserver, ResourceDraft
from reserver.core.adapters.clock import FixedClock
from reserver.core.models import Resource

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def reserver(clock: FixedClock) -> Reserver:
    return Reserver.in_memory(clock=clock)


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
