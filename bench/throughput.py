"""Booking throughput through the facade, against the raw INSERT rate of the same database.

Every booking is ``r.reservations.reserve(principal, ReservationRequest(...))``: one unit of work
per booking, a free slot, no overlap, over 100 resources. On SQLite and PostgreSQL the same run
also times the floor: one ``INSERT`` of an equivalent ``reservations`` row per transaction,
through the storage's own engine (so ``BEGIN IMMEDIATE`` on SQLite, and the overlap trigger or
exclusion constraint applies), and prints the ratio. The two alternate in rounds so that a
machine whose load changes during the run hurts both alike.

Targets: memory >= 20,000 bookings/s; SQLite and PostgreSQL facade >= 0.5 x raw INSERT.

    uv run python bench/throughput.py [--storages memory,sqlite,postgres] [--bookings N]
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import harness
from harness import T0, say

from reserver.core import CoreSettings, Principal, Reservation, ReservationRequest, Reserver
from reserver.core.adapters.clock import FixedClock
from reserver.core.ids import ReservationId, UserId
from reserver.core.ports import Storage
from reserver.core.spans import TimeSpan

BENCH = "throughput"
RESOURCES = 100
USERS = 50
MEMORY_TARGET = 20_000.0
RATIO_TARGET = 0.5
HOUR = timedelta(hours=1)
FACADE_FROM = T0 + timedelta(days=1)  # facade bookings: hour after hour from tomorrow
RAW_FROM = T0 + timedelta(days=1000)  # raw rows: far away, so that no two ever overlap
WARMUP_FROM = T0 + timedelta(days=2000)
RAW_WARMUP_FROM = T0 + timedelta(days=2100)
PROFILE_FROM = T0 + timedelta(days=3000)


def slot(origin: Any, i: int, resources: int) -> TimeSpan:
    """The ``i``-th free slot: resources in turn, one hour later after each full turn."""
    start = origin + (i // resources) * HOUR
    return TimeSpan(start, start + HOUR)


def requests(
    resource_ids: Sequence[str], origin: Any, count: int
) -> list[tuple[Principal, ReservationRequest]]:
    """``count`` bookings of free, non-overlapping one-hour slots, by ``USERS`` users."""
    users = [Principal.user(f"user-{u:03d}") for u in range(USERS)]
    made = []
    for i in range(count):
        span = slot(origin, i, len(resource_ids))
        request = ReservationRequest(
            resource_ids[i % len(resource_ids)], span.start, span.end, title=f"Booking {i}"
        )
        made.append((users[i % USERS], request))
    return made


def raw_rows(resource_ids: Sequence[str], origin: Any, count: int) -> list[dict[str, Any]]:
    """The ``reservations`` rows the facade would write, built before the clock starts."""
    from reserver.core.ids import new_id
    from reserver.sql.mapping import reservation_values

    rows = []
    for i in range(count):
        span = slot(origin, i, len(resource_ids))
        holder = UserId(f"user-{i % USERS:03d}")
        reservation = Reservation(
            id=ReservationId(new_id()),
            resource_id=resource_ids[i % len(resource_ids)],  # type: ignore[arg-type]
            holder=holder,
            booked_by=holder,
            span=span,
            block=span,
            title=f"Booking {i}",
            created_at=T0,
            updated_at=T0,
        )
        rows.append(reservation_values(reservation))
    return rows


def timed(run: Callable[[], None]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def book_all(reserver: Reserver, batch: Sequence[tuple[Principal, ReservationRequest]]) -> None:
    reserve = reserver.reservations.reserve
    for principal, request in batch:
        reserve(principal, request)


def insert_all(engine: Any, rows: Sequence[dict[str, Any]]) -> None:
    from reserver.sql.tables import reservations

    statement = reservations.insert()
    for row in rows:
        with engine.begin() as connection:  # BEGIN IMMEDIATE on SQLite, as the storage does
            connection.execute(statement, row)


def chunks(items: Sequence[Any], parts: int) -> list[Sequence[Any]]:
    size = -(-len(items) // parts)
    return [items[i : i + size] for i in range(0, len(items), size)]


def rate_figures(count: int, seconds: float) -> dict[str, Any]:
    return {
        "count": count,
        "seconds": round(seconds, 4),
        "per_second": round(count / seconds, 1),
        "us_per_op": round(seconds / count * 1e6, 2),
    }


def run_storage(kind: str, storage: Storage, options: argparse.Namespace) -> None:
    sql = kind != "memory"
    count = options.bookings or (options.memory_bookings if not sql else options.db_bookings)
    resources = harness.add_resources(storage, RESOURCES)
    ids = [r.id for r in resources]
    reserver = Reserver(storage=storage, clock=FixedClock(T0), settings=CoreSettings())
    book_all(reserver, requests(ids, WARMUP_FROM, 50))  # compile statements, fill caches
    work = requests(ids, FACADE_FROM, count)
    rows = raw_rows(ids, RAW_FROM, count) if sql else []
    engine = harness.engine_of(storage) if sql else None
    if sql:
        insert_all(engine, raw_rows(ids, RAW_WARMUP_FROM, 20))  # the raw path's own warm-up
    facade_s = raw_s = 0.0
    rounds = max(1, min(options.rounds, count))
    gc.collect()
    for number, (batch, raw_batch) in enumerate(
        zip(chunks(work, rounds), chunks(rows, rounds) if sql else [[]] * rounds, strict=True)
    ):
        if sql and number % 2:
            raw_s += timed(lambda b=raw_batch: insert_all(engine, b))
        facade_s += timed(lambda b=batch: book_all(reserver, b))
        if sql and not number % 2:
            raw_s += timed(lambda b=raw_batch: insert_all(engine, b))
    extra = harness.describe(kind, options)
    facade = harness.emit(
        BENCH,
        kind,
        "facade_reserve",
        **rate_figures(count, facade_s),
        resources=RESOURCES,
        rounds=rounds,
        **extra,
        **(
            {"target_per_second": MEMORY_TARGET, "meets_target": count / facade_s >= MEMORY_TARGET}
            if not sql
            else {}
        ),
    )
    say(
        f"{kind:8s} facade reserve: {facade['per_second']:>10,.0f} bookings/s "
        f"({facade['us_per_op']:.1f} us each, {count} bookings)"
    )
    if sql:
        raw = harness.emit(BENCH, kind, "raw_insert", **rate_figures(count, raw_s), **extra)
        ratio = (count / facade_s) / (count / raw_s)
        harness.emit(
            BENCH,
            kind,
            "facade_vs_raw",
            ratio=round(ratio, 3),
            target_ratio=RATIO_TARGET,
            meets_target=ratio >= RATIO_TARGET,
            **extra,
        )
        say(
            f"{kind:8s} raw INSERT:     {raw['per_second']:>10,.0f} rows/s     "
            f"({raw['us_per_op']:.1f} us each) -> facade/raw = {ratio:.2f} "
            f"(target >= {RATIO_TARGET})"
        )
        check_rows(engine, expected=50 + 20 + 2 * count)
    elif not facade["meets_target"]:
        say(f"{kind:8s} below the target of {MEMORY_TARGET:,.0f} bookings/s")
    if options.profile is not None:
        more = requests(ids, PROFILE_FROM, options.profile_calls)
        harness.profile(
            f"throughput-{kind}-reserve",
            lambda i: reserver.reservations.reserve(*more[i]),
            len(more),
            options.profile,
        )


def check_rows(engine: Any, expected: int) -> None:
    """Every booking and raw row landed: the figures measured real work."""
    import sqlalchemy as sa

    from reserver.sql.tables import reservations

    with engine.connect() as connection:
        found = connection.execute(sa.select(sa.func.count()).select_from(reservations)).scalar()
        connection.rollback()
    if found != expected:
        raise RuntimeError(f"expected {expected} reservations rows, found {found}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    harness.add_storage_options(parser)
    parser.add_argument("--bookings", type=int, help="bookings per storage (overrides both below)")
    parser.add_argument(
        "--memory-bookings", type=int, default=20_000, help="bookings on memory (default 20000)"
    )
    parser.add_argument(
        "--db-bookings",
        type=int,
        default=2_000,
        help="bookings, and as many raw INSERTs, on SQLite and PostgreSQL (default 2000)",
    )
    parser.add_argument(
        "--rounds", type=int, default=6, help="facade and raw alternate in this many rounds"
    )
    parser.add_argument("--profile-calls", type=int, default=2000, help="calls under --profile")
    options = parser.parse_args()
    harness.exit_cleanly_on_sigterm()
    say(f"throughput: {harness.environment()}")
    for kind in options.storages:
        try:
            with harness.open_storage(kind, options) as storage:
                run_storage(kind, storage, options)
        except harness.Skipped as skipped:
            say(f"{kind:8s} SKIPPED: {skipped}")
            harness.emit(BENCH, kind, "skipped", reason=str(skipped))


if __name__ == "__main__":
    main()
