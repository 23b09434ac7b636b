"""Web tests: ``create_app(services=...)`` over the in-memory core and a fixed clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from reserver.core import Reserver
from reserver.core.adapters.hashing import ScryptPasswordHasher
from reserver.core.identity import UserDraft
from reserver.core.principals import Role
from reserver.core.settings import IdentitySettings
from reserver.core.testing.fakes import FixedClock
from reserver.flask import Environment, Services, Settings, create_app

NOW = datetime(2030, 1, 7, 8, 0, tzinfo=UTC)  # a Monday morning
ROOT_PATHS = ("/api/", "/health", "/live", "/ready", "/metrics")
PASSWORD = "correct-horse-battery-staple-42"


def at(day: int, hour: int, minute: int = 0) -> str:
    """An ISO instant on day ``day`` after NOW's date (UTC)."""
    moment = NOW.replace(hour=hour, minute=minute) + timedelta(days=day)
    return moment.isoformat()


class Caller:
    """A test client acting as one user (or anonymously, without a token)."""

    def __init__(self, client: FlaskClient, token: str | None, id: str = "") -> None:
        self.client = client
        self.token = token
        self.id = id

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        merged = {} if self.token is None else {"Authorization": f"Bearer {self.token}"}
        merged.update(headers or {})
        return merged

    def request(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> TestResponse:
        return self.client.open(
            path if path.startswith(ROOT_PATHS) else "/api/v1" + path,
            method=method,
            headers=self._headers(headers),
            **kwargs,
        )

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("DELETE", path, **kwargs)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def reserver(clock: FixedClock) -> Iterator[Reserver]:
    system = Reserver.in_memory(
        clock=clock,
        identity=IdentitySettings(environment="development"),
        hasher=ScryptPasswordHasher(n=16, r=1, p=1),
    )
    yield system
    system.close()


@pytest.fixture
def people(reserver: Reserver) -> dict[str, tuple[str, str]]:
    """The administrator, two users and a guest: name to (user id, access token)."""
    admin = reserver.identity.setup(UserDraft("admin"), PASSWORD)
    boss = reserver.identity.authenticate(_login(reserver, "admin"))
    found = {"admin": admin.id}
    for name, role in (("ann", Role.USER), ("bob", Role.USER), ("gus", Role.GUEST)):
        found[name] = reserver.users.create(boss, UserDraft(name), PASSWORD, roles=[role]).id
    return {name: (uid, _login(reserver, name)) for name, uid in found.items()}


def _login(reserver: Reserver, name: str) -> str:
    tokens = reserver.identity.login(name, PASSWORD)
    return tokens.access_token  # type: ignore[union-attr]


@pytest.fixture
def services(reserver: Reserver) -> Services:
    return Services(reserver)


@pytest.fixture
def settings() -> Settings:
    return Settings(environment=Environment.TEST)


@pytest.fixture
def app(settings: Settings, services: Services) -> Flask:
    return create_app(settings, services=services)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _caller(client: FlaskClient, people: dict[str, tuple[str, str]], name: str) -> Caller:
    user_id, token = people[name]
    return Caller(client, token, user_id)


@pytest.fixture
def admin(client: FlaskClient, people: dict[str, tuple[str, str]]) -> Caller:
    return _caller(client, people, "admin")


@pytest.fixture
def ann(client: FlaskClient, people: dict[str, tuple[str, str]]) -> Caller:
    return _caller(client, people, "ann")


@pytest.fixture
def bob(client: FlaskClient, people: dict[str, tuple[str, str]]) -> Caller:
    return _caller(client, people, "bob")


@pytest.fixture
def guest(client: FlaskClient, people: dict[str, tuple[str, str]]) -> Caller:
    return _caller(client, people, "gus")


@pytest.fixture
def anon(client: FlaskClient, people: dict[str, tuple[str, str]]) -> Caller:
    """An anonymous caller, once the usual people exist."""
    return Caller(client, None)


@pytest.fixture
def room(admin: Caller) -> dict[str, Any]:
    made = admin.post(
        "/resources", json={"name": "Spree room", "timezone": "UTC", "tags": ["video"]}
    )
    assert made.status_code == 201, made.json
    return made.json  # type: ignore[no-any-return]


def problem_of(response: TestResponse, status: int) -> dict[str, Any]:
    """The problem+json body of ``response``, checked for its status and shape."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.json
    assert body is not None
    assert body["status"] == status
    assert {"type", "title", "detail", "instance"} <= set(body)
    return body  # type: ignore[no-any-return]


@pytest.fixture
def problem() -> Any:
    """``problem(response, status)``: the checked problem+json body of ``response``."""
    return problem_of


@pytest.fixture
def make_caller() -> Any:
    """``make_caller(client, token)``: a caller with any token."""
    return Caller
