"""Problems, probes, metrics, headers, CORS, rate limits and quotas."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import attrs
import pytest

from reserver.core import Reserver, ResourceDraft
from reserver.core.adapters.hashing import ScryptPasswordHasher
from reserver.core.adapters.memory import InMemoryStorage
from reserver.core.errors import ConfigurationError, RunAgain
from reserver.core.identity import UserDraft
from reserver.core.ids import ResourceId
from reserver.core.ports import Transaction
from reserver.core.principals import Principal, Role
from reserver.core.settings import IdentitySettings
from reserver.core.spans import TimeSpan
from reserver.core.testing.fakes import FailingStorage, FixedClock
from reserver.flask import Environment, Services, Settings, Tier, create_app
from reserver.flask.limits import MemoryWindows


@pytest.fixture
def ADMIN(people: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {people['admin'][1]}"}


@pytest.fixture
def ANN(people: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {people['ann'][1]}"}


@pytest.fixture
def failing() -> FailingStorage:
    return FailingStorage(InMemoryStorage())


@pytest.fixture
def failing_client(failing: FailingStorage) -> Any:
    reserver = Reserver(storage=failing, identity=IdentitySettings(environment="development"))
    services = Services(reserver, authenticator=lambda token: Principal.user("ann"))
    return create_app(Settings(environment=Environment.TEST), services=services).test_client()


ANYONE = {"Authorization": "Bearer anything"}
NOW = datetime(2030, 1, 7, 8, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
PASSWORD = "correct-horse-battery-staple-42"
T = TypeVar("T")


def test_an_unknown_route_is_a_404_problem(problem: Any, anon: Any) -> None:
    problem(anon.get("/api/v1/no-such-thing"), 404)


def test_a_wrong_method_is_a_405_problem_with_allow(problem: Any, admin: Any) -> None:
    refused = admin.request("PUT", "/reservations/my")
    problem(refused, 405)
    assert "GET" in refused.headers["Allow"]


def test_a_body_over_the_limit_is_a_413_problem(
    problem: Any, services: Services, ADMIN: Any
) -> None:
    app = create_app(Settings(environment=Environment.TEST, max_body_bytes=100), services=services)
    sent = app.test_client().post("/api/v1/resources", json={"name": "x" * 500}, headers=ADMIN)
    problem(sent, 413)


def test_storage_failure_is_a_logged_503(
    problem: Any, failing: FailingStorage, failing_client: Any, caplog: Any
) -> None:
    failing.fail_next()
    with caplog.at_level(logging.ERROR, logger="reserver.flask"):
        answer = problem(failing_client.get("/api/v1/resources", headers=ANYONE), 503)
    assert "simulated" not in answer["detail"] or answer["title"].startswith("Service")
    assert any("StorageError" in r.getMessage() for r in caplog.records)


def test_a_bug_is_a_bare_500_problem_and_logged(
    problem: Any, reserver: Reserver, ann: Any, caplog: Any, monkeypatch: Any
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(reserver.resources, "list", broken)
    with caplog.at_level(logging.ERROR, logger="reserver.flask"):
        answer = ann.get("/resources")
    body = problem(answer, 500)
    assert "secret internals" not in answer.get_data(as_text=True)
    assert "Traceback" not in answer.get_data(as_text=True)
    assert body["title"] == "Internal server error"
    assert any(r.exc_info for r in caplog.records)


def test_probes_answer(anon: Any) -> None:
    assert anon.get("/health").json["status"] == "ok"
    assert anon.get("/live").json == {"alive": True}
    assert anon.get("/ready").json == {"status": "ok", "database": "ok"}


def test_ready_is_503_when_the_database_fails(
    problem: Any, failing: FailingStorage, failing_client: Any
) -> None:
    failing.fail_next()
    problem(failing_client.get("/ready"), 503)
    assert failing_client.get("/ready").status_code == 200


def test_metrics_count_by_route_template(
    admin: Any, ann: Any, anon: Any, room: dict[str, Any]
) -> None:
    for n in range(3):
        ann.get(f"/resources/nope-{n}")
    ann.post(
        "/reservations",
        json={
            "resource_id": room["id"],
            "start": "2030-01-08T10:00:00+00:00",
            "end": "2030-01-08T11:00:00+00:00",
        },
    )
    ann.post(
        "/reservations",
        json={
            "resource_id": room["id"],
            "start": "2030-01-08T10:00:00+00:00",
            "end": "2030-01-08T11:00:00+00:00",
        },
    )
    text = anon.get("/metrics").get_data(as_text=True)
    assert 'route="/api/v1/resources/<resource_id>",status="404"} 3.0' in text
    assert "nope-1" not in text
    assert 'reserver_bookings_total{kind="single"} 1.0' in text
    assert 'reserver_conflicts_total{rule="overlap"} 1.0' in text
    assert "reserver_http_request_duration_seconds_bucket" in text


def test_a_metrics_token_closes_metrics_to_everyone_else(services: Services) -> None:
    token = "m" * 12 + "etrics-token-42"
    settings = Settings(environment=Environment.TEST, metrics_token=token)
    client = create_app(settings, services=services).test_client()
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": "Bearer " + token[:-1] + "x"})
    assert wrong.status_code == 401
    assert wrong.content_type == "application/problem+json"
    right = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert right.status_code == 200
    assert "reserver_http_requests_total" in right.get_data(as_text=True)


def test_security_headers_are_on_every_answer(anon: Any, ann: Any) -> None:
    for answer in (anon.get("/health"), ann.get("/resources"), anon.get("/api/v1/missing")):
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
        assert answer.headers["Referrer-Policy"] == "no-referrer"
    assert ann.get("/resources").headers["Cache-Control"] == "no-store"
    assert "Retry-After" not in ann.get("/resources").headers


def test_cors_answers_only_configured_origins(services: Services) -> None:
    settings = Settings(environment=Environment.TEST, cors_origins=("https://app.example",))
    client = create_app(settings, services=services).test_client()
    preflight = client.options(
        "/api/v1/reservations",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "If-Match" in preflight.headers["Access-Control-Allow-Headers"]
    stranger = client.get("/health", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in stranger.headers


def test_tiers_limit_per_user_and_not_per_token(
    problem: Any, services: Services, ADMIN: Any, ANN: Any
) -> None:
    tiers = {
        "anonymous": Tier("2/minute", None),
        "user": Tier("3/minute", None),
        "admin": Tier("100/minute", None),
    }
    client = create_app(
        Settings(environment=Environment.TEST, tiers=tiers), services=services
    ).test_client()
    for _ in range(3):
        assert client.get("/api/v1/resources", headers=ANN).status_code == 200
    refused = client.get("/api/v1/resources", headers=ANN)
    problem(refused, 429)
    assert int(refused.headers["Retry-After"]) >= 1
    assert client.get("/api/v1/resources", headers=ADMIN).status_code == 200
    garbage = {"Authorization": "Bearer made-up-token-that-is-long"}
    assert [client.get("/api/v1/resources", headers=garbage).status_code for _ in range(3)] == [
        401,
        401,
        429,
    ]


def test_a_tier_counts_every_request_of_its_caller_and_says_so_in_headers(
    problem: Any, services: Services, ANN: Any
) -> None:
    tiers = {"anonymous": Tier("2/minute", None), "user": Tier("3/minute", None)}
    tiers["admin"] = tiers["user"]
    client = create_app(
        Settings(environment=Environment.TEST, tiers=tiers), services=services
    ).test_client()
    answers = [
        client.get("/api/v1/resources", headers=ANN),
        client.get("/api/v1/users/me", headers=ANN),
        client.get("/api/v1/quotas/my-usage", headers=ANN),
    ]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0"]
    assert {a.headers["X-RateLimit-Limit"] for a in answers} == {"3"}
    assert "Retry-After" not in answers[0].headers
    refused = client.get("/api/v1/tags", headers=ANN)  # yet another endpoint
    problem(refused, 429)
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert int(refused.headers["X-RateLimit-Reset"]) >= int(answers[0].headers["X-RateLimit-Reset"])


def test_cors_preflights_count_against_nothing(services: Services) -> None:
    tiers = {name: Tier("1/minute", 1) for name in ("anonymous", "user", "admin")}
    settings = Settings(
        environment=Environment.TEST, tiers=tiers, cors_origins=("https://app.example",)
    )
    client = create_app(settings, services=services).test_client()
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "GET"}
    assert {
        client.options("/api/v1/resources", headers=preflight).status_code for _ in range(3)
    } == {200}
    assert client.get("/api/v1/setup/status").status_code == 200  # the anonymous tier's one
    assert client.get("/api/v1/setup/status").status_code == 429


@pytest.mark.parametrize("shared", [True, False])
def test_processes_sharing_a_redis_storage_share_each_callers_budget(
    services: Services, ANN: Any, redis_url: str, shared: bool
) -> None:
    # Two apps stand for two worker processes; a caller's requests alternate between them.
    # With memory storage (the negative control) each process keeps its own count.
    tiers = {name: Tier("3/minute", None) for name in ("anonymous", "user", "admin")}
    url = redis_url if shared else "memory://"
    settings = Settings(environment=Environment.TEST, tiers=tiers, rate_limit_storage_url=url)
    workers = [create_app(settings, services=services).test_client() for _ in range(2)]
    answers = [workers[n % 2].get("/api/v1/users/me", headers=ANN).status_code for n in range(5)]
    assert answers == ([200, 200, 200, 429, 429] if shared else [200] * 5)


class _StaleOnce(FailingStorage):
    """A storage that counts its scopes, and finds its caches stale once when armed.

    As ``SqlStorage`` on PostgreSQL does, ``run_scoped`` runs the work again on ``RunAgain``;
    armed, the next writing unit of work raises it before it opens.
    """

    def __init__(self, inner: InMemoryStorage) -> None:
        super().__init__(inner)
        self.scopes = self.outside = self.depth = 0
        self.armed = False
        self.between: Callable[[], None] = lambda: None

    def run_scoped(self, work: Callable[[], T]) -> T:
        if self.depth:  # inside an open scope: part of it
            return work()
        self.scopes += 1
        self.depth += 1
        try:
            return work()
        except RunAgain:
            self.between()
            return work()
        finally:
            self.depth -= 1

    def transaction(self, *, readonly: bool = False) -> AbstractContextManager[Transaction]:
        self.outside += not self.depth
        if self.armed and not readonly:
            self.armed = False
            raise RunAgain("the caches were stale (simulated)")
        return super().transaction(readonly=readonly)


@attrs.frozen
class _Stale:
    storage: _StaleOnce
    client: Any
    token: str  # ann's
    booking: dict[str, str]  # of a free hour of a room


@pytest.fixture
def stale() -> _Stale:
    """A storage that can turn stale, a client over it, ann's token and a booking to make."""
    storage = _StaleOnce(InMemoryStorage())
    reserver = Reserver(
        storage=storage,
        clock=FixedClock(NOW),
        identity=IdentitySettings(environment="development"),
        hasher=ScryptPasswordHasher(n=16, r=1, p=1),
    )
    reserver.identity.setup(UserDraft("admin"), PASSWORD)
    boss = reserver.identity.authenticate(login_token(reserver, "admin"))
    reserver.users.create(boss, UserDraft("ann"), PASSWORD, roles=[Role.USER])
    room = reserver.resources.create(boss, ResourceDraft(name="Room", timezone="UTC"))
    client = create_app(
        Settings(environment=Environment.TEST), services=Services(reserver)
    ).test_client()
    start = NOW + timedelta(days=1, hours=2)
    booking = {
        "resource_id": room.id,
        "start": start.isoformat(),
        "end": (start + HOUR).isoformat(),
    }
    token = login_token(reserver, "ann")
    storage.scopes = storage.outside = 0
    return _Stale(storage, client, token, booking)


def login_token(reserver: Reserver, name: str) -> str:
    tokens = reserver.identity.login(name, PASSWORD)
    return tokens.access_token  # type: ignore[union-attr]


def test_every_request_runs_in_one_scope_of_the_storage(stale: _Stale) -> None:
    client, ann = stale.client, {"Authorization": f"Bearer {stale.token}"}
    assert client.get("/api/v1/setup/status").status_code == 200
    assert client.get("/api/v1/resources", headers=ANYONE).status_code == 401  # refused too
    made = client.post("/api/v1/reservations", json=stale.booking, headers=ann)
    assert made.status_code == 201, made.json
    assert (stale.storage.scopes, stale.storage.outside) == (3, 0)


def test_a_request_whose_caches_were_stale_runs_again_and_answers_once(stale: _Stale) -> None:
    client, ann = stale.client, {"Authorization": f"Bearer {stale.token}"}
    stale.storage.armed = True
    made = client.post("/api/v1/reservations", json=stale.booking, headers=ann)
    assert made.status_code == 201, made.json
    assert stale.storage.scopes == 1
    mine = client.get("/api/v1/reservations/my", headers=ann).json
    assert [r["id"] for r in mine["items"]] == [made.json["id"]]
    text = client.get("/metrics").get_data(as_text=True)
    assert "reserver_http_request_reruns_total 1.0" in text
    assert 'reserver_bookings_total{kind="single"} 1.0' in text
    assert 'route="/api/v1/reservations",status="201"} 1.0' in text


def test_a_request_run_again_authenticates_afresh(stale: _Stale, problem: Any) -> None:
    """A session ended between the two tries is dead for the second: ``g`` starts afresh."""
    client, ann = stale.client, {"Authorization": f"Bearer {stale.token}"}
    reserver = client.application.extensions["reserver"].reserver
    stale.storage.armed = True
    stale.storage.between = lambda: reserver.identity.logout(
        reserver.identity.authenticate(stale.token)
    )
    problem(client.post("/api/v1/reservations", json=stale.booking, headers=ann), 401)
    with stale.storage.transaction(readonly=True) as tx:
        window = TimeSpan(NOW, NOW + timedelta(days=2))
        assert (
            tx.reservations.blocking_overlaps([ResourceId(stale.booking["resource_id"])], window)
            == []
        )


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_memory_windows_count_per_key_and_start_afresh_when_a_window_ends() -> None:
    clock = _Clock()
    windows = MemoryWindows(clock, sweep_every=3)
    assert (windows.get("a"), windows.get_expiry("a")) == (0, 1_000.0)
    assert [windows.incr("a", 60) for _ in range(3)] == [1, 2, 3]
    assert windows.incr("b", 10, amount=5) == 5
    assert (windows.get("a"), windows.get_expiry("a")) == (3, 1_060.0)
    clock.now = 1_010.0  # b's window has ended, a's not
    assert (windows.get("b"), windows.get_expiry("b")) == (0, 1_010.0)
    assert windows.incr("a", 60) == 4
    clock.now = 1_060.0
    assert windows.incr("a", 60) == 1  # a new window, from now; the 6th increment sweeps
    assert windows.get_expiry("a") == 1_120.0
    windows.incr("c", 60)
    assert len(windows) == 2  # b's ended window was dropped


class _BrokenStorage:
    """A rate-limit storage whose server is gone."""

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        raise ConnectionError("redis is down")

    def get_expiry(self, key: str) -> float:
        raise ConnectionError("redis is down")


def test_a_failing_limit_storage_lets_requests_through_but_not_sign_ins(
    problem: Any, services: Services, ANN: Any, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(Settings(environment=Environment.TEST), services=services)
    app.extensions["reserver.limits"]._storage = _BrokenStorage()
    client = app.test_client()
    with caplog.at_level(logging.ERROR, logger="reserver.flask.limits"):
        assert client.get("/api/v1/resources", headers=ANN).status_code == 200
        sign_in = client.post("/api/v1/token", json={"username": "ann", "password": "x" * 12})
    problem(sign_in, 503)
    assert "redis is down" in caplog.text


@pytest.mark.parametrize("url", ["nope://x", "async+memory://"])
def test_an_unusable_limit_storage_is_a_configuration_error(services: Services, url: str) -> None:
    with pytest.raises(ConfigurationError, match="rate-limit storage"):
        create_app(
            Settings(environment=Environment.TEST, rate_limit_storage_url=url), services=services
        )


def test_probes_are_never_limited(services: Services) -> None:
    tiers = {
        "anonymous": Tier("1/minute", 1),
        "user": Tier("1/minute", 1),
        "admin": Tier("1/minute", 1),
    }
    client = create_app(
        Settings(environment=Environment.TEST, tiers=tiers), services=services
    ).test_client()
    assert {client.get("/health").status_code for _ in range(5)} == {200}
    assert {client.get("/api/v1/openapi.json").status_code for _ in range(3)} == {200}


def test_the_daily_quota_is_counted_and_enforced(
    people: Any, problem: Any, services: Services, ADMIN: Any, ANN: Any
) -> None:
    tiers = {
        "anonymous": Tier("100/minute", 10),
        "user": Tier("100/minute", 3),
        "admin": Tier("100/minute", None),
    }
    settings = Settings(
        environment=Environment.TEST, tiers=tiers, user_tiers={people["admin"][0]: "user"}
    )
    client = create_app(settings, services=services).test_client()
    usage = client.get("/api/v1/quotas/my-usage", headers=ANN).json
    assert usage["tier"] == "user"
    assert usage["daily_limit"] == 3
    assert usage["used_today"] == 1
    client.get("/api/v1/resources", headers=ANN)
    client.get("/api/v1/resources", headers=ANN)
    refused = client.get("/api/v1/resources", headers=ANN)
    assert "daily quota" in problem(refused, 429)["detail"]
    assert int(refused.headers["Retry-After"]) > 60
    admin_usage = client.get("/api/v1/quotas/my-usage", headers=ADMIN).json
    assert admin_usage["tier"] == "user", "user_tiers moves a named user to another tier"


def test_admins_have_no_daily_quota(admin: Any) -> None:
    usage = admin.get("/quotas/my-usage").json
    assert usage == {
        "tier": "admin",
        "rate_limit": "2000/minute",
        "daily_limit": None,
        "used_today": 0,
        "remaining_today": None,
        "resets_at": None,
    }
