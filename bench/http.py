"""The JSON API under gunicorn: booking throughput, a booking race, hot reads, worker memory.

For SQLite (a temporary file), then PostgreSQL (a throwaway database), the script prepares the
database through the storage and the core facade (users, resources, 10,000 stored reservations,
session tokens), starts the real server, ``reserver-serve`` (gunicorn, 2 ``gthread`` workers
with 4 threads each, production settings, a random secret key) on 127.0.0.1 and a free port,
and measures over HTTP with keep-alive connections (a plain socket each), one per client thread:

- ``baseline_health``, ``baseline_me``: ``GET /health`` and ``GET /api/v1/users/me``, one
  client: what the stack alone costs, then with authentication and the limiter (no targets);
- ``my_reservations`` / ``my_reservations_upcoming``: ``GET /api/v1/reservations/my?limit=20``
  (``&upcoming=true``), one client: p99 < 20 ms;
- ``free_slots_day``: ``GET /api/v1/resources/{id}/available-slots?date=...``, one client:
  p50 < 5 ms;
- ``booking_throughput``: 8 clients booking free one-hour slots: >= 600 bookings/s, p99 < 50 ms;
- ``race``: 50 clients released together by a barrier on one slot, 20 rounds: exactly one 201 and
  49 409s a round, and one stored reservation per round;
- ``login``: ``POST /api/v1/token`` (scrypt), a few, one at a time (no target);
- ``worker_memory``: peak RSS (``VmHWM``) of each gunicorn worker: < 100 MB.

The rate limits stay on (as in production) with generous tiers set through
``RESERVER_TIERS`` and ``RESERVER_AUTH_RATE_LIMIT``, so that they never throttle the benchmark.
The server is stopped at the end, also on errors, Ctrl-C and SIGTERM.

    uv run python bench/http.py [--storages sqlite,postgres] [--bookings 6000] [--quick]
    uv run --with py-spy python bench/http.py --profile bench/out/prof   # + py-spy of workers
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import harness
from harness import say

from reserver.core import Reservation, ReservationStatus, Reserver, TimeSpan
from reserver.core.adapters.hashing import ScryptPasswordHasher
from reserver.core.commands import ResourceDraft
from reserver.core.identity import Tokens, UserDraft
from reserver.core.ids import ReservationId, ResourceId, UserId
from reserver.core.models import Attributes
from reserver.core.settings import IdentitySettings

harness.unshadow_http()  # this file's name would hide the standard package from later imports
BENCH = "http"
HOST = "127.0.0.1"
SEED = 20300107
RESOURCES = 100
USERS = 50  # bench users: the race needs one per client
PER_DAY = 3
PAST_DAYS = 20
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
ZONE = "Europe/Berlin"
KINDS = ("room", "desk", "lab", "equipment")
# Where each phase books, in days from today (UTC): far apart, so that no two phases collide
# and none touches the seeded reservations.
BOOK_FROM_DAYS = 60
RACE_FROM_DAYS = 120
WARMUP_FROM_DAYS = 200
PROFILE_FROM_DAYS = 300
SLOTS_DAY_OFFSET = 2  # free slots are asked for the day after tomorrow (it holds bookings)
# Targets of the issue.
TARGET_BOOKINGS_PER_SECOND = 600.0
TARGET_BOOKING_P99_MS = 50.0
TARGET_MY_P99_MS = 20.0
TARGET_SLOTS_P50_MS = 5.0
TARGET_WORKER_RSS_MB = 100.0
# Tiers far above anything the benchmark sends, so the limiter runs but never refuses.
GENEROUS_TIERS = ",".join(
    f"{tier}=1000000/minute;unlimited" for tier in ("anonymous", "user", "premium", "admin")
)
GENEROUS_AUTH_LIMIT = "100000/minute"
FAILURE_LINES = 20  # at most this many ``race_failure`` / ``booking_failure`` lines


class Failed(Exception):
    """A measurement that could not be made; reported as an ``error`` line."""


# -- HTTP client ------------------------------------------------------------------------------


class Client:
    """One keep-alive HTTP/1.1 connection to the server, authenticated as one user.

    A plain socket and a minimal parser rather than ``http.client``: the clients share the
    server's two cores, and ``http.client`` (its header parsing above all) spent 0.3 ms of CPU
    a request, a tenth of what a booking costs the whole machine. The server's answers carry
    ``Content-Length`` (or close the connection); a chunked one is refused loudly.
    """

    def __init__(self, port: int, token: str | None = None) -> None:
        self.port = port
        self.token = token
        self.sock: socket.socket | None = None
        self._buffer = b""

    def connect(self) -> None:
        """Open the connection now (``TCP_NODELAY``), so the first timed request does not pay."""
        self.close()
        sock = socket.create_connection((HOST, self.port), timeout=60)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock

    def request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        form: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        """Send one request; return the status and the whole body.

        A kept-alive connection that the server closed while it was idle (gunicorn's keep-alive
        timeout is 2 s) is reopened first, as urllib3 does; a GET that still meets a closed
        connection is sent once more, any other request raises.
        """
        lines = [
            f"{method} {path} HTTP/1.1",
            f"Host: {HOST}:{self.port}",
            "Accept: application/json",
        ]
        bearer = token or self.token
        if bearer:
            lines.append(f"Authorization: Bearer {bearer}")
        payload = b""
        if body is not None:
            payload = json.dumps(body).encode()
            lines.append("Content-Type: application/json")
        elif form is not None:
            payload = urlencode(form).encode()
            lines.append("Content-Type: application/x-www-form-urlencoded")
        if payload or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(payload)}")
        message = ("\r\n".join(lines) + "\r\n\r\n").encode() + payload
        if self._dropped():
            self.close()  # the server closed it (keep-alive timeout): reconnect
        for attempt in (1, 2):
            try:
                if self.sock is None:
                    self.connect()
                assert self.sock is not None
                self.sock.sendall(message)
                return self._response(method)
            except ConnectionError:  # reset, broken pipe, or closed before answering
                self.close()
                if method != "GET" or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _response(self, method: str) -> tuple[int, bytes]:
        head = self._read_until(b"\r\n\r\n")
        status_line, *header_lines = head.split(b"\r\n")
        status = int(status_line.split(b" ", 2)[1])
        length: int | None = None
        close = False
        for line in header_lines:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection":
                close = value.strip().lower() == b"close"
            elif name == b"transfer-encoding":
                raise Failed(f"a chunked answer to {method}: the bench client reads none")
        if length is None and (method == "HEAD" or status in (204, 304) or status < 200):
            length = 0
        data = self._read_to_end() if length is None else self._read_exactly(length)
        if close or length is None:
            self.close()
        return status, data

    def _receive(self) -> bytes:
        assert self.sock is not None
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionResetError("the server closed the connection")
        return chunk

    def _read_until(self, separator: bytes) -> bytes:
        while (end := self._buffer.find(separator)) < 0:
            self._buffer += self._receive()
        found, self._buffer = self._buffer[:end], self._buffer[end + len(separator) :]
        return found

    def _read_exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            self._buffer += self._receive()
        found, self._buffer = self._buffer[:size], self._buffer[size:]
        return found

    def _read_to_end(self) -> bytes:
        with suppress(ConnectionError):
            while True:
                self._buffer += self._receive()
        found, self._buffer = self._buffer, b""
        return found

    def _dropped(self) -> bool:
        """Whether the server closed our idle kept-alive connection (as urllib3 checks)."""
        if self.sock is None:
            return False
        readable, _, _ = select.select([self.sock], [], [], 0)
        return bool(readable)  # idle and readable: EOF (or a stray byte we cannot use)

    def close(self) -> None:
        """Close the connection."""
        if self.sock is not None:
            self.sock.close()
        self.sock = None
        self._buffer = b""


def get_ok(client: Client, path: str, token: str | None = None) -> Any:
    """GET ``path``; its JSON body, or ``Failed`` on any other status than 200."""
    status, data = client.request("GET", path, token=token)
    if status != 200:
        raise Failed(f"GET {path}: {status} {data[:300]!r}")
    return json.loads(data)


# -- the data ---------------------------------------------------------------------------------


@dataclass
class Fixture:
    """What the benchmark made before the server started, and the tokens to use it."""

    today: datetime  # midnight UTC of the day the run started
    admin_token: str
    user_ids: list[str]
    tokens: list[str]  # a session access token per bench user
    resources: list[str]
    race_resource: str
    seeded: int
    login_users: list[tuple[str, str]] = field(default_factory=list)  # (name, password)
    warmup_bookings: int = 0  # made over HTTP before the reads, far in the future

    @property
    def slots_day(self) -> date:
        """The local day whose free slots are read: it holds seeded bookings."""
        return (self.today + SLOTS_DAY_OFFSET * DAY).date()


def prepare(url: str, secret: str, options: argparse.Namespace) -> Fixture:
    """Fill an empty database: accounts, resources, seeded reservations; log the users in.

    The bench users' passwords are hashed with cheap scrypt parameters (their sessions are made
    here, through the facade, with the server's secret key); the ``login_users`` get the
    default, production parameters, for the ``login`` measure over HTTP.
    """
    from reserver.sql import SqlStorage

    started = time.perf_counter()
    storage = SqlStorage.from_url(url)
    try:
        identity = IdentitySettings(secret_keys=(secret,))
        cheap = ScryptPasswordHasher(n=16, r=1, p=1)
        reserver = Reserver(storage=storage, identity=identity, hasher=cheap)
        password = secrets.token_urlsafe(18)
        reserver.identity.setup(UserDraft("bench-admin", display_name="Bench admin"), password)
        admin_token = _access_token(reserver, "bench-admin", password)
        admin = reserver.identity.authenticate(admin_token)
        names = [f"bench-user-{n:02d}" for n in range(USERS)]
        user_ids = [str(reserver.users.create(admin, UserDraft(n), password).id) for n in names]
        tokens = [_access_token(reserver, name, password) for name in names]
        resources = [
            str(
                reserver.resources.create(
                    admin,
                    ResourceDraft(
                        name=f"Bench {KINDS[n % len(KINDS)]} {n:03d}",
                        kind=KINDS[n % len(KINDS)],
                        tags=frozenset({harness.TAG, f"floor-{n % 10}"}),
                        attributes=Attributes(capacity=2 + n % 20, location=f"building-{n % 3}"),
                        timezone=ZONE,
                    ),
                ).id
            )
            for n in range(RESOURCES)
        ]
        race_resource = str(
            reserver.resources.create(
                admin, ResourceDraft(name="Bench race room", kind="room", timezone=ZONE)
            ).id
        )
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        seeded = seed_reservations(storage, today, resources, user_ids, options.reservations)
        login_users: list[tuple[str, str]] = []
        if options.logins:
            strong = Reserver(storage=storage, identity=identity)  # production scrypt
            for n in range(options.logins):
                name, secret_word = f"bench-login-{n:02d}", secrets.token_urlsafe(18)
                strong.users.create(admin, UserDraft(name), secret_word)
                login_users.append((name, secret_word))
    finally:
        storage.close()
    say(
        f"  prepared {USERS} users, {RESOURCES + 1} resources, {seeded} reservations "
        f"in {time.perf_counter() - started:.1f} s"
    )
    return Fixture(
        today, admin_token, user_ids, tokens, resources, race_resource, seeded, login_users
    )


def _access_token(reserver: Reserver, name: str, password: str) -> str:
    tokens = reserver.identity.login(name, password)
    assert isinstance(tokens, Tokens)  # no MFA on bench accounts
    return tokens.access_token


def seed_reservations(
    storage: Any, today: datetime, resources: Sequence[str], holders: Sequence[str], count: int
) -> int:
    """Store ``count`` reservations through the repositories (no facade, no history).

    Each resource gets ``count / len(resources)`` one-hour bookings, three a day at random
    hours between 08:00 and 18:00 UTC, from ``PAST_DAYS`` days ago on: past ones completed,
    released or cancelled, future ones confirmed (90%) or cancelled. Holders take turns, so
    every bench user holds ``count / len(holders)`` of them.
    """
    rng = random.Random(SEED)
    now = datetime.now(UTC)
    per_resource = -(-count // len(resources))
    made: list[Reservation] = []
    turn = itertools.cycle(holders)
    for resource_id in resources:
        left = min(per_resource, count - len(made))
        day = -PAST_DAYS
        while left > 0:
            for hour in sorted(rng.sample(range(8, 18), min(PER_DAY, left))):
                start = today + day * DAY + hour * HOUR
                made.append(_reservation(rng, resource_id, next(turn), start, now))
                left -= 1
            day += 1
    for first in range(0, len(made), 2000):
        with storage.transaction() as tx:
            for reservation in made[first : first + 2000]:
                tx.reservations.add(reservation)
    return len(made)


def _reservation(
    rng: random.Random, resource_id: str, holder: str, start: datetime, now: datetime
) -> Reservation:
    draw = rng.random()
    if start + HOUR <= now:
        status = (
            ReservationStatus.COMPLETED
            if draw < 0.85
            else ReservationStatus.RELEASED
            if draw < 0.90
            else ReservationStatus.CANCELLED
        )
    else:
        status = ReservationStatus.CONFIRMED if draw < 0.9 else ReservationStatus.CANCELLED
    span = TimeSpan(start, start + HOUR)
    booked = min(now, start - timedelta(days=rng.randrange(1, 30)))
    return Reservation(
        id=ReservationId(f"{rng.getrandbits(128):032x}"),
        resource_id=ResourceId(resource_id),
        holder=UserId(holder),
        booked_by=UserId(holder),
        span=span,
        block=span,
        status=status,
        title="Team meeting",
        created_at=booked,
        updated_at=booked,
        cancel_reason="plans changed" if status is ReservationStatus.CANCELLED else None,
    )


def booking(resource_id: str, start: datetime, title: str) -> dict[str, Any]:
    """The body of ``POST /api/v1/reservations`` for one hour from ``start``."""
    return {
        "resource_id": resource_id,
        "start": start.isoformat(),
        "end": (start + HOUR).isoformat(),
        "title": title,
    }


def free_slot(fixture: Fixture, from_days: int, index: int) -> tuple[str, datetime]:
    """The ``index``-th free slot of a region: resources in turn, an hour later each turn."""
    resources = fixture.resources
    start = fixture.today + from_days * DAY + (index // len(resources)) * HOUR
    return resources[index % len(resources)], start


# -- the server -------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def children_of(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (gunicorn's workers, for its master)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def connections_by_worker(server: Server) -> list[int]:
    """How many established client connections each worker holds (keep-alive sticks them)."""
    owned: dict[str, int] = {}
    for pid in server.workers:
        with suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        owned[target[8:-1]] = pid
    counts = Counter[int]()
    port = f"{server.port:04X}"
    with suppress(OSError):
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            cells = line.split()
            # local address, remote address, state (01: established), ..., inode
            if cells[1].endswith(":" + port) and cells[3] == "01" and cells[9] in owned:
                counts[owned[cells[9]]] += 1
    return [counts.get(pid, 0) for pid in server.workers]


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` so far (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs so far, from ``/proc/stat``."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


class Server:
    """``reserver-serve`` on 127.0.0.1 and a free port, as a child process of ours."""

    def __init__(self, url: str, secret: str, directory: Path, options: argparse.Namespace):
        self.port = free_port()
        self.log_path = directory / "server.log"
        self.options = options
        command = [
            *_serve_command(),
            *("--host", HOST, "--port", str(self.port), "--data", str(directory / "data")),
            *("--workers", str(options.workers), "--threads", str(options.threads), "--no-demo"),
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("RESERVER_")}
        env.update(self.environment(url, secret))
        if options.no_rate_limits:
            env["RESERVER_RATE_LIMITS"] = "off"
        self._log = self.log_path.open("wb")
        # A session of its own: Ctrl-C reaches us, and we stop the server in order.
        self.process = subprocess.Popen(
            command, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.workers: list[int] = []

    @staticmethod
    def environment(url: str, secret: str) -> dict[str, str]:
        """The server's settings: production, with limits that never throttle the benchmark."""
        return {
            "RESERVER_DATABASE_URL": url,
            "RESERVER_SECRET_KEY": secret,
            "RESERVER_ENVIRONMENT": "production",
            "RESERVER_RATE_LIMITS": "on",
            "RESERVER_TIERS": GENEROUS_TIERS,
            "RESERVER_AUTH_RATE_LIMIT": GENEROUS_AUTH_LIMIT,
        }

    def wait_ready(self, timeout: float = 90.0) -> float:
        """Wait until ``/ready`` answers 200 and every worker runs; seconds it took."""
        started = time.perf_counter()
        deadline = started + timeout
        while True:
            if self.process.poll() is not None:
                raise Failed(f"the server exited with {self.process.returncode}:\n{self.tail()}")
            if time.perf_counter() > deadline:
                raise Failed(f"the server was not ready after {timeout:.0f} s:\n{self.tail()}")
            try:
                probe = Client(self.port)
                status, _ = probe.request("GET", "/ready")
                probe.close()
            except OSError:
                status = 0
            self.workers = children_of(self.process.pid)
            if status == 200 and len(self.workers) >= self.options.workers:
                return time.perf_counter() - started
            time.sleep(0.1)

    def tail(self, lines: int = 30) -> str:
        """The end of the server's log, without the access log's lines."""
        with suppress(OSError):
            text = self.log_path.read_text(errors="replace").splitlines()
            kept = [line for line in text if not line.startswith(f"{HOST} - ")]
            return "\n".join(kept[-lines:])
        return ""

    def stop(self, *, graceful: bool = True) -> None:
        """Stop gunicorn: SIGTERM to the master (graceful) or SIGINT (quick, after an error
        or Ctrl-C), then SIGKILL to whatever of ours is left."""
        process = self.process
        workers = set(self.workers) | set(children_of(process.pid))
        if process.poll() is None:
            process.send_signal(signal.SIGTERM if graceful else signal.SIGINT)
            try:
                process.wait(timeout=40 if graceful else 10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for pid in workers:  # orphans of a killed master
            with suppress(OSError):
                if Path(f"/proc/{pid}").exists() and _parent_of(pid) in (1, process.pid):
                    os.kill(pid, signal.SIGKILL)
        self._log.close()


def _parent_of(pid: int) -> int | None:
    with suppress(OSError, ValueError, IndexError):
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    return None


def _serve_command() -> list[str]:
    """``reserver-serve`` next to this Python, or ``python -m reserver.flask.serve``."""
    script = Path(sys.executable).parent / "reserver-serve"
    if script.exists():
        return [sys.executable, str(script)]
    return [sys.executable, "-m", "reserver.flask.serve"]


@contextmanager
def running_server(
    url: str, secret: str, options: argparse.Namespace, storage: str
) -> Iterator[Server]:
    """The server for one storage, stopped (and its files deleted) when the block ends."""
    with tempfile.TemporaryDirectory(prefix="reserver-bench-http-") as directory:
        server = Server(url, secret, Path(directory), options)
        try:
            took = server.wait_ready()
            say(
                f"  server up on port {server.port} in {took:.1f} s: master {server.process.pid},"
                f" workers {server.workers}"
            )
            harness.emit(
                BENCH,
                storage,
                "server_start",
                seconds=round(took, 2),
                workers=options.workers,
                threads=options.threads,
                worker_class="gthread",
                rate_limits="off" if options.no_rate_limits else "on, generous",
            )
            yield server
        except BaseException as exc:
            STOP.set()  # client threads still running end at their next request
            with harness.shielded():
                server.stop(graceful=False)
            if not isinstance(exc, KeyboardInterrupt):
                say(f"  server log (last lines):\n{server.tail()}")
            raise
        finally:
            with harness.shielded():
                server.stop()  # no-op when already stopped
                if options.server_log is not None:
                    shutil.copyfile(server.log_path, options.server_log)


# -- measurements -----------------------------------------------------------------------------


@dataclass
class Usage:
    """CPU used by the server and by this process over one phase."""

    server: list[int]
    cpu: dict[int, float] = field(default_factory=dict)
    own: float = 0.0
    machine: tuple[int, int] = (0, 0)
    connections: list[int] | None = None  # client connections per worker, when counted

    def __post_init__(self) -> None:
        self.cpu = {pid: cpu_seconds(pid) or 0.0 for pid in self.server}
        self.own = time.process_time()
        self.machine = machine_busy()

    def figures(self, requests: int) -> dict[str, Any]:
        """Server and client CPU per request, and how busy the machine was (and with what).

        ``other_cpu_share`` is the share of all CPUs that neither the workers nor this process
        used (the database server, other programs): high values mean a noisy machine.
        """
        spent = {pid: (cpu_seconds(pid) or 0.0) - before for pid, before in self.cpu.items()}
        own = time.process_time() - self.own
        busy, total = machine_busy()
        busy, total = busy - self.machine[0], max(total - self.machine[1], 1)
        ticks = os.sysconf("SC_CLK_TCK")
        ours = (sum(spent.values()) + own) * ticks
        per = max(requests, 1)
        return {
            "server_cpu_ms_per_request": round(sum(spent.values()) / per * 1000, 3),
            "worker_cpu_seconds": [round(s, 2) for s in spent.values()],
            "client_cpu_ms_per_request": round(own / per * 1000, 3),
            "machine_busy": round(busy / total, 3),
            "other_cpu_share": round(max(busy - ours, 0) / total, 3),
            **({} if self.connections is None else {"connections_per_worker": self.connections}),
        }


def warm_up(server: Server, fixture: Fixture, options: argparse.Namespace) -> None:
    """Book and read a little on several connections at once, so every worker is warm."""
    counter = itertools.count()
    lock = threading.Lock()

    def work(n: int) -> None:
        client = Client(server.port, fixture.tokens[n])
        try:
            for _ in range(options.warmup):
                resource, start = free_slot(fixture, WARMUP_FROM_DAYS, next(counter))
                status, data = client.request(
                    "POST", "/api/v1/reservations", booking(resource, start, "warm-up")
                )
                if status != 201:
                    raise Failed(f"warm-up booking: {status} {data[:300]!r}")
                with lock:
                    fixture.warmup_bookings += 1
                get_ok(client, "/api/v1/reservations/my?limit=20")
                get_ok(client, slots_path(fixture, resource))
        finally:
            client.close()

    run_threads([lambda n=n: work(n) for n in range(options.clients)])


def run_threads(jobs: Sequence[Callable[[], None]]) -> None:
    """Run each job in its own thread; re-raise the first failure after all have ended."""
    errors: list[BaseException] = []

    def guard(job: Callable[[], None]) -> None:
        try:
            job()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=guard, args=(job,), daemon=True) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def slots_path(fixture: Fixture, resource: str) -> str:
    """The free one-hour slots of the seeded day."""
    return (
        f"/api/v1/resources/{resource}/available-slots"
        f"?date={fixture.slots_day.isoformat()}&slot_duration=60"
    )


def measure_reads(
    server: Server, fixture: Fixture, storage: str, options: argparse.Namespace
) -> None:
    """The hot reads, one request at a time on one connection (the server otherwise idle)."""
    client = Client(server.port)
    client.connect()
    users = fixture.tokens
    per_user = options.reservations // USERS

    def mine(i: int) -> None:
        page = get_ok(client, "/api/v1/reservations/my?limit=20", token=users[i % len(users)])
        if len(page["items"]) != min(20, per_user):
            raise Failed(f"my reservations: {len(page['items'])} items, expected 20")

    def mine_upcoming(i: int) -> None:
        path = "/api/v1/reservations/my?limit=20&upcoming=true"
        get_ok(client, path, token=users[i % len(users)])

    def slots(i: int) -> None:
        found = get_ok(
            client, slots_path(fixture, fixture.resources[i % len(fixture.resources)]), users[0]
        )
        if not found:
            raise Failed("free slots: an empty list")

    def health(i: int) -> None:
        get_ok(client, "/health")

    def me(i: int) -> None:
        get_ok(client, "/api/v1/users/me", token=users[i % len(users)])

    reads: list[tuple[str, Callable[[int], None], dict[str, Any]]] = [
        # Baselines, no targets: the stack without auth, limits or database; then with them.
        ("baseline_health", health, {}),
        ("baseline_me", me, {}),
        ("my_reservations", mine, {"target_p99_ms": TARGET_MY_P99_MS}),
        ("my_reservations_upcoming", mine_upcoming, {"target_p99_ms": TARGET_MY_P99_MS}),
        ("free_slots_day", slots, {"target_p50_ms": TARGET_SLOTS_P50_MS}),
    ]
    try:
        for measure, operation, target in reads:
            try:
                usage = Usage(server.workers)
                timings = harness.time_each(operation, options.samples, options.warmup)
                figures = harness.latency_figures(timings)
            except (Failed, OSError) as exc:
                report_error(storage, measure, exc)
                continue
            meets = all(
                figures[name.removeprefix("target_")] < limit for name, limit in target.items()
            )
            harness.emit(
                BENCH,
                storage,
                measure,
                **figures,
                **target,
                **({"meets_target": meets} if target else {}),
                reservations_seeded=fixture.seeded,
                warmup_bookings=fixture.warmup_bookings,
                per_user=per_user,
                clients=1,
                **usage.figures(options.samples + options.warmup),
            )
            verdict = ("ok " if meets else "MISSED ") + str(target) if target else "(baseline)"
            say(
                f"  {measure:26s} p50 {figures['p50_ms']:6.2f} ms  p99 {figures['p99_ms']:6.2f} ms"
                f"  max {figures['max_ms']:6.1f} ms  {verdict}"
            )
    finally:
        client.close()


def book_concurrently(
    server: Server, fixture: Fixture, options: argparse.Namespace, from_days: int, seconds: float
) -> tuple[float, list[float], Counter[int], list[tuple[int, bytes]], Usage]:
    """``options.clients`` threads booking free slots until ``options.bookings`` or ``seconds``.

    Returns the elapsed time, each request's latency, the statuses, the first unexpected
    answers and the CPU usage.
    """
    counter = itertools.count()
    total = options.bookings
    start_line = threading.Barrier(options.clients + 1)
    timings: list[float] = []
    statuses: Counter[int] = Counter()
    odd: list[tuple[int, bytes]] = []
    lock = threading.Lock()
    clock = time.perf_counter

    def client_loop(n: int) -> None:
        client = Client(server.port, fixture.tokens[n])
        client.connect()
        mine: list[float] = []
        seen: Counter[int] = Counter()
        try:
            start_line.wait()
            deadline = clock() + seconds
            while (i := next(counter)) < total and clock() < deadline and not STOP.is_set():
                resource, start = free_slot(fixture, from_days, i)
                body = booking(resource, start, f"Booking {i}")
                began = clock()
                try:
                    status, data = client.request("POST", "/api/v1/reservations", body)
                except OSError as exc:  # counted as a failure (status 0); the next reconnects
                    status, data = 0, f"{type(exc).__name__}: {exc}".encode()
                    client.close()
                mine.append(clock() - began)
                seen[status] += 1
                if status != 201 and len(odd) < FAILURE_LINES:
                    odd.append((status, data[:300]))
        finally:
            client.close()
            with lock:
                timings.extend(mine)
                statuses.update(seen)

    threads = [
        threading.Thread(target=client_loop, args=(n,), daemon=True) for n in range(options.clients)
    ]
    for thread in threads:
        thread.start()
    start_line.wait()
    usage = Usage(server.workers)
    began = clock()
    time.sleep(min(0.5, seconds / 4))
    usage.connections = connections_by_worker(server)
    for thread in threads:
        thread.join()
    return clock() - began, timings, statuses, odd, usage


def measure_bookings(
    server: Server, fixture: Fixture, storage: str, options: argparse.Namespace
) -> None:
    """Booking throughput and latency with ``options.clients`` concurrent clients."""
    elapsed, timings, statuses, odd, usage = book_concurrently(
        server, fixture, options, BOOK_FROM_DAYS, options.max_seconds
    )
    made = statuses.get(201, 0)
    if not timings:
        report_error(storage, "booking_throughput", Failed("no booking was sent"))
        return
    figures = harness.latency_figures(timings)
    rate = made / elapsed
    meets = (
        rate >= TARGET_BOOKINGS_PER_SECOND
        and figures["p99_ms"] < TARGET_BOOKING_P99_MS
        and made == len(timings)
    )
    for status, data in odd:
        text = data.decode(errors="replace")
        harness.emit(BENCH, storage, "booking_failure", status=status, body=text)
        say(f"  booking refused: {status} {data[:200]!r}")
    harness.emit(
        BENCH,
        storage,
        "booking_throughput",
        clients=options.clients,
        count=made,
        requests=len(timings),
        statuses={str(k): v for k, v in sorted(statuses.items())},
        seconds=round(elapsed, 3),
        per_second=round(rate, 1),
        **figures,
        target_per_second=TARGET_BOOKINGS_PER_SECOND,
        target_p99_ms=TARGET_BOOKING_P99_MS,
        meets_target=meets,
        **usage.figures(len(timings)),
        workers=options.workers,
        threads=options.threads,
        rate_limits="off" if options.no_rate_limits else "on, generous",
    )
    say(
        f"  booking_throughput         {rate:8.1f} bookings/s ({made} in {elapsed:.1f} s, "
        f"{options.clients} clients)  p50 {figures['p50_ms']:.1f} ms  p99 {figures['p99_ms']:.1f}"
        f" ms  {'ok' if meets else 'MISSED'} (>= {TARGET_BOOKINGS_PER_SECOND:.0f}/s, p99 < "
        f"{TARGET_BOOKING_P99_MS:.0f} ms)"
    )


def measure_race(
    server: Server, fixture: Fixture, storage: str, options: argparse.Namespace
) -> None:
    """``race_clients`` clients released together on one slot, ``race_rounds`` times."""
    clients = min(options.race_clients, len(fixture.tokens))
    rounds = options.race_rounds
    start_line = threading.Barrier(clients)
    answers: list[list[tuple[int, bytes, float]]] = [[] for _ in range(rounds)]
    lock = threading.Lock()

    def racer(n: int) -> None:
        client = Client(server.port, fixture.tokens[n])
        client.connect()
        try:
            for number in range(rounds):
                if STOP.is_set():
                    break
                start = fixture.today + RACE_FROM_DAYS * DAY + number * HOUR
                body = booking(fixture.race_resource, start, f"Race {number} client {n}")
                start_line.wait(timeout=120)
                began = time.perf_counter()
                try:
                    status, data = client.request("POST", "/api/v1/reservations", body)
                except OSError as exc:
                    status, data = 0, f"{type(exc).__name__}: {exc}".encode()
                    client.close()
                took = time.perf_counter() - began
                with lock:
                    answers[number].append((status, data, took))
        finally:
            client.close()

    run_threads([lambda n=n: racer(n) for n in range(clients)])
    rounds_ok = 0
    created = conflicts = 0
    others: Counter[int] = Counter()
    rules: Counter[str] = Counter()
    failures = 0
    timings = []
    for number, got in enumerate(answers):
        wins = sum(1 for status, _, _ in got if status == 201)
        lost = sum(1 for status, _, _ in got if status == 409)
        created += wins
        conflicts += lost
        timings += [took for _, _, took in got]
        for status, data, _ in got:
            if status == 409:
                with suppress(ValueError, KeyError, TypeError):
                    rules.update(v["rule"] for v in json.loads(data).get("violations", []))
            elif status != 201:
                others[status] += 1
                if failures < FAILURE_LINES:
                    failures += 1
                    harness.emit(
                        BENCH,
                        storage,
                        "race_failure",
                        round=number,
                        status=status,
                        body=data[:300].decode(errors="replace"),
                    )
                    say(f"  race round {number}: unexpected {status} {data[:200]!r}")
        if wins == 1 and lost == len(got) - 1 and len(got) == clients:
            rounds_ok += 1
        else:
            say(f"  race round {number}: {wins} created, {lost} refused of {len(got)}")
    stored = stored_race_bookings(server, fixture)
    figures = harness.latency_figures(timings)
    meets = rounds_ok == rounds and stored == rounds and not others
    harness.emit(
        BENCH,
        storage,
        "race",
        clients=clients,
        rounds=rounds,
        rounds_ok=rounds_ok,
        created=created,
        conflicts=conflicts,
        other_statuses={str(k): v for k, v in sorted(others.items())},
        conflict_rules=dict(rules),
        stored_confirmed=stored,
        **figures,
        target="one 201 and the rest 409 each round; one stored reservation a round",
        meets_target=meets,
    )
    say(
        f"  race                       {rounds_ok}/{rounds} rounds with exactly one winner, "
        f"{created} created, {conflicts} x 409, other {dict(others)}, {stored} stored; "
        f"p99 {figures['p99_ms']:.0f} ms  {'ok' if meets else 'MISSED'}"
    )


def stored_race_bookings(server: Server, fixture: Fixture) -> int:
    """Confirmed reservations of the race resource, read back through the API as admin."""
    client = Client(server.port, fixture.admin_token)
    first = fixture.today + RACE_FROM_DAYS * DAY
    query = urlencode(
        {
            "resource_id": fixture.race_resource,
            "status": "confirmed",
            "start": first.isoformat(),
            "end": (first + 10 * DAY).isoformat(),
            "limit": 200,
        }
    )
    try:
        return len(get_ok(client, f"/api/v1/reservations?{query}")["items"])
    finally:
        client.close()


def measure_logins(
    server: Server, fixture: Fixture, storage: str, options: argparse.Namespace
) -> None:
    """``POST /api/v1/token`` with a password (scrypt, production parameters), one at a time."""
    if not fixture.login_users:
        return
    client = Client(server.port)
    timings = []
    try:
        for name, password in fixture.login_users:
            began = time.perf_counter()
            status, data = client.request(
                "POST", "/api/v1/token", form={"username": name, "password": password}
            )
            timings.append(time.perf_counter() - began)
            if status != 200 or "access_token" not in json.loads(data):
                raise Failed(f"log-in of {name}: {status} {data[:300]!r}")
    except (Failed, OSError) as exc:
        report_error(storage, "login", exc)
        return
    finally:
        client.close()
    figures = harness.latency_figures(timings)
    harness.emit(BENCH, storage, "login", **figures, hasher="scrypt n=2^15 r=8 p=3")
    say(f"  login                      p50 {figures['p50_ms']:.0f} ms ({len(timings)} log-ins)")


def worker_memory(server: Server) -> dict[int, dict[str, float | None]]:
    """VmHWM (peak) and VmRSS of each worker, in MiB."""
    found = {}
    for pid in server.workers:
        peak, now = harness.status_kib("VmHWM", pid), harness.status_kib("VmRSS", pid)
        found[pid] = {
            "peak": None if peak is None else round(peak / 1024, 1),
            "rss": None if now is None else round(now / 1024, 1),
        }
    return found


def report_memory(
    server: Server,
    storage: str,
    before_logins: dict[int, dict[str, float | None]],
    after: dict[int, dict[str, float | None]],
) -> None:
    """One ``worker_memory`` line per worker; the target applies to the whole run's peak."""
    now = set(children_of(server.process.pid))
    for pid, figures in after.items():
        peak = figures["peak"]
        earlier = before_logins.get(pid, {}).get("peak")
        harness.emit(
            BENCH,
            storage,
            "worker_memory",
            pid=pid,
            peak_rss_mb=peak,
            peak_rss_before_logins_mb=earlier,
            rss_mb=figures["rss"],
            target_peak_rss_mb=TARGET_WORKER_RSS_MB,
            meets_target=peak is not None and peak < TARGET_WORKER_RSS_MB,
            still_running=pid in now,
        )
        say(
            f"  worker {pid} memory       peak {peak} MiB (before log-ins {earlier}), "
            f"now {figures['rss']} MiB  "
            f"{'ok' if peak is not None and peak < TARGET_WORKER_RSS_MB else 'MISSED'}"
        )
    master = harness.status_kib("VmHWM", server.process.pid)
    if master is not None:
        say(f"  master {server.process.pid} memory       peak {master / 1024:.1f} MiB")


def report_error(storage: str, measure: str, exc: BaseException) -> None:
    """An ``error`` line for ``measure``; the script exits non-zero at the end."""
    ERRORS.append(f"{storage} {measure}")
    harness.emit(BENCH, storage, measure, error=f"{type(exc).__name__}: {exc}"[:2000])
    say(f"  {measure}: ERROR {type(exc).__name__}: {exc}")


ERRORS: list[str] = []
STOP = threading.Event()  # set when the run is being torn down: client threads stop


# -- profiling (py-spy) -----------------------------------------------------------------------


def profile_workers(
    server: Server, fixture: Fixture, storage: str, options: argparse.Namespace
) -> None:
    """Sample the workers with py-spy while they book, then while they serve the reads."""
    tool = shutil.which("py-spy")
    if tool is None:
        say("  --profile: py-spy not found; run with `uv run --with py-spy python bench/http.py`")
        return
    directory: Path = options.profile
    directory.mkdir(parents=True, exist_ok=True)

    regions = itertools.count(PROFILE_FROM_DAYS, 100)  # a fresh region per recording

    def book() -> None:
        saved = options.bookings
        options.bookings = 10**9
        try:
            elapsed, _, statuses, _, _ = book_concurrently(
                server, fixture, options, next(regions), options.profile_seconds
            )
        finally:
            options.bookings = saved
        made = statuses.get(201, 0)
        say(f"  (profiled load: {made / elapsed:.0f} bookings/s, statuses {dict(statuses)})")

    def read() -> None:
        deadline = time.perf_counter() + options.profile_seconds
        client = Client(server.port)
        try:
            i = 0
            while time.perf_counter() < deadline:
                token = fixture.tokens[i % USERS]
                get_ok(client, "/api/v1/reservations/my?limit=20", token)
                resource = fixture.resources[i % RESOURCES]
                get_ok(client, slots_path(fixture, resource), token)
                i += 1
        finally:
            client.close()

    modes = ("wall", "cpu") if options.profile_mode == "both" else (options.profile_mode,)
    for (name, load), mode in itertools.product((("book", book), ("read", read)), modes):
        recorders = []
        outputs = []
        idle = ["--idle"] if mode == "wall" else []
        for pid in server.workers:
            out = directory / f"http-{storage}-{name}-{mode}-{pid}.txt"
            outputs.append(out)
            recorders.append(
                subprocess.Popen(
                    [
                        *(tool, "record", "--pid", str(pid), "--rate", "200", *idle),
                        *("--nonblocking", "--format", "raw", "--output", str(out)),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        time.sleep(1.0)  # let py-spy attach
        try:
            load()
        finally:
            for recorder in recorders:
                recorder.send_signal(signal.SIGINT)
            for recorder in recorders:
                try:
                    _, errors = recorder.communicate(timeout=30)
                except subprocess.TimeoutExpired:
                    recorder.kill()
                    _, errors = recorder.communicate()
                if recorder.returncode not in (0, -signal.SIGINT) and errors:
                    say(f"  py-spy: {errors.strip()[-500:]}")
        summarize_stacks(f"http-{storage}-{name}-{mode}", [p for p in outputs if p.exists()])


def summarize_stacks(title: str, files: Sequence[Path], top: int = 22) -> None:
    """Top frames of the request-handling threads in py-spy's raw (collapsed) output."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for path in files:
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if "handle_request" not in stack or not count.isdigit():
                continue  # idle pool threads and the worker's main loop
            samples = int(count)
            total += samples
            frames = [_frame(f) for f in stack.split(";")]
            own[frames[-1]] += samples
            for frame in set(frames):
                inclusive[frame] += samples
    if not total:
        say(f"--- py-spy {title}: no request samples in {[str(f) for f in files]}")
        return
    kind = "wall clock, --idle" if title.endswith("-wall") else "on CPU"
    say(f"--- py-spy {title}: {total} samples in request threads ({kind})")
    say("  own time:")
    for frame, samples in own.most_common(top):
        say(f"    {samples / total:6.1%}  {frame}")
    say("  including callees:")
    for frame, samples in inclusive.most_common(top + 18):
        say(f"    {samples / total:6.1%}  {frame}")
    say(f"  raw stacks: {', '.join(str(f) for f in files)}")


def _frame(text: str) -> str:
    """``function (path/to/file.py:123)`` without the line number and the long path."""
    name, _, where = text.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/src/", "/lib/python"):
        if marker in where:
            where = where.split(marker, 1)[1]
            break
    return f"{name} ({where})"


# -- driver -----------------------------------------------------------------------------------


def run_storage(kind: str, url: str, options: argparse.Namespace) -> None:
    """Prepare the database of ``kind``, start the server on it, measure, stop it."""
    STOP.clear()
    secret = secrets.token_urlsafe(48)
    fixture = prepare(url, secret, options)
    with running_server(url, secret, options, kind) as server:
        warm_up(server, fixture, options)
        measure_reads(server, fixture, kind, options)
        measure_bookings(server, fixture, kind, options)
        measure_race(server, fixture, kind, options)
        before_logins = worker_memory(server)
        measure_logins(server, fixture, kind, options)
        report_memory(server, kind, before_logins, worker_memory(server))
        if options.profile is not None:
            profile_workers(server, fixture, kind, options)
        if set(children_of(server.process.pid)) != set(server.workers):
            say(f"  note: workers changed during the run: now {children_of(server.process.pid)}")


@contextmanager
def database(kind: str, options: argparse.Namespace) -> Iterator[str]:
    """The URL of an empty database of ``kind``, removed afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="reserver-bench-") as directory:
            yield f"sqlite:///{Path(directory) / 'bench.db'}"
        return
    with harness.throwaway_pg_database(options.pg_url) as url:
        yield url


QUICK = {
    "bookings": 800,
    "samples": 200,
    "warmup": 10,
    "race_rounds": 5,
    "logins": 1,
    "profile_seconds": 5.0,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    harness.add_storage_options(parser)
    parser.set_defaults(storages=["sqlite", "postgres"])
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke run")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (default 4)")
    parser.add_argument("--clients", type=int, default=8, help="booking clients (default 8)")
    parser.add_argument(
        "--bookings", type=int, default=6000, help="bookings to time in all (default 6000)"
    )
    parser.add_argument(
        "--max-seconds", type=float, default=60.0, help="cap on the booking phase (default 60)"
    )
    parser.add_argument(
        "--reservations", type=int, default=10_000, help="reservations stored before the reads"
    )
    parser.add_argument("--samples", type=int, default=1000, help="timed requests per read")
    parser.add_argument("--warmup", type=int, default=30, help="untimed requests first")
    parser.add_argument("--race-clients", type=int, default=USERS, help=f"at most {USERS}")
    parser.add_argument("--race-rounds", type=int, default=20)
    parser.add_argument(
        "--logins", type=int, default=3, help="password log-ins over HTTP (default 3)"
    )
    parser.add_argument(
        "--profile-seconds", type=float, default=15.0, help="load per py-spy recording"
    )
    parser.add_argument(
        "--profile-mode",
        choices=("wall", "cpu", "both"),
        default="both",
        help="py-spy: wall clock (--idle: waits count), on-CPU only, or both (default)",
    )
    parser.add_argument("--server-log", type=Path, help="keep a copy of the server's log here")
    parser.add_argument(
        "--no-rate-limits",
        action="store_true",
        help="experiment: RESERVER_RATE_LIMITS=off (the limiter's cost; not the benchmark's setup)",
    )
    options = parser.parse_args()
    if options.quick:
        for name, value in QUICK.items():
            if parser.get_default(name) == getattr(options, name):
                setattr(options, name, value)
    if options.race_clients > USERS or options.clients > USERS:
        parser.error(f"--clients and --race-clients: at most {USERS}")
    harness.exit_cleanly_on_sigterm()
    say(f"http: {harness.environment()}")
    for kind in options.storages:
        if kind == "memory":
            reason = "each gunicorn worker would hold its own in-memory storage"
            say(f"{kind:8s} SKIPPED: {reason}")
            harness.emit(BENCH, kind, "skipped", reason=reason)
            continue
        say(f"{kind}:")
        try:
            with database(kind, options) as url:
                run_storage(kind, url, options)
        except harness.Skipped as skipped:
            say(f"{kind:8s} SKIPPED: {skipped}")
            harness.emit(BENCH, kind, "skipped", reason=str(skipped))
        except Exception as exc:  # one storage failing must not stop the others
            if not isinstance(exc, (Failed, OSError)):
                traceback.print_exc()
            report_error(kind, "run", exc)
    if ERRORS:
        say(f"errors: {', '.join(ERRORS)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
