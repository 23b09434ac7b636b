from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from reserver.core import Principal, Reserver, ResourceDraft
from reserver.core.adapters.clock import FixedClock
from reserver.core.adapters.hashing import ScryptPasswordHasher
from reserver.core.identity import Tokens, UserDraft
from reserver.core.models import Resource
from reserver.core.settings import IdentitySettings

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


def _storages() -> list[str]:
    """Memory always; SQLite too where reserver-sql is installed (found by its entry point)."""
    names = {ep.name for ep in entry_points(group="reserver.storage")}
    return ["memory"] + (["sqlite"] if "sql" in names else [])


@pytest.fixture(params=_storages())
def reserver(
    request: pytest.FixtureRequest, clock: FixedClock, tmp_path: Path
) -> Iterator[Reserver]:
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


# -- identity: on every installed storage, like the rest of the service suite -----------------

ROOT_PASSWORD = "violet hinges under a quiet harbour"
ANN_PASSWORD = "seventeen paper lanterns drifting"


@pytest.fixture
def cheap_hasher() -> ScryptPasswordHasher:
    return ScryptPasswordHasher(n=16, r=1, p=1)


@pytest.fixture(params=_storages())
def ident(
    request: pytest.FixtureRequest,
    clock: FixedClock,
    cheap_hasher: ScryptPasswordHasher,
    tmp_path: Path,
) -> Iterator[Reserver]:
    """A whole system with a cheap hasher and a strong production key, on each storage."""
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/identity.db"
    system = Reserver.from_url(
        url,
        clock=clock,
        hasher=cheap_hasher,
        identity=IdentitySettings(secret_keys=("k" * 8 + "0123456789abcdefghijklmnopqrstuv",)),
    )
    yield system
    system.close()


@pytest.fixture
def root(ident: Reserver) -> Principal:
    """The first administrator, made by setup, logged in."""
    ident.identity.setup(UserDraft("root", email="root@example.test"), ROOT_PASSWORD)
    tokens = ident.identity.login("root", ROOT_PASSWORD, client="198.51.100.1")
    assert isinstance(tokens, Tokens)
    return ident.identity.authenticate(tokens.access_token)


@pytest.fixture
def ann_user(ident: Reserver) -> Principal:
    """A registered plain user, logged in through a session."""
    ident.identity.register(UserDraft("ann", email="ann@example.test"), ANN_PASSWORD)
    tokens = ident.identity.login("ann", ANN_PASSWORD, client="203.0.113.5")
    assert isinstance(tokens, Tokens)
    return ident.identity.authenticate(tokens.access_token)
