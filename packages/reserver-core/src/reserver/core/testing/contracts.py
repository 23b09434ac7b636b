"""Executable copies of the port contracts in ``reserver.core.ports``.

Each ``*Contract`` is a mixin that pytest collects only through a ``Test*`` subclass, which
overrides the fixtures that build the adapter under test::

    class TestSqlStorage(StorageContract):
        @pytest.fixture
        def storage(self, engine: sa.Engine) -> Iterator[Storage]:
            storage = SqlStorage(engine)
            yield storage
            storage.close()

        @pytest.fixture
        def storage_factory(self, url: str) -> Callable[[], Storage]:
            return functools.partial(SqlStorage.from_url, url)

Concurrency storms carry ``@pytest.mark.slow``; register that marker in the adapter's pytest
configuration. Call ``pytest.register_assert_rewrite("reserver.core.testing")`` in a
``conftest.py`` so that failures show their values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta

import pytest

from reserver.core.ids import EventId, UserId
from reserver.core.ports import (
    Clock,
    Notification,
    Notifier,
    PasswordHasher,
    Storage,
    WebhookDelivery,
    WebhookSink,
)
from reserver.core.testing.identity_access import IdentityAccessContract
from reserver.core.testing.identity_records import IdentityRecordsContract
from reserver.core.testing.storage_properties import StoragePropertiesContract
from reserver.core.testing.storage_queries import StorageQueriesContract
from reserver.core.testing.storage_records import StorageRecordsContract
from reserver.core.testing.storage_rules import StorageRulesContract
from reserver.core.testing.storage_storms import ProcessStormsContract, StorageStormsContract

SECRET = "correct horse battery staple"


class IdentityStorageContract(IdentityRecordsContract, IdentityAccessContract):
    """The identity repositories of ``Transaction.identity`` (``IdentityRepositories``).

    Part of every storage contract; run it alone by subclassing it and overriding ``storage``.
    """

    @pytest.fixture
    def storage(self) -> Storage:
        """Return an empty storage that belongs to this test alone."""
        raise NotImplementedError("override the storage fixture")


class InProcessStorageContract(
    IdentityStorageContract,
    StorageRecordsContract,
    StorageQueriesContract,
    StorageRulesContract,
    StorageStormsContract,
    StoragePropertiesContract,
):
    """The ``Storage`` port for a storage that lives in one process (the in-memory one).

    Override ``storage``. ``property_examples`` sets how many random histories the hypothesis
    property tries.
    """

    @pytest.fixture
    def storage(self) -> Storage:
        """Return an empty storage that belongs to this test alone."""
        raise NotImplementedError("override the storage fixture")


class StorageContract(InProcessStorageContract, ProcessStormsContract):
    """The ``Storage`` port: repositories, no overlap under concurrency, all or nothing.

    Everything of ``InProcessStorageContract``, plus the storm across processes: override
    ``storage`` and ``storage_factory``.
    """


class ClockContract:
    """The ``Clock`` port: aware UTC instants that never run backwards."""

    @pytest.fixture
    def clock(self) -> Clock:
        """Return the clock under test."""
        raise NotImplementedError("override the clock fixture")

    def test_now_is_aware_and_in_utc(self, clock: Clock) -> None:
        """``now`` carries a UTC offset of zero."""
        now = clock.now()
        assert now.tzinfo is not None
        assert now.utcoffset() == timedelta(0)

    def test_time_never_runs_backwards(self, clock: Clock) -> None:
        """Successive readings never decrease."""
        readings = [clock.now() for _ in range(200)]
        assert readings == sorted(readings)


class PasswordHasherContract:
    """The ``PasswordHasher`` port: salted, verifiable, upgradeable hashes."""

    @pytest.fixture
    def hasher(self) -> PasswordHasher:
        """Return the hasher under test (cheap parameters keep the suite fast)."""
        raise NotImplementedError("override the hasher fixture")

    @pytest.fixture
    def outdated_hash(self) -> tuple[str, str]:
        """Return ``(secret, hash)`` made with parameters other than ``hasher``'s."""
        raise NotImplementedError("override the outdated_hash fixture")

    def test_a_hash_verifies_its_secret(self, hasher: PasswordHasher) -> None:
        """``verify`` accepts the secret that was hashed."""
        assert hasher.verify(SECRET, hasher.hash(SECRET))

    @pytest.mark.parametrize("wrong", ["", SECRET.upper(), SECRET + " ", SECRET[:-1], "hunter2"])
    def test_a_wrong_secret_is_refused(self, hasher: PasswordHasher, wrong: str) -> None:
        """``verify`` refuses any other secret, near misses included."""
        assert not hasher.verify(wrong, hasher.hash(SECRET))

    def test_hashes_are_salted(self, hasher: PasswordHasher) -> None:
        """Two hashes of one secret differ and neither reveals it."""
        first, second = hasher.hash(SECRET), hasher.hash(SECRET)
        assert first != second
        assert SECRET not in first
        assert hasher.verify(SECRET, first)
        assert hasher.verify(SECRET, second)

    def test_unicode_secrets_round_trip(self, hasher: PasswordHasher) -> None:
        """Secrets are text; any code point is fine."""
        secret = "pässwörd — 🔑 密码"
        hashed = hasher.hash(secret)
        assert hasher.verify(secret, hashed)
        assert not hasher.verify("passwort — 🔑 密码", hashed)

    @pytest.mark.parametrize("garbage", ["", "plain text", "$$$", "scrypt$n=1$$"])
    def test_an_unreadable_hash_verifies_nothing(
        self, hasher: PasswordHasher, garbage: str
    ) -> None:
        """A malformed stored hash is a refusal, never an exception; it needs a rehash."""
        assert not hasher.verify(SECRET, garbage)
        assert hasher.needs_rehash(garbage)

    def test_a_fresh_hash_needs_no_rehash(self, hasher: PasswordHasher) -> None:
        """A hash made with the current parameters is up to date."""
        assert not hasher.needs_rehash(hasher.hash(SECRET))

    def test_an_outdated_hash_verifies_but_needs_rehash(
        self, hasher: PasswordHasher, outdated_hash: tuple[str, str]
    ) -> None:
        """Old parameters still log in, and ask to be upgraded."""
        secret, hashed = outdated_hash
        assert hasher.verify(secret, hashed)
        assert hasher.needs_rehash(hashed)


def _notification(n: int) -> Notification:
    return Notification(
        recipient=UserId(f"user-{n}"),
        channel="email",
        subject=f"Booking {n} confirmed",
        body=f"Room 4, Monday 09:00 to 10:00 (#{n})",
        event_id=EventId(f"evt-{n}"),
    )


class NotifierContract:
    """The ``Notifier`` port: each delivered notification reaches its recipient intact."""

    @pytest.fixture
    def notifier(self) -> Notifier:
        """Return the notifier under test."""
        raise NotImplementedError("override the notifier fixture")

    @pytest.fixture
    def delivered(self, notifier: Notifier) -> Callable[[], Sequence[Notification]]:
        """Return a callable listing what reached the far side so far, in order."""
        raise NotImplementedError("override the delivered fixture")

    def test_a_notification_arrives_intact(
        self, notifier: Notifier, delivered: Callable[[], Sequence[Notification]]
    ) -> None:
        """Every field of the notification reaches the far side."""
        notifier.deliver(_notification(1))
        assert list(delivered()) == [_notification(1)]

    def test_notifications_arrive_in_order(
        self, notifier: Notifier, delivered: Callable[[], Sequence[Notification]]
    ) -> None:
        """Several deliveries arrive separately, in the order they were made."""
        for n in range(3):
            notifier.deliver(_notification(n))
        assert list(delivered()) == [_notification(n) for n in range(3)]


class WebhookSinkContract:
    """The ``WebhookSink`` port: a POST reaches the receiver with its body and headers."""

    @pytest.fixture
    def sink(self) -> WebhookSink:
        """Return the sink under test, aimed at a receiver that answers 200."""
        raise NotImplementedError("override the sink fixture")

    @pytest.fixture
    def receiver_url(self) -> str:
        """Return the URL of the receiver that ``received`` watches."""
        return "https://hooks.example.test/receiver"

    @pytest.fixture
    def received(self, sink: WebhookSink) -> Callable[[], Sequence[WebhookDelivery]]:
        """Return a callable listing what the receiver got so far, in order."""
        raise NotImplementedError("override the received fixture")

    def test_a_delivery_arrives_with_body_and_headers(
        self,
        sink: WebhookSink,
        receiver_url: str,
        received: Callable[[], Sequence[WebhookDelivery]],
    ) -> None:
        """The receiver gets the body and every signature header; ``post`` returns its status."""
        delivery = WebhookDelivery(
            url=receiver_url,
            event_id=EventId("evt-1"),
            topic="reservation.created",
            body=b'{"id": "evt-1"}',
            headers={"webhook-id": "evt-1", "webhook-signature": "v1,abc="},
        )
        assert sink.post(delivery) == 200
        (got,) = received()
        assert got.body == delivery.body
        assert {k.lower(): v for k, v in got.headers.items()}.items() >= delivery.headers.items()
