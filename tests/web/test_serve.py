"""The one-command server: embedded defaults, first-run setup and demo data, gunicorn app."""

from __future__ import annotations

import http.client
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reserver.core import Reserver
from reserver.flask import Environment, Settings
from reserver.flask.serve import Server, claim_port, embedded_defaults, parse, prepare


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


@pytest.mark.parametrize("port", ["0", "65536", "http"])
def test_the_command_line_refuses_a_port_that_is_no_fixed_port(
    port: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse(["--port", port])
    assert exited.value.code == 2
    assert "is not a port from 1 to 65535" in capsys.readouterr().err


def test_the_command_line_defaults_to_two_threaded_workers() -> None:
    args = parse([])
    assert (args.workers, args.threads, args.port, args.host) == (2, 4, 8000, "127.0.0.1")


def test_settings_refuse_a_weak_secret_in_production() -> None:
    from reserver.core.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        Settings.from_env({"RESERVER_SECRET_KEY": "short"})
    assert Settings.from_env({"RESERVER_ENVIRONMENT": "test"}).environment is Environment.TEST


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(port: int, path: str) -> tuple[int, str]:
    """One request on a connection of its own, so that either worker may take it."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def _health_count(exposition: str) -> float:
    pattern = r'reserver_http_requests_total\{method="GET",route="/health",status="200"\} (\S+)'
    found = re.search(pattern, exposition)
    return float(found.group(1)) if found else 0.0


def test_every_worker_answers_metrics_for_all_workers(tmp_path: Path) -> None:
    port = _free_port()
    environ = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    command = [sys.executable, "-m", "reserver.flask.serve", "--port", str(port)]
    server = subprocess.Popen(
        [*command, "--data", str(tmp_path / "data"), "--no-demo", "--workers", "2"],
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if _get(port, "/live")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        for _ in range(40):
            assert _get(port, "/health")[0] == 200
        counts = {_health_count(_get(port, "/metrics")[1]) for _ in range(12)}
        assert counts == {40.0}, f"each worker counted only its own requests: {counts}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_server_refuses_a_port_another_server_listens_on() -> None:
    """Its workers share the port through SO_REUSEPORT: a second server must not join them."""
    with socket.socket() as running:
        running.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        running.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        running.bind(("127.0.0.1", 0))
        running.listen()
        port = int(running.getsockname()[1])
        with pytest.raises(SystemExit, match=f"127.0.0.1:{port}.*another server"):
            claim_port("127.0.0.1", port)
    claim_port("127.0.0.1", port)  # free again: no error
