"""Idempotency stores: one claim per key, replay, refusals; in memory and in SQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from reserver.core.testing.races import WON, race
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


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest) -> Iterator[IdempotencyStore]:
    if request.param == "memory":
        yield InMemoryIdempotencyStore(timedelta(hours=1))
        return
    sql = SqlIdempotencyStore.from_url(_url(request, request.param), timedelta(hours=1))
    yield sql
    sql.close()


def _url(request: pytest.FixtureRequest, engine: str) -> str:
    url = request.getfixturevalue("pg_url" if engine == "postgres" else "sqlite_url")
    assert isinstance(url, str)
    return url


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
    def claim() -> None:
        assert store.begin("ann", "storm", "f", NOW) is None

    outcomes = race([claim] * 8)
    assert outcomes.count(WON) == 1
    assert all(o.startswith("IdempotencyError") for o in outcomes if o != WON), outcomes


@pytest.mark.parametrize("engine", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_processes_starting_together_on_a_fresh_database_all_open_the_store(
    request: pytest.FixtureRequest, engine: str
) -> None:
    # The workers of one server open their stores at the same moment; each must find or make
    # the table, none may die because another made it first.
    url = _url(request, engine)
    opened: list[SqlIdempotencyStore] = []
    outcomes = race([lambda: opened.append(SqlIdempotencyStore.from_url(url))] * 8)
    try:
        assert outcomes == [WON] * 8
        assert len(opened) == 8
        assert opened[0].begin("ann", "k", "f", NOW) is None
        with pytest.raises(IdempotencyError):  # one table: the claim is seen through another
            opened[-1].begin("ann", "k", "f", NOW)
    finally:
        for store in opened:
            store.close()
