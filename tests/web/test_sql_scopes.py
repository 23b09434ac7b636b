"""The app over the SQL storage: each request checks the caches once, and sees every change."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from reserver.core import Reserver, ResourceDraft, ResourcePatch
from reserver.core.adapters.hashing import ScryptPasswordHasher
from reserver.core.identity import UserDraft
from reserver.core.ids import ResourceId
from reserver.core.models import ResourceStatus
from reserver.core.principals import Role
from reserver.core.settings import IdentitySettings
from reserver.core.testing.fakes import FixedClock
from reserver.flask import Environment, Services, Settings, create_app
from reserver.sql import SqlStorage, db

NOW = datetime(2030, 1, 7, 8, 0, tzinfo=UTC)
PASSWORD = "correct-horse-battery-staple-42"
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@attrs.frozen
class Site:
    """One deployment: the app's own storage, another process's, and ann's bearer header."""

    client: Any
    mine: SqlStorage
    other: Reserver
    ann: dict[str, str]
    admin_token: str
    room_id: str

    def book(self, hours_from_now: int) -> Any:
        start = NOW + timedelta(hours=hours_from_now)
        body = {
            "resource_id": self.room_id,
            "start": start.isoformat(),
            "end": (start + timedelta(hours=1)).isoformat(),
        }
        return self.client.post("/api/v1/reservations", json=body, headers=self.ann)


def reserver_on(storage: SqlStorage) -> Reserver:
    return Reserver(
        storage=storage,
        clock=FixedClock(NOW),
        identity=IdentitySettings(secret_keys=("one key of the deployment " * 2,)),
        hasher=ScryptPasswordHasher(n=16, r=1, p=1),
    )


def token_of(reserver: Reserver, name: str) -> str:
    tokens = reserver.identity.login(name, PASSWORD)
    return tokens.access_token  # type: ignore[union-attr]


@pytest.fixture(params=BACKENDS)
def site(request: pytest.FixtureRequest) -> Iterator[Site]:
    url = str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))
    mine = SqlStorage.from_url(url)
    other = reserver_on(SqlStorage.from_url(url, migrate=False))
    served = reserver_on(mine)
    served.identity.setup(UserDraft("admin"), PASSWORD)
    admin_token = token_of(served, "admin")
    boss = served.identity.authenticate(admin_token)
    served.users.create(boss, UserDraft("ann"), PASSWORD, roles=[Role.USER])
    room = served.resources.create(boss, ResourceDraft(name="Room", timezone="UTC"))
    app = create_app(Settings(environment=Environment.TEST), services=Services(served))
    ann = {"Authorization": f"Bearer {token_of(served, 'ann')}"}
    yield Site(app.test_client(), mine, other, ann, admin_token, room.id)
    mine.close()
    other.close()


def test_a_room_disabled_by_another_process_is_refused_at_the_next_request(site: Site) -> None:
    assert site.book(26).status_code == 201  # the room, its rules and ann are cached now
    boss = site.other.identity.authenticate(site.admin_token)
    room = site.other.resources.get(boss, ResourceId(site.room_id))
    disabled = ResourcePatch(status=ResourceStatus.DISABLED)
    site.other.resources.update(boss, room.id, disabled, expected_version=room.version)
    refused = site.book(28)
    assert refused.status_code == 409, refused.json
    assert [v["rule"] for v in refused.json["violations"]] == ["resource_disabled"]


def test_a_session_ended_by_another_process_is_dead_at_the_next_request(site: Site) -> None:
    assert site.client.get("/api/v1/users/me", headers=site.ann).status_code == 200
    token = site.ann["Authorization"].removeprefix("Bearer ")
    site.other.identity.logout(site.other.identity.authenticate(token))
    assert site.client.get("/api/v1/users/me", headers=site.ann).status_code == 401
    assert site.book(26).status_code == 401


@pytest.mark.postgres
@pytest.mark.parametrize("site", ["postgresql"], indirect=True)
def test_a_booking_request_reads_the_counters_only_with_its_first_query(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert site.book(26).status_code == 201
    reads: list[object] = []
    alone = db.read_pg_generations

    def counted(driver: Any) -> dict[int, int]:
        reads.append(driver)
        return alone(driver)

    monkeypatch.setattr(db, "read_pg_generations", counted)
    assert site.book(28).status_code == 201
    assert reads == []
