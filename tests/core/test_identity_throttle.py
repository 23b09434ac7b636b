from __future__ import annotations

from datetime import timedelta

import pytest

from reserver.core import Reserver
from reserver.core.adapters.clock import FixedClock
from reserver.core.errors import AuthenticationError, TooManyAttemptsError
from reserver.core.identity import Tokens, UserDraft

PASSWORD = "seventeen paper lanterns drifting"
ATTACKER, VICTIM = "198.51.100.66", "203.0.113.5"
PAIR_CAP = timedelta(minutes=15)
ACCOUNT_CAP = timedelta(minutes=1)


@pytest.fixture
def ann(ident: Reserver) -> None:
    ident.identity.register(UserDraft("ann"), PASSWORD)


def guess(r: Reserver, clock: FixedClock, client: str, user: str = "ann") -> timedelta:
    """One wrong guess; returns the wait it was told to observe (zero if it ran)."""
    try:
        r.identity.login(user, "wrong guess number n", client=client)
    except TooManyAttemptsError as exc:
        return exc.retry_after
    except AuthenticationError:
        return timedelta(0)
    raise AssertionError("a wrong password logged in")


def login_after_waiting(r: Reserver, clock: FixedClock, client: str) -> timedelta:
    """Log in with the right password, waiting once as told; returns the wait."""
    waited = timedelta(0)
    try:
        r.identity.login("ann", PASSWORD, client=client)
    except TooManyAttemptsError as exc:
        waited = exc.retry_after
    if waited:
        clock.advance(waited)
        assert isinstance(r.identity.login("ann", PASSWORD, client=client), Tokens)
    return waited


def topics(r: Reserver) -> list[str]:
    with r.storage.transaction(readonly=True) as tx:
        return [m.topic for m in tx.outbox.due(r.clock.now() + timedelta(days=400), 100_000)]


@pytest.mark.usefixtures("ann")
def test_failures_from_one_address_back_off_exponentially(
    ident: Reserver, clock: FixedClock
) -> None:
    assert [guess(ident, clock, ATTACKER) for _ in range(5)] == [timedelta(0)] * 5
    waits = []
    for _ in range(40):  # a patient attacker who always waits as told
        wait = guess(ident, clock, ATTACKER)
        if wait:
            waits.append(wait)
            clock.advance(wait)
    assert waits[0] == timedelta(seconds=2)
    assert waits[1] == 2 * waits[0], "each further failure doubles the wait"
    assert waits == sorted(waits)
    assert max(waits) == PAIR_CAP, "the wait doubles up to its cap, never past it"


@pytest.mark.usefixtures("ann")
def test_a_right_password_during_backoff_is_refused_with_when_to_retry(
    ident: Reserver, clock: FixedClock
) -> None:
    for _ in range(5):
        guess(ident, clock, ATTACKER)
    with pytest.raises(TooManyAttemptsError) as refused:
        ident.identity.login("ann", PASSWORD, client=ATTACKER)
    assert timedelta(0) < refused.value.retry_after <= PAIR_CAP
    assert refused.value.retry_after_seconds >= 1
    clock.advance(refused.value.retry_after)
    assert isinstance(ident.identity.login("ann", PASSWORD, client=ATTACKER), Tokens)


@pytest.mark.usefixtures("ann")
def test_hammering_during_a_wait_does_not_extend_it(ident: Reserver, clock: FixedClock) -> None:
    for _ in range(6):
        guess(ident, clock, ATTACKER)
    first = guess(ident, clock, ATTACKER)
    for _ in range(50):
        assert guess(ident, clock, ATTACKER) <= first
    clock.advance(first)
    assert isinstance(ident.identity.login("ann", PASSWORD, client=ATTACKER), Tokens)


@pytest.mark.usefixtures("ann")
def test_an_attacker_cannot_lock_the_victim_out(ident: Reserver, clock: FixedClock) -> None:
    """Hours of guessing from address A slow the victim on address B by at most a minute."""
    for _ in range(200):
        clock.advance(guess(ident, clock, ATTACKER) or timedelta(seconds=1))
    waited = login_after_waiting(ident, clock, VICTIM)
    assert waited <= ACCOUNT_CAP, "the per-account wait is capped"
    # Nor is even the attacker's address locked for good: its wait ends too.
    assert login_after_waiting(ident, clock, ATTACKER) <= PAIR_CAP


@pytest.mark.usefixtures("ann")
def test_guessing_from_many_addresses_slows_the_account_for_a_minute_at_most(
    ident: Reserver, clock: FixedClock
) -> None:
    waits = [guess(ident, clock, f"192.0.2.{n}") for n in range(40)]
    assert any(w > timedelta(0) for w in waits), "distributed guessing is slowed"
    assert max(waits) <= ACCOUNT_CAP
    with pytest.raises(TooManyAttemptsError) as refused:
        ident.identity.login("ann", PASSWORD, client=VICTIM)
    clock.advance(refused.value.retry_after)
    assert isinstance(ident.identity.login("ann", PASSWORD, client=VICTIM), Tokens)


def test_spraying_many_accounts_from_one_address_is_slowed(
    ident: Reserver, clock: FixedClock
) -> None:
    ident.identity.register(UserDraft("zoe"), PASSWORD)
    for n in range(20):
        assert guess(ident, clock, ATTACKER, user=f"user{n}") == timedelta(0)
    assert guess(ident, clock, ATTACKER, user="zoe") > timedelta(0)
    assert isinstance(ident.identity.login("zoe", PASSWORD, client=VICTIM), Tokens)


@pytest.mark.usefixtures("ann")
def test_unknown_usernames_are_throttled_like_known_ones(
    ident: Reserver, clock: FixedClock
) -> None:
    known = [guess(ident, clock, ATTACKER, user="ann") for _ in range(6)]
    unknown = [guess(ident, clock, VICTIM, user="ghost") for _ in range(6)]
    assert [w > timedelta(0) for w in known] == [w > timedelta(0) for w in unknown]


@pytest.mark.usefixtures("ann")
def test_a_success_clears_the_accounts_failures(ident: Reserver, clock: FixedClock) -> None:
    for _ in range(4):
        guess(ident, clock, VICTIM)
    ident.identity.login("ann", PASSWORD, client=VICTIM)
    assert [guess(ident, clock, VICTIM) for _ in range(5)] == [timedelta(0)] * 5


@pytest.mark.usefixtures("ann")
def test_failures_and_throttling_are_events(ident: Reserver, clock: FixedClock) -> None:
    for _ in range(6):
        guess(ident, clock, ATTACKER)
    found = topics(ident)
    assert found.count("identity.login_failed") == 5
    assert found.count("identity.login_throttled") == 1
    ident.identity.login("ann", PASSWORD, client=VICTIM)
    assert "identity.login_succeeded" in topics(ident)


@pytest.mark.usefixtures("ann")
def test_pruning_forgets_only_failures_past_every_window(
    ident: Reserver, clock: FixedClock
) -> None:
    guess(ident, clock, ATTACKER)
    assert ident.identity.prune_throttle() == 0
    clock.advance(timedelta(days=1, seconds=1))
    assert ident.identity.prune_throttle() == 3  # pair, account and client keys
    assert ident.identity.prune_throttle() == 0
