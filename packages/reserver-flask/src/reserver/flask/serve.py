"""``reserver-serve``: the whole server in one command, under gunicorn.

On the embedded default it keeps everything in one data folder: the SQLite database (migrated
when the storage opens) and a generated secret key. On the first run it creates the
administrator, whose password it prints once, and demo data. Every ``RESERVER_*`` variable
still applies (``RESERVER_DATABASE_URL`` for PostgreSQL, ``RESERVER_SECRET_KEY``, ...).
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]

from flask import Flask
from reserver.core.facade import Reserver
from reserver.core.identity import Tokens, UserDraft
from reserver.flask import demo
from reserver.flask.app import create_app
from reserver.flask.metrics import MULTIPROCESS_DIR
from reserver.flask.settings import Settings

SECRET_FILE = "secret_key"


class Server(BaseApplication):  # type: ignore[misc]  # gunicorn is untyped
    """gunicorn running ``create_app(settings)`` in each worker (no app is shared by fork)."""

    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self._settings = settings
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        """Hand our options to gunicorn."""
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        """Build this worker's app."""
        return create_app(self._settings)


def _private_file(path: Path, make: str) -> str:
    """The content of ``path``, written (readable by the owner only) with ``make`` if absent."""
    if not path.exists():
        path.write_text(make + "\n", encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def embedded_defaults(data: Path) -> dict[str, str]:
    """The settings of the embedded default: everything inside the ``data`` folder."""
    data.mkdir(parents=True, exist_ok=True)
    secret = _private_file(data / SECRET_FILE, secrets.token_urlsafe(48))
    return {
        "RESERVER_DATABASE_URL": f"sqlite:///{(data / 'reserver.db').resolve()}",
        "RESERVER_SECRET_KEY": secret,
    }


def prepare(settings: Settings, *, with_demo: bool) -> list[str]:
    """Migrate the database; on a fresh one create the administrator and the demo data.

    Returns the lines to print: the administrator's password appears this once only.
    """
    reserver = Reserver.from_url(
        settings.database_url, settings=settings.core(), identity=settings.identity()
    )
    try:
        if reserver.identity.setup_status().user_count:
            return []
        password = secrets.token_urlsafe(18)
        reserver.identity.setup(UserDraft("admin", display_name="Administrator"), password)
        tokens = reserver.identity.login("admin", password)
        assert isinstance(tokens, Tokens)  # a fresh administrator has no MFA yet
        admin = reserver.identity.authenticate(tokens.access_token)
        lines = [
            "First run: an administrator was created. Log in with (shown once, change it):",
            f"    username: admin    password: {password}",
        ]
        if with_demo and demo.is_empty(reserver, admin):
            people = tuple(
                reserver.users.create(admin, UserDraft(name), secrets.token_urlsafe(18)).id
                for name in ("ann", "bob")
            )
            made = demo.seed(reserver, admin, (admin.id, *people))
            lines.append(f"Demo data: {made} resources at two sites (Berlin and New York).")
        reserver.identity.logout(admin)
        return lines
    finally:
        reserver.close()


def _port(text: str) -> int:
    """A fixed TCP port: with ``reuse_port``, port 0 would give each worker a port of its own."""
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port from 1 to 65535")
    return port


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="reserver-serve", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=_port, default=8000, help="1 to 65535 (default 8000)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker")
    parser.add_argument("--data", type=Path, default=Path("data"), help="the data folder")
    parser.add_argument("--no-demo", action="store_true", help="never add demo data")
    return parser.parse_args(argv)


def metrics_folder(data: Path) -> Path:
    """Point prometheus_client's multiprocess mode at ``data/metrics``, emptied for this run.

    Workers then count into files there and ``/metrics`` sums them (see ``metrics``). An
    operator's own ``PROMETHEUS_MULTIPROC_DIR`` is kept as it is.
    """
    given = os.environ.get(MULTIPROCESS_DIR)
    if given:
        return Path(given)
    folder = data / "metrics"
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROCESS_DIR] = str(folder.resolve())
    return folder


def claim_port(host: str, port: int) -> None:
    """Refuse to start (``SystemExit``) when something already listens on ``host:port``.

    The workers listen with ``SO_REUSEPORT`` (see ``main``), which would let a second server
    started by mistake share the port with the first, silently, instead of failing.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise SystemExit(f"reserver-serve: cannot listen on {host}:{port}: {exc}") from exc
    family, kind, _, _, address = infos[0]
    with socket.socket(family, kind) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
        try:
            probe.bind(address)
        except OSError as exc:
            raise SystemExit(
                f"reserver-serve: cannot listen on {host}:{port} ({exc.strerror}); is another "
                "server running there? Stop it or give --port"
            ) from exc


def main(argv: Sequence[str] | None = None) -> None:
    """Start the server (blocks until gunicorn stops)."""
    args = parse(argv)
    claim_port(args.host, args.port)
    metrics_folder(args.data)
    settings = Settings.from_env(defaults=embedded_defaults(args.data))
    lines = prepare(settings, with_demo=not args.no_demo)
    url = f"http://{args.host}:{args.port}"
    lines += [f"Reserver on {url}: API {url}/api/v1, explorer {url}/api/docs"]
    print("\n".join(lines), file=sys.stderr, flush=True)
    options = {
        "bind": f"{args.host}:{args.port}",
        "workers": args.workers,
        "threads": args.threads,
        "worker_class": "gthread",
        # Each worker listens on a socket of its own, and the kernel spreads new connections
        # over them. On one shared socket the first worker to wake takes every connection of a
        # burst, and keep-alive clients then stay on it: 8 booking clients all on one worker,
        # the other idle, 355 bookings/s on SQLite instead of 480 (bench/RESULTS.md).
        "reuse_port": True,
        "accesslog": "-",
        "errorlog": "-",
        "proc_name": "reserver",
        "timeout": 60,
    }
    Server(settings, options).run()


if __name__ == "__main__":
    main()
