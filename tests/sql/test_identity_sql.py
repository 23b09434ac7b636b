"""What the SQL identity storage adds to the contract: single use under storms, keys, schema."""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta

import attrs
import pytest
import sqlalchemy as sa

from reserver.core.errors import ConflictError, NotFoundError
from reserver.core.identity.models import (
    AuthorizationCode,
    ClientId,
    Invite,
    RefreshToken,
    SessionId,
    User,
)
from reserver.core.identity.tokens import digest
from reserver.core.ids import UserId
from reserver.core.testing.builders import T0
from reserver.core.testing.races import CONFLICT, race, unexpected, winners
from reserver.sql import SqlStorage, metadata
from reserver.sql.identity_access import FAILURE_RETENTION
from reserver.sql.identity_tables import throttle_failures

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
THREADS = 8
ROUNDS = 25


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))


@pytest.fixture
def storage(url: str) -> Iterator[SqlStorage]:
    storage = SqlStorage.from_url(url)
    yield storage
    storage.close()


def make_user(username: str, email: str | None = None, **changes: object) -> User:
    user = User(
        id=UserId(f"u-{username.lower()}"),
        username=username,
        display_name=username.title(),
        password_hash="scrypt$not-a-real-hash",
        created_at=T0,
        email=email,
    )
    return attrs.evolve(user, **changes)


def make_token(secret: str, family: str, user_id: str = "u-alice") -> RefreshToken:
    return RefreshToken(
        token_hash=digest(secret),
        family_id=SessionId(family),
        user_id=UserId(user_id),
        issued_at=T0,
        expires_at=T0 + timedelta(days=14),
    )


def make_code(secret: str) -> AuthorizationCode:
    return AuthorizationCode(
        code_hash=digest(secret),
        client_id=ClientId("client-1"),
        user_id=UserId("u-alice"),
        redirect_uri="https://app.example/callback",
        scopes=frozenset(),
        code_challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        created_at=T0,
        expires_at=T0 + timedelta(minutes=10),
    )


def make_invite(secret: str) -> Invite:
    return Invite(
        code_hash=digest(secret),
        created_by=UserId("u-admin"),
        created_at=T0,
        expires_at=T0 + timedelta(days=7),
    )


# -- single use under a thread storm: each thread has its own unit of work and connection --


def _in_unit(storage: SqlStorage, action: Callable[..., object]) -> Callable[[], None]:
    """An attempt that runs ``action(tx)`` in its own unit; a refused use is a conflict."""

    def attempt() -> None:
        with storage.transaction() as tx:
            outcome = action(tx)
        if outcome is False:
            raise ConflictError("already used")

    return attempt


def _storm(
    storage: SqlStorage, attempt_of_round: Callable[[int], Callable[[object], object]]
) -> None:
    for round_no in range(ROUNDS):
        attempt = _in_unit(storage, attempt_of_round(round_no))
        outcomes = race([attempt] * THREADS)
        assert unexpected(outcomes) == [], f"round {round_no}: {outcomes}"
        assert winners(outcomes) == 1, f"round {round_no}: {outcomes}"
        assert outcomes.count(CONFLICT) == THREADS - 1


def _taking(take: Callable[[object], object]) -> Callable[[object], object]:
    def action(tx: object) -> object:
        try:
            take(tx)
        except NotFoundError:
            return False
        return True

    return action


@pytest.mark.slow
def test_a_backup_code_used_by_many_threads_at_once_is_used_exactly_once(
    storage: SqlStorage,
) -> None:
    user_id = UserId("u-alice")
    with storage.transaction() as tx:
        tx.identity.mfa.replace(user_id, [digest(f"code-{n}") for n in range(ROUNDS)])

    def round_action(round_no: int) -> Callable[[object], object]:
        code_hash = digest(f"code-{round_no}")
        return lambda tx: tx.identity.mfa.use(user_id, code_hash, T0)  # type: ignore[attr-defined]

    _storm(storage, round_action)
    with storage.transaction(readonly=True) as tx:
        assert tx.identity.mfa.remaining(user_id) == 0


@pytest.mark.slow
def test_an_authorization_code_taken_by_many_threads_at_once_is_taken_exactly_once(
    storage: SqlStorage,
) -> None:
    with storage.transaction() as tx:
        for n in range(ROUNDS):
            tx.identity.codes.add(make_code(f"code-{n}"))

    def round_action(round_no: int) -> Callable[[object], object]:
        code_hash = digest(f"code-{round_no}")
        return _taking(lambda tx: tx.identity.codes.take(code_hash, T0))  # type: ignore[attr-defined]

    _storm(storage, round_action)


@pytest.mark.slow
def test_an_invite_taken_by_many_threads_at_once_is_taken_exactly_once(
    storage: SqlStorage,
) -> None:
    with storage.transaction() as tx:
        for n in range(ROUNDS):
            tx.identity.invites.add(make_invite(f"invite-{n}"))

    def round_action(round_no: int) -> Callable[[object], object]:
        code_hash = digest(f"invite-{round_no}")
        return _taking(lambda tx: tx.identity.invites.take(code_hash, T0))  # type: ignore[attr-defined]

    _storm(storage, round_action)


@pytest.mark.slow
def test_a_refresh_token_used_by_many_threads_at_once_rotates_exactly_once(
    storage: SqlStorage,
) -> None:
    with storage.transaction() as tx:
        for n in range(ROUNDS):
            tx.identity.sessions.add(make_token(f"refresh-{n}", f"family-{n}"))

    def round_action(round_no: int) -> Callable[[object], object]:
        token_hash = digest(f"refresh-{round_no}")
        return lambda tx: tx.identity.sessions.use(token_hash, T0)  # type: ignore[attr-defined]

    _storm(storage, round_action)


@pytest.mark.slow
def test_many_threads_registering_one_username_in_any_case_make_one_account(
    storage: SqlStorage,
) -> None:
    messages: list[str] = []

    def register(index: int) -> None:
        name = "alice" if index % 2 else "ALICE"
        try:
            with storage.transaction() as tx:
                tx.identity.users.add(
                    make_user(name, f"alice{index}@x.org", id=UserId(f"u-{index}"))
                )
        except ConflictError as refused:
            messages.append(str(refused))
            raise

    outcomes = race([functools.partial(register, i) for i in range(THREADS)])
    assert unexpected(outcomes) == []
    assert winners(outcomes) == 1
    assert len(messages) == THREADS - 1
    assert all("username 'alice' is taken" in message for message in messages)
    with storage.transaction(readonly=True) as tx:
        assert tx.identity.users.count() == 1


def test_a_use_that_rolls_back_leaves_the_code_usable(storage: SqlStorage) -> None:
    with storage.transaction() as tx:
        tx.identity.codes.add(make_code("code"))

    def take_then_fail() -> None:
        with storage.transaction() as tx:
            tx.identity.codes.take(digest("code"), T0)
            raise RuntimeError("the token response failed")

    with pytest.raises(RuntimeError):
        take_then_fail()
    with storage.transaction() as tx:
        taken = tx.identity.codes.take(digest("code"), T0 + timedelta(seconds=1))
    assert taken.used_at == T0 + timedelta(seconds=1)


# -- unique keys --------------------------------------------------------------------------


def test_usernames_and_emails_differing_only_by_case_are_refused_naming_the_field(
    storage: SqlStorage,
) -> None:
    with storage.transaction() as tx:
        tx.identity.users.add(make_user("alice", "Alice@Example.org"))
    with storage.transaction() as tx:
        with pytest.raises(ConflictError, match="username"):
            tx.identity.users.add(make_user("ALICE", id=UserId("u-2")))
        with pytest.raises(ConflictError, match="e-mail"):
            tx.identity.users.add(make_user("bob", "alice@EXAMPLE.org"))
        # The unit of work stays usable after a refused key, on PostgreSQL too.
        tx.identity.users.add(make_user("carol", "carol@example.org"))
    with storage.transaction(readonly=True) as tx:
        assert tx.identity.users.get_by_username("Alice").id == "u-alice"
        assert tx.identity.users.get_by_email("ALICE@example.ORG").id == "u-alice"
        assert tx.identity.users.count() == 2


def test_taking_another_users_email_on_update_is_refused_and_the_unit_stays_usable(
    storage: SqlStorage,
) -> None:
    with storage.transaction() as tx:
        tx.identity.users.add(make_user("alice", "alice@example.org"))
        tx.identity.users.add(make_user("bob", "bob@example.org"))
    with storage.transaction() as tx:
        bob = tx.identity.users.get(UserId("u-bob"))
        stolen = make_user("bob", "ALICE@example.org", version=2)
        with pytest.raises(ConflictError, match=re.escape("e-mail 'alice@example.org' is taken")):
            tx.identity.users.update(stolen, expected_version=bob.version)
        renamed = make_user("bob", "bob@example.org", display_name="Robert", version=2)
        tx.identity.users.update(renamed, expected_version=1)
    with storage.transaction(readonly=True) as tx:
        assert tx.identity.users.get(UserId("u-bob")).display_name == "Robert"


def test_a_user_may_change_the_case_of_their_own_email(storage: SqlStorage) -> None:
    with storage.transaction() as tx:
        tx.identity.users.add(make_user("alice", "alice@example.org"))
    with storage.transaction() as tx:
        tx.identity.users.update(
            make_user("alice", "Alice@Example.org", version=2), expected_version=1
        )
    with storage.transaction(readonly=True) as tx:
        assert tx.identity.users.get(UserId("u-alice")).email == "Alice@Example.org"


def test_a_duplicate_secret_digest_is_a_conflict_that_does_not_show_the_digest(
    storage: SqlStorage,
) -> None:
    with storage.transaction() as tx:
        tx.identity.sessions.add(make_token("refresh", "family-1"))
    with storage.transaction() as tx, pytest.raises(ConflictError) as refused:
        tx.identity.sessions.add(make_token("refresh", "family-2"))
    assert "refresh token" in str(refused.value)
    assert digest("refresh") not in str(refused.value)


# -- sessions -----------------------------------------------------------------------------


def test_a_token_that_joined_a_revoked_family_cannot_revive_the_session(
    storage: SqlStorage,
) -> None:
    family = SessionId("family-1")
    with storage.transaction() as tx:
        tx.identity.sessions.add(make_token("first", family))
        tx.identity.sessions.revoke_family(family, T0)
        # A refresh that raced the logout adds its new token after the revocation.
        tx.identity.sessions.add(make_token("late", family))
    with storage.transaction() as tx:
        assert tx.identity.sessions.is_revoked(family)
        assert tx.identity.sessions.use(digest("late"), T0) is False


@pytest.mark.postgres
def test_a_refresh_that_races_a_logout_cannot_keep_the_session_alive(pg_url: str) -> None:
    """The logout's UPDATE waits for the refresh's row lock and misses the token it adds."""
    storage = SqlStorage.from_url(pg_url)
    family = SessionId("family-1")
    with storage.transaction() as tx:
        tx.identity.sessions.add(make_token("first", family))
    logged_out = threading.Event()

    def logout() -> None:
        with storage.transaction() as tx:
            tx.identity.sessions.revoke_family(family, T0)
        logged_out.set()

    try:
        with storage.transaction() as tx:
            assert tx.identity.sessions.use(digest("first"), T0)
            waiter = threading.Thread(target=logout)
            waiter.start()
            _until_a_backend_waits_for_a_lock(storage)
            tx.identity.sessions.add(make_token("second", family))
        waiter.join(60)
        assert logged_out.is_set()
        with storage.transaction() as tx:
            second = tx.identity.sessions.get_by_hash(digest("second"))
            assert second.revoked_at is None  # the logout's UPDATE never saw it ...
            assert tx.identity.sessions.is_revoked(family)  # ... yet the session is over
            assert tx.identity.sessions.use(digest("second"), T0) is False
    finally:
        storage.close()


def _until_a_backend_waits_for_a_lock(storage: SqlStorage) -> None:
    waiting = sa.text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    with storage.engine.connect() as connection:
        for _ in range(100_000):  # each look is a round trip: no sleeping needed
            found = connection.execute(waiting).scalar_one()
            connection.commit()  # the activity view is a snapshot taken once per transaction
            if found:
                return
    pytest.fail("the logout never waited for the refresh's row lock")


def test_revoke_user_counts_families_and_spares_the_kept_one(storage: SqlStorage) -> None:
    with storage.transaction() as tx:
        for family in ("a", "b", "c"):
            tx.identity.sessions.add(make_token(f"{family}-1", family))
            tx.identity.sessions.add(make_token(f"{family}-2", family))
        tx.identity.sessions.add(make_token("other", "d", user_id="u-bob"))
        tx.identity.sessions.revoke_family(SessionId("c"), T0)
    with storage.transaction() as tx:
        revoked = tx.identity.sessions.revoke_user(
            UserId("u-alice"), T0, keep_family=SessionId("a")
        )
        assert revoked == 1  # b; c was revoked already, a is kept
        assert [tx.identity.sessions.is_revoked(SessionId(f)) for f in "abcd"] == [
            False,
            True,
            True,
            False,
        ]
        assert tx.identity.sessions.revoke_user(UserId("u-alice"), T0) == 1


# -- throttling ---------------------------------------------------------------------------


def test_recording_a_failure_forgets_the_keys_failures_past_the_retention(
    storage: SqlStorage,
) -> None:
    later = T0 + FAILURE_RETENTION + timedelta(hours=1)
    with storage.transaction() as tx:
        tx.identity.throttle.record("login:account:alice", T0)
        tx.identity.throttle.record("login:account:bob", T0)
        tx.identity.throttle.record("login:account:alice", later)
    with storage.transaction(readonly=True) as tx:
        assert tx.identity.throttle.failures_since("login:account:alice", T0) == [later]
        assert tx.identity.throttle.failures_since("login:account:bob", T0) == [T0]


def test_throttle_lookups_search_the_key_and_time_index(storage: SqlStorage) -> None:
    rows = [
        {"key": f"login:client:10.0.0.{n % 100}", "at": T0 + timedelta(minutes=n)}
        for n in range(5000)
    ]
    query = (
        "SELECT at FROM throttle_failures WHERE key = 'login:client:10.0.0.7' "
        "AND at >= '2030-01-07 12:00:00' ORDER BY at"
    )
    with storage.engine.begin() as connection:
        connection.execute(throttle_failures.insert(), rows)
        connection.exec_driver_sql("ANALYZE")
    with storage.engine.connect() as connection:
        explain = "EXPLAIN QUERY PLAN " if connection.dialect.name == "sqlite" else "EXPLAIN "
        plan = " ".join(str(row) for row in connection.exec_driver_sql(explain + query))
    assert "ix_throttle_failures_key_at" in plan, plan


# -- schema -------------------------------------------------------------------------------

SECRET_COLUMNS = {
    "api_keys.key_hash",
    "authorization_codes.code_hash",
    "authorization_codes.code_challenge",
    "backup_codes.code_hash",
    "invites.code_hash",
    "oauth_clients.secret_hash",
    "oauth_tokens.token_hash",
    "refresh_tokens.token_hash",
    "users.password_hash",
    "users.totp_pending",
    "users.totp_sealed",
}


def test_every_column_that_holds_a_secret_holds_its_hash_or_sealed_form() -> None:
    """A new column named after a secret fails here until it is reviewed and listed."""
    named_after_secrets = {
        f"{table.name}.{column.name}"
        for table in metadata.sorted_tables
        for column in table.columns
        if re.search(r"password|secret|token|code|totp|hash", column.name)
        and not column.name.endswith(("_at", "_step"))
    }
    assert named_after_secrets == SECRET_COLUMNS
    assert all(
        name.endswith(("_hash", "_sealed", "_pending", "_challenge")) for name in SECRET_COLUMNS
    )
