"""What every benchmark shares: output, timing, storages (throwaway databases) and test data.

Each benchmark prints one JSON object per measurement on stdout and human-readable lines on
stderr. The storages are fresh every time: a new in-memory storage, a SQLite file in a temporary
directory (deleted afterwards), or a PostgreSQL database ``reserver_bench_<hex>`` created on the
server and dropped at the end. An unreachable server skips the PostgreSQL part with a message.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import io
import json
import os
import pstats
import resource
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from reserver.core import Attributes, Resource
from reserver.core.adapters.memory import InMemoryStorage
from reserver.core.ids import ResourceId
from reserver.core.ports import Storage

STORAGES = ("memory", "sqlite", "postgres")
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
# "Now" for every benchmark: a Monday at midnight UTC, years ahead, so that wall-clock time
# never matters and every run builds the same data.
T0 = datetime(2030, 1, 7, tzinfo=UTC)
KINDS = ("room", "desk", "lab", "equipment")
TAG = "bench"
ZONE = "Europe/Berlin"


class Skipped(Exception):
    """A storage that cannot run here (no PostgreSQL server); the message says why."""


def emit(bench: str, storage: str, measure: str, **figures: Any) -> dict[str, Any]:
    """Print one measurement as one line of JSON on stdout."""
    record = {"bench": bench, "storage": storage, "measure": measure, **figures}
    print(json.dumps(record, default=str), flush=True)
    return record


def say(message: str) -> None:
    """Print a human-readable line on stderr."""
    print(message, file=sys.stderr, flush=True)


def storage_list(text: str) -> list[str]:
    """Parse ``--storages memory,sqlite,postgres``."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(names) - set(STORAGES))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown storage(s) {unknown}; pick from {STORAGES}")
    return names


def add_storage_options(parser: argparse.ArgumentParser) -> None:
    """The options every benchmark takes to choose and reach its storages."""
    parser.add_argument(
        "--storages",
        type=storage_list,
        default=list(STORAGES),
        help="comma-separated subset of memory,sqlite,postgres (default: all three)",
    )
    parser.add_argument(
        "--pg-url",
        default=DEFAULT_PG,
        help="PostgreSQL maintenance database to create the throwaway one from "
        f"(default: {DEFAULT_PG})",
    )
    parser.add_argument(
        "--sqlite-synchronous",
        choices=("FULL", "NORMAL"),
        default="FULL",
        help="SQLite durability, as SqlStorage takes it (default: FULL, the storage's default)",
    )
    parser.add_argument(
        "--profile",
        metavar="DIR",
        type=Path,
        help="also run the measured operations under cProfile; write .prof files to DIR and "
        "print the top functions on stderr",
    )


def exit_cleanly_on_sigterm() -> None:
    """Turn SIGTERM into ``SystemExit``, so that throwaway databases and files still go."""

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


@contextmanager
def shielded() -> Iterator[None]:
    """Ignore SIGINT and SIGTERM while cleaning up, so that a second Ctrl-C (or a signal sent
    to the whole process group as well as to us) cannot leave a server or a database behind."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def run_child(command: list[str]) -> subprocess.Popen[str]:
    """Start a benchmark process whose stdout we read line by line."""
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True)


def stop_child(child: subprocess.Popen[str]) -> None:
    """Ask a child still running to stop (it cleans up on SIGTERM), then wait for it."""
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout=60)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


# -- timing ---------------------------------------------------------------------------------


def time_each(operation: Callable[[int], object], samples: int, warmup: int) -> list[float]:
    """Call ``operation(i)`` ``warmup`` times untimed, then ``samples`` times; seconds each."""
    for i in range(warmup):
        operation(i)
    clock = time.perf_counter
    timings: list[float] = []
    for i in range(warmup, warmup + samples):
        started = clock()
        operation(i)
        timings.append(clock() - started)
    return timings


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(fraction * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def latency_figures(timings: Sequence[float]) -> dict[str, float | int]:
    """p50, p90, p99, mean and max of ``timings`` (seconds), in milliseconds."""
    ordered = sorted(timings)
    ms = 1000.0
    return {
        "samples": len(ordered),
        "p50_ms": round(percentile(ordered, 0.50) * ms, 4),
        "p90_ms": round(percentile(ordered, 0.90) * ms, 4),
        "p99_ms": round(percentile(ordered, 0.99) * ms, 4),
        "mean_ms": round(sum(ordered) / len(ordered) * ms, 4),
        "max_ms": round(ordered[-1] * ms, 4),
    }


def profile(
    name: str, operation: Callable[[int], object], calls: int, directory: Path | None
) -> None:
    """Run ``operation`` ``calls`` times under cProfile; dump and summarize on stderr."""
    if directory is None:
        return
    directory.mkdir(parents=True, exist_ok=True)
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(calls):
        operation(i)
    profiler.disable()
    path = directory / f"{name}.prof"
    profiler.dump_stats(path)
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text).strip_dirs().sort_stats("tottime")
    stats.print_stats(18)
    say(f"--- cProfile {name} ({calls} calls, by own time; full profile: {path})")
    say("\n".join(line for line in text.getvalue().splitlines() if line.strip())[:6000])


# -- memory ---------------------------------------------------------------------------------


def max_rss_mb() -> float:
    """This process's peak resident set size so far (``ru_maxrss``), in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return round(peak / scale, 1)


def status_kib(field: str, pid: int | str = "self") -> int | None:
    """A ``kB`` field of ``/proc/<pid>/status`` (``VmRSS``, ``VmHWM``...); ``None`` off Linux."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_mb() -> float | None:
    """The current resident set size in MiB (Linux only; ``None`` elsewhere)."""
    kib = status_kib("VmRSS")
    return None if kib is None else round(kib / 1024, 1)


def reset_peak_rss() -> bool:
    """Restart the kernel's peak-RSS watermark (``VmHWM``) at the current RSS (Linux only)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_mb() -> float | None:
    """The peak resident set size since the last ``reset_peak_rss`` (``VmHWM``), in MiB."""
    kib = status_kib("VmHWM")
    return None if kib is None else round(kib / 1024, 1)


def unshadow_http() -> ModuleType:
    """Import the standard library's ``http`` package, even from ``bench/http.py``.

    Python puts a script's folder first on ``sys.path``, so in a script run from ``bench/`` the
    name ``http`` would find ``bench/http.py`` instead of the standard package. Import it with that
    folder out of the way; later imports of ``http`` (``urllib.request``...) then find the real one
    in ``sys.modules``.
    """
    here = Path(__file__).resolve().parent
    shadow = sys.modules.get("http")
    if shadow is not None and Path(getattr(shadow, "__file__", "") or "").parent == here:
        del sys.modules["http"]
    saved = sys.path[:]
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != here]
    try:
        return importlib.import_module("http")
    finally:
        sys.path[:] = saved


# -- storages -------------------------------------------------------------------------------


@contextmanager
def throwaway_pg_database(admin_url: str) -> Iterator[str]:
    """Create ``reserver_bench_<hex>`` next to ``admin_url``'s database; drop it afterwards.

    Raises:
        Skipped: the server cannot be reached.
    """
    import psycopg
    import sqlalchemy as sa

    url = sa.make_url(admin_url)
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        admin = psycopg.connect(dsn, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        where = f"{url.host}:{url.port or 5432}"
        raise Skipped(f"PostgreSQL at {where} is unreachable: {reason}") from exc
    name = f"reserver_bench_{secrets.token_hex(4)}"
    try:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield url.set(database=name).render_as_string(hide_password=False)
        finally:
            with shielded():
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()


@contextmanager
def open_storage(kind: str, options: argparse.Namespace) -> Iterator[Storage]:
    """A fresh, empty storage of ``kind``, cleaned up (file deleted, database dropped) after.

    Raises:
        Skipped: PostgreSQL is unreachable.
    """
    if kind == "memory":
        yield InMemoryStorage()
        return
    from reserver.sql import SqlStorage

    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="reserver-bench-") as directory:
            path = Path(directory) / "bench.db"
            storage = SqlStorage.from_url(
                f"sqlite:///{path}", synchronous=options.sqlite_synchronous
            )
            try:
                yield storage
            finally:
                storage.close()
        return
    with throwaway_pg_database(options.pg_url) as url:
        storage = SqlStorage.from_url(url)
        try:
            yield storage
        finally:
            storage.close()


def describe(kind: str, options: argparse.Namespace) -> dict[str, Any]:
    """The settings of a storage that a reader of the figures needs to know."""
    if kind == "sqlite":
        return {"synchronous": options.sqlite_synchronous, "journal": "WAL"}
    return {}


def engine_of(storage: Storage) -> Any:
    """The SQLAlchemy engine under a ``SqlStorage``."""
    return storage.engine  # type: ignore[attr-defined]


# -- data -----------------------------------------------------------------------------------


def bench_resources(count: int) -> list[Resource]:
    """``count`` resources with stable ids; every one carries the tag ``bench``."""
    return [
        Resource(
            id=ResourceId(f"res-{i:05d}"),
            name=f"Bench {KINDS[i % len(KINDS)]} {i:05d}",
            timezone=ZONE,
            kind=KINDS[i % len(KINDS)],
            tags=frozenset({TAG, f"floor-{i % 10}"}),
            attributes=Attributes(capacity=2 + i % 20, location=f"building-{i % 3}"),
            created_at=T0,
        )
        for i in range(count)
    ]


def add_resources(storage: Storage, count: int) -> list[Resource]:
    """Store ``bench_resources(count)`` in one unit of work (through the port) and return them."""
    made = bench_resources(count)
    with storage.transaction() as tx:
        for item in made:
            tx.resources.add(item)
    return made


def revision() -> str | None:
    """The checked-out commit, ``+dirty`` when ``packages/`` has uncommitted changes."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "packages"],
            cwd=root,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return None
    return (commit + ("+dirty" if changed else "")) or None


def python_speed_ms() -> float:
    """Milliseconds for a fixed pure-Python loop (2 x 10^6 additions), the best of three.

    The project's VM ran Python about twice as fast in some hours as in others (bench/RESULTS.md,
    2026-12-06, fourth session): read a run's absolute figures next to this one before
    comparing them with another run's.
    """
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for i in range(2_000_000):
            total += i
        best = min(best, time.perf_counter() - started)
    return round(best * 1000, 1)


def environment() -> dict[str, Any]:
    """What the figures were measured on, and how fast it ran Python just then."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (None, None, None)
    return {
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "loadavg_1m": None if load[0] is None else round(load[0], 2),
        "platform": sys.platform,
        "revision": revision(),
        "python_speed_ms": python_speed_ms(),
    }
