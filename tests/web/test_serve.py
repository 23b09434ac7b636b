"""The one-command server: embedded defaults, first-run setup and demo data, gunicorn app."""

from __future__ import annotations

from pathlib import Path

import pytest

from reserver.core import Reserver
from reserver.flask import Environment, Settings
from reserver.flask.serve import Server, embedded_defaults, parse, prepare


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    defaults = embedded_defaults(tmp_path / "data")
    return Settings.from_env({"RESERVER_ENVIRONMENT": "production"}, defaults=defaults)


def test_embedded_defaults_keep_everything_in_the_data_folder(tmp_path: Path) -> None:
    first = embedded_defaults(tmp_path / "data")
    assert first["RESERVER_DATABASE_URL"].endswith("/data/reserver.db")
    secret = tmp_path / "data" / "secret_key"
    assert secret.stat().st_mode & 0o777 == 0o600
    assert embedded_defaults(tmp_path / "data") == first, "the secret survives restarts"
    assert len(first["RESERVER_SECRET_KEY"]) >= 32


def test_first_run_creates_the_admin_once_and_demo_data(settings: Settings) -> None:
    lines = prepare(settings, with_demo=True)
    assert any("password:" in line for line in lines)
    assert prepare(settings, with_demo=True) == [], "the password is shown once only"
    password = next(line for line in lines if "password:" in line).split()[-1]
    reserver = Reserver.from_url(settings.database_url, identity=settings.identity())
    try:
        tokens = reserver.identity.login("admin", password)
        admin = reserver.identity.authenticate(tokens.access_token)  # type: ignore[union-attr]
        resources = reserver.resources.list(admin).items
        zones = {r.timezone for r in resources}
        assert zones == {"Europe/Berlin", "America/New_York"}
        assert {r.kind for r in resources} == {"room", "desk", "equipment"}
        assert reserver.reservations.list(admin).items, "some bookings exist"
    finally:
        reserver.close()


def test_the_server_builds_the_app_in_each_worker(settings: Settings) -> None:
    options = {"bind": "127.0.0.1:0", "workers": 2, "threads": 4, "worker_class": "gthread"}
    server = Server(settings, options)
    assert server.cfg.workers == 2
    assert server.cfg.threads == 4
    app = server.load()
    assert app.test_client().get("/ready").json == {"status": "ok", "database": "ok"}


def test_the_command_line_defaults_to_two_threaded_workers() -> None:
    args = parse([])
    assert (args.workers, args.threads, args.port, args.host) == (2, 4, 8000, "127.0.0.1")


def test_settings_refuse_a_weak_secret_in_production() -> None:
    from reserver.core.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        Settings.from_env({"RESERVER_SECRET_KEY": "short"})
    assert Settings.from_env({"RESERVER_ENVIRONMENT": "test"}).environment is Environment.TEST
