"""Idempotency stores: one claim per key, replay, refusals; in memory and in SQL (SQLite)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reserver.flask.idempotency import (
    LEASE,
    IdempotencyError,
    IdempotencyStore,
    InMemoryIdempotencyStore,
    SqlIdempotencyStore,
    StoredResponse,
)

NOW = datetime(2030, 1, 7, 8, tzinfo=UTC)
ANSWER = StoredResponse(201, b'{"id": "r1"}', "application/json", (("Location", "/x/r1"),))


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[IdempotencyStore]:
    if request.param == "memory":
        yield InMemoryIdempotencyStore(timedelta(hours=1))
        return
    sql = SqlIdempotencyStore.from_url(f"sqlite:///{tmp_path / 'keys.db'}", timedelta(hours=1))
    yield sql
    sql.close()


def test_the_first_request_claims_and_a_retry_gets_its_answer(store: IdempotencyStore) -> None:
    assert store.begin("ann", "k", "f1", NOW) is None
    store.finish("ann", "k", ANSWER)
    assert store.begin("ann", "k", "f1", NOW + timedelta(minutes=5)) == ANSWER


def test_a_running_request_makes_a_retry_wait(store: IdempotencyStore) -> None:
    store.begin("ann", "k", "f1", NOW)
    with pytest.raises(IdempotencyError) as caught:
        store.begin("ann", "k", "f1", NOW + timedelta(seconds=1))
    assert caught.value.in_progress


def test_a_claim_that_died_is_taken_over_after_the_lease(store: IdempotencyStore) -> None:
    store.begin("ann", "k", "f1", NOW)
    assert store.begin("ann", "k", "f1", NOW + LEASE + timedelta(seconds=1)) is None


def test_another_request_with_the_same_key_is_refused(store: IdempotencyStore) -> None:
    store.begin("ann", "k", "f1", NOW)
    store.finish("ann", "k", ANSWER)
    with pytest.raises(IdempotencyError) as caught:
        store.begin("ann", "k", "f2", NOW)
    assert not caught.value.in_progress


def test_keys_belong_to_their_owner(store: IdempotencyStore) -> None:
    store.begin("ann", "k", "f1", NOW)
    assert store.begin("bob", "k", "f1", NOW) is None


def test_an_abandoned_claim_runs_again(store: IdempotencyStore) -> None:
    store.begin("ann", "k", "f1", NOW)
    store.abandon("ann", "k")
    assert store.begin("ann", "k", "f1", NOW) is None


def test_answers_are_forgotten_after_the_time_to_live(store: IdempotencyStore) -> None:
    store.begin("ann", "k", "f1", NOW)
    store.finish("ann", "k", ANSWER)
    assert store.begin("ann", "k", "f2", NOW + timedelta(hours=2)) is None


def test_exactly_one_of_many_concurrent_requests_claims_a_key(store: IdempotencyStore) -> None:
    claimed: list[bool] = []
    barrier = threading.Barrier(8)

    def attempt() -> None:
        barrier.wait()
        try:
            claimed.append(store.begin("ann", "storm", "f", NOW) is None)
        except IdempotencyError:
            claimed.append(False)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == [False] * 7 + [True]
