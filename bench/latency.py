"""Latency of the hot reads at 10^4 and 10^6 reservations over 1,000 resources.

For each storage and size, a child process bulk-loads the data (bypassing the facade: the memory
storage's repositories in large units of work, ``executemany`` on SQLite, ``COPY`` on
PostgreSQL), then times, each many times over:

- ``conflict_check``: ``tx.reservations.blocking_overlaps([rid], span)`` in a read-only unit;
- ``refused_booking`` / ``refused_booking_no_alternatives``: ``r.reservations.reserve`` of a taken
  slot (``ConflictError``), with the default settings and with ``CoreSettings(alternatives=0)``;
- ``refused_booking_first_touch``: the same as ``refused_booking``, each sample on a resource
  the process has not read yet (at most one sample per resource, timed first, no warm-up);
- ``free_slots_7d``: ``r.availability.free_slots`` of one resource, 1-hour slots over 7 days;
- ``find_by_tag``: ``r.availability.find`` of the resources tagged ``bench`` (all 1,000) free
  for a one-hour span.

The data: each resource has N/1000 one-hour bookings, three a day (random hours 08:00-18:00
UTC, a seeded generator), half the days in the past and at most 14 in the future, so the
near future looks alike at every size and a bigger N means more history. Past bookings are
completed (85%), released (5%) or cancelled (10%); future ones confirmed (90%) or cancelled.

Every measure but the first-touch one runs in the steady state of a serving process: before
them, one read-only unit reads every resource, so the storage's caches hold them (a server
fills them with its first requests; a configuration change empties them, and the first-touch
measure says what a booking costs then).

Each (storage, size) runs in its own process so that its peak memory is its own. The parent
prints the ratios of the largest size to the smallest (target: at most 2).

    uv run python bench/latency.py [--sizes 10000,1000000] [--storages ...] [--samples 1000]
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import harness
from harness import T0, TAG, say

from reserver.core import (
    ConflictError,
    CoreSettings,
    Principal,
    Reservation,
    ReservationRequest,
    ReservationStatus,
    Reserver,
    ResourceQuery,
    TimeSpan,
)
from reserver.core.adapters.clock import FixedClock
from reserver.core.ids import ReservationId, ResourceId, UserId
from reserver.core.ports import Storage

BENCH = "latency"
RESOURCES = 1000
PER_DAY = 3
FUTURE_DAYS = 14
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
WEEK = timedelta(days=7)
SEED = 20300107
# measure -> (target p50 ms, target p99 ms); None: no target.
TARGETS: dict[str, tuple[float | None, float | None]] = {
    "refused_booking_first_touch": (None, None),
    "conflict_check": (1.0, 5.0),
    "refused_booking": (1.0, 5.0),
    "refused_booking_no_alternatives": (1.0, 5.0),
    "free_slots_7d": (5.0, None),
    "find_by_tag": (50.0, None),
}
RATIO_TARGET = 2.0
# Measured on cold caches, before the caches are primed.
COLD = frozenset({"refused_booking_first_touch"})


# -- data -----------------------------------------------------------------------------------


class Plan:
    """Where the bookings of one size go; the same for every storage (seeded)."""

    def __init__(self, size: int) -> None:
        if size % RESOURCES:
            raise SystemExit(f"--sizes: {size} is not a multiple of {RESOURCES}")
        self.size = size
        self.per_resource = size // RESOURCES
        days = -(-self.per_resource // PER_DAY)
        self.future_days = min(max(days // 2, 1), FUTURE_DAYS)
        self.past_days = days - self.future_days
        self.taken: list[tuple[ResourceId, datetime]] = []  # future confirmed bookings

    def rows(self) -> Iterator[Reservation]:
        """Every reservation, resource after resource, day after day."""
        rng = random.Random(SEED)
        hours = range(8, 18)
        for index in range(RESOURCES):
            resource_id = ResourceId(f"res-{index:05d}")
            left = self.per_resource
            for day in range(-self.past_days, self.future_days):
                picked = sorted(rng.sample(hours, min(PER_DAY, left)))
                left -= len(picked)
                for hour in picked:
                    yield self._reservation(rng, resource_id, T0 + day * DAY + hour * HOUR, day)
                if not left:
                    break

    def _reservation(
        self, rng: random.Random, resource_id: ResourceId, start: datetime, day: int
    ) -> Reservation:
        draw = rng.random()
        if day < 0:
            status = (
                ReservationStatus.COMPLETED
                if draw < 0.85
                else ReservationStatus.RELEASED
                if draw < 0.90
                else ReservationStatus.CANCELLED
            )
        else:
            status = ReservationStatus.CONFIRMED if draw < 0.9 else ReservationStatus.CANCELLED
            if status is ReservationStatus.CONFIRMED:
                self.taken.append((resource_id, start))
        span = TimeSpan(start, start + HOUR)
        holder = UserId(f"user-{rng.randrange(500):03d}")
        booked = start - timedelta(days=rng.randrange(1, 30))
        return Reservation(
            id=ReservationId(f"{rng.getrandbits(128):032x}"),
            resource_id=resource_id,
            holder=holder,
            booked_by=holder,
            span=span,
            block=span,
            status=status,
            title="Team meeting",
            created_at=booked,
            updated_at=booked,
            cancel_reason="plans changed" if status is ReservationStatus.CANCELLED else None,
        )


def batches(rows: Iterator[Reservation], size: int) -> Iterator[list[Reservation]]:
    batch: list[Reservation] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def load_memory(storage: Storage, plan: Plan) -> None:
    for batch in batches(plan.rows(), 100_000):
        with storage.transaction() as tx:
            add = tx.reservations.add
            for reservation in batch:
                add(reservation)


def load_sqlite(storage: Storage, plan: Plan) -> None:
    from reserver.sql.mapping import reservation_values
    from reserver.sql.tables import reservations

    engine = harness.engine_of(storage)
    statement = reservations.insert()
    for batch in batches(plan.rows(), 100_000):
        with engine.begin() as connection:
            connection.execute(statement, [reservation_values(r) for r in batch])
    raw = engine.raw_connection()  # outside any transaction: the engine would BEGIN first
    try:
        raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()


def load_postgres(storage: Storage, plan: Plan) -> None:
    from reserver.sql.mapping import reservation_values
    from reserver.sql.tables import reservations

    engine = harness.engine_of(storage)
    columns: list[str] | None = None
    for batch in batches(plan.rows(), 200_000):
        rows = [reservation_values(r) for r in batch]
        columns = columns or list(rows[0])
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            names = ", ".join(columns)
            with cursor.copy(f"COPY {reservations.name} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row([row[c] for c in columns])
            raw.commit()
        finally:
            raw.close()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        # A steady-state database has been vacuumed and analyzed by autovacuum.
        connection.exec_driver_sql(f"VACUUM ANALYZE {reservations.name}")


LOADERS = {"memory": load_memory, "sqlite": load_sqlite, "postgres": load_postgres}


# -- measurements ---------------------------------------------------------------------------


def operations(storage: Storage, plan: Plan) -> dict[str, Callable[[int], object]]:
    """The measured operations; each takes a sample number and picks its inputs from it."""
    clock = FixedClock(T0)
    default = Reserver(storage=storage, clock=clock, settings=CoreSettings())
    bare = Reserver(storage=storage, clock=clock, settings=CoreSettings(alternatives=0))
    rng = random.Random(SEED + 1)
    count = 5000
    checks = [
        (
            ResourceId(f"res-{rng.randrange(RESOURCES):05d}"),
            T0 + rng.randrange(plan.future_days) * DAY + rng.randrange(8, 18) * HOUR,
        )
        for _ in range(count)
    ]
    taken = [plan.taken[rng.randrange(len(plan.taken))] for _ in range(count)]
    # One taken slot of each resource that has one, in a random order: every sample a new one.
    first_taken = list({resource_id: start for resource_id, start in plan.taken}.items())
    rng.shuffle(first_taken)
    users = [Principal.user(f"user-{rng.randrange(500):03d}") for _ in range(count)]
    slot_ids = [ResourceId(f"res-{rng.randrange(RESOURCES):05d}") for _ in range(count)]
    admin = Principal.admin()
    tagged = ResourceQuery(tags_all=frozenset({TAG}))

    def conflict_check(i: int) -> object:
        resource_id, start = checks[i % count]
        with storage.transaction(readonly=True) as tx:
            return tx.reservations.blocking_overlaps([resource_id], TimeSpan(start, start + HOUR))

    def refuse(
        reserver: Reserver, slots: list[tuple[ResourceId, datetime]]
    ) -> Callable[[int], object]:
        def refused(i: int) -> object:
            resource_id, start = slots[i % len(slots)]
            request = ReservationRequest(resource_id, start, start + HOUR, title="Clash")
            try:
                reserver.reservations.reserve(users[i % count], request)
            except ConflictError as exc:
                return exc
            raise RuntimeError(f"booking {request} was accepted; the bench data is wrong")

        return refused

    def free_slots(i: int) -> object:
        window = TimeSpan(T0, T0 + WEEK)
        found = default.availability.free_slots(admin, slot_ids[i % count], HOUR, window=window)
        if not found:
            raise RuntimeError("no free slot in a week; the bench data is wrong")
        return found

    def find(i: int) -> object:
        _, start = checks[i % count]
        found = default.availability.find(admin, tagged, span=TimeSpan(start, start + HOUR))
        if not found:
            raise RuntimeError("no resource free for an hour; the bench data is wrong")
        return found

    return {
        "refused_booking_first_touch": refuse(default, first_taken),
        "conflict_check": conflict_check,
        "refused_booking": refuse(default, taken),
        "refused_booking_no_alternatives": refuse(bare, taken),
        "free_slots_7d": free_slots,
        "find_by_tag": find,
    }


def samples_for(measure: str, options: argparse.Namespace) -> int:
    if measure in COLD:
        return min(int(options.samples), RESOURCES)
    return options.samples if measure != "find_by_tag" else options.find_samples


def prime_caches(storage: Storage) -> None:
    """Read every resource once, as a serving process has: the steady state of its caches."""
    with storage.transaction(readonly=True) as tx:
        for index in range(RESOURCES):
            tx.resources.get(ResourceId(f"res-{index:05d}"))


def run_child(options: argparse.Namespace) -> None:
    kind, size = options.child_storage, options.child_size
    plan = Plan(size)
    extra = {"n": size, "resources": RESOURCES, **harness.describe(kind, options)}
    rss_start = harness.rss_mb()
    failed: list[str] = []
    try:
        with harness.open_storage(kind, options) as storage:
            harness.add_resources(storage, RESOURCES)
            started = time.perf_counter()
            LOADERS[kind](storage, plan)
            seconds = time.perf_counter() - started
            harness.emit(
                BENCH,
                kind,
                "bulk_load",
                rows=size,
                seconds=round(seconds, 2),
                rows_per_second=round(size / seconds),
                **extra,
            )
            say(f"{kind:8s} n={size:>9,}: loaded in {seconds:,.1f} s ({size / seconds:,.0f}/s)")
            gc.collect()
            rss_loaded = harness.rss_mb()
            reset = harness.reset_peak_rss()
            failed = measure_all(kind, storage, plan, options, extra)
            peaks = tracemalloc_peaks(storage, plan, failed) if options.tracemalloc else {}
            harness.emit(
                BENCH,
                kind,
                "memory",
                ru_maxrss_mb=harness.max_rss_mb(),
                rss_start_mb=rss_start,
                rss_after_load_mb=rss_loaded,
                rss_peak_while_querying_mb=harness.peak_rss_mb() if reset else None,
                tracemalloc_peak_kib=peaks or None,
                **extra,
            )
            say(
                f"{kind:8s} n={size:>9,}: ru_maxrss {harness.max_rss_mb():,.0f} MiB, "
                f"RSS after load {rss_loaded} MiB"
                + (f", tracemalloc peaks (KiB) {peaks}" if peaks else "")
            )
    except harness.Skipped as skipped:
        say(f"{kind:8s} SKIPPED: {skipped}")
        harness.emit(BENCH, kind, "skipped", reason=str(skipped), n=size)
        return
    if failed:
        raise SystemExit(3)


def measure_all(
    kind: str, storage: Storage, plan: Plan, options: argparse.Namespace, extra: dict[str, Any]
) -> list[str]:
    """Time every operation; return the measures that failed."""
    failed: list[str] = []
    primed = False
    for measure, operation in operations(storage, plan).items():
        if options.measures and measure not in options.measures:
            continue
        if measure not in COLD and not primed:
            prime_caches(storage)
            primed = True
        warmup = 0 if measure in COLD else options.warmup
        try:
            timings = harness.time_each(operation, samples_for(measure, options), warmup)
        except Exception as exc:  # report it and go on: one broken path hides no other figure
            failed.append(measure)
            reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
            harness.emit(BENCH, kind, measure, error=reason, **extra)
            say(f"{kind:8s} n={plan.size:>9,}: {measure:32s} FAILED {reason}")
            continue
        figures = harness.latency_figures(timings)
        p50, p99 = TARGETS[measure]
        verdict: dict[str, Any] = {}
        if p50 is not None:
            verdict["target_p50_ms"] = p50
        if p99 is not None:
            verdict["target_p99_ms"] = p99
        verdict["meets_target"] = (p50 is None or figures["p50_ms"] <= p50) and (
            p99 is None or figures["p99_ms"] <= p99
        )
        harness.emit(BENCH, kind, measure, **figures, **verdict, **extra)
        say(
            f"{kind:8s} n={plan.size:>9,}: {measure:32s} p50 {figures['p50_ms']:8.3f} ms  "
            f"p99 {figures['p99_ms']:8.3f} ms  {'ok' if verdict['meets_target'] else 'MISSED'}"
        )
        harness.profile(
            f"latency-{kind}-{plan.size}-{measure}",
            operation,
            max(20, samples_for(measure, options) // 2),
            options.profile,
        )
    return failed


def tracemalloc_peaks(storage: Storage, plan: Plan, failed: list[str]) -> dict[str, float]:
    """Peak Python allocations of one call of each operation (a few calls, traced)."""
    peaks: dict[str, float] = {}
    for measure, operation in operations(storage, plan).items():
        if measure in failed:
            continue
        operation(0)
        tracemalloc.start()
        for i in range(1, 6):
            tracemalloc.reset_peak()
            operation(i)
            peaks[measure] = max(peaks.get(measure, 0.0), tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        peaks[measure] = round(peaks[measure] / 1024, 1)
    return peaks


# -- parent ---------------------------------------------------------------------------------


def run_parent(options: argparse.Namespace, argv: list[str]) -> None:
    say(f"latency: {harness.environment()}")
    results: list[dict[str, Any]] = []
    failures: list[str] = []
    for kind in options.storages:
        for size in options.sizes:
            command = [
                sys.executable,
                str(Path(__file__)),
                *argv,
                "--child-storage",
                kind,
                "--child-size",
                str(size),
            ]
            child = harness.run_child(command)
            try:
                assert child.stdout is not None
                for line in child.stdout:
                    print(line, end="", flush=True)
                    if line.startswith("{"):
                        results.append(json.loads(line))
                if child.wait():
                    failures.append(f"{kind} n={size} (exit {child.returncode})")
            finally:
                harness.stop_child(child)
    ratios(results, options)
    if failures:
        raise SystemExit(f"latency: failed: {', '.join(failures)}")


def ratios(results: list[dict[str, Any]], options: argparse.Namespace) -> None:
    """Print how much slower the largest size is than the smallest, per storage and measure."""
    small, large = min(options.sizes), max(options.sizes)
    if small == large:
        return
    by_key = {(r["storage"], r["measure"], r.get("n")): r for r in results}
    for kind in options.storages:
        for measure in TARGETS:
            low, high = by_key.get((kind, measure, small)), by_key.get((kind, measure, large))
            if low is None or high is None or "p50_ms" not in low or "p50_ms" not in high:
                continue
            p50 = high["p50_ms"] / low["p50_ms"]
            p99 = high["p99_ms"] / low["p99_ms"]
            harness.emit(
                BENCH,
                kind,
                f"{measure}_scaling",
                small_n=small,
                large_n=large,
                p50_ratio=round(p50, 2),
                p99_ratio=round(p99, 2),
                target_ratio=RATIO_TARGET,
                meets_target=p50 <= RATIO_TARGET,
            )
            say(
                f"{kind:8s} {measure:32s} n={large:,} vs n={small:,}: p50 x{p50:.2f}, "
                f"p99 x{p99:.2f}  {'ok' if p50 <= RATIO_TARGET else 'MISSED'}"
            )


def size_list(text: str) -> list[int]:
    sizes = sorted({int(float(s)) for s in text.split(",") if s.strip()})
    if not sizes or any(s < RESOURCES or s % RESOURCES for s in sizes):
        raise argparse.ArgumentTypeError(f"sizes must be multiples of {RESOURCES}")
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    harness.add_storage_options(parser)
    parser.add_argument(
        "--sizes",
        type=size_list,
        default=[10_000, 1_000_000],
        help="reservation counts, comma-separated (default: 10000,1000000; 1e6 works too)",
    )
    parser.add_argument("--samples", type=int, default=1000, help="timed calls per measure")
    parser.add_argument("--find-samples", type=int, default=1000, help="timed calls of find_by_tag")
    parser.add_argument("--warmup", type=int, default=20, help="untimed calls first")
    parser.add_argument(
        "--measures",
        type=lambda text: [m for m in text.split(",") if m],
        help=f"only these measures (of {', '.join(TARGETS)})",
    )
    parser.add_argument(
        "--tracemalloc",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also report each operation's peak Python allocation (a few traced calls)",
    )
    parser.add_argument("--child-storage", help=argparse.SUPPRESS)
    parser.add_argument("--child-size", type=int, help=argparse.SUPPRESS)
    options = parser.parse_args()
    harness.exit_cleanly_on_sigterm()
    if options.child_storage:
        run_child(options)
    else:
        run_parent(options, sys.argv[1:])


if __name__ == "__main__":
    main()
