from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from reserver.core.adapters.recording import RecordingNotifier, RecordingSink
from reserver.core.errors import DeliveryError
from reserver.core.ids import EventId, UserId
from reserver.core.ports import Notification, Notifier, WebhookDelivery, WebhookSink
from reserver.core.testing import NotifierContract, WebhookSinkContract


class TestRecordingNotifier(NotifierContract):
    @pytest.fixture
    def notifier(self) -> Notifier:
        return RecordingNotifier()

    @pytest.fixture
    def delivered(self, notifier: RecordingNotifier) -> Callable[[], Sequence[Notification]]:
        return lambda: notifier.delivered


class TestRecordingSink(WebhookSinkContract):
    @pytest.fixture
    def sink(self) -> WebhookSink:
        return RecordingSink()

    @pytest.fixture
    def received(self, sink: RecordingSink) -> Callable[[], Sequence[WebhookDelivery]]:
        return lambda: sink.posted


def note(n: int, to: str = "ann") -> Notification:
    return Notification(UserId(to), "email", f"subject {n}", "body", EventId(f"evt-{n}"))


def hook(n: int, url: str = "https://example.test/hook") -> WebhookDelivery:
    return WebhookDelivery(url, EventId(f"evt-{n}"), "reservation.created", b"{}")


def test_notifier_fails_the_next_n_deliveries_then_recovers() -> None:
    notifier = RecordingNotifier()
    notifier.fail_next(2, reason="smtp down")
    for n in (1, 2):
        with pytest.raises(DeliveryError, match="smtp down") as failure:
            notifier.deliver(note(n))
        assert f"evt-{n}" in str(failure.value)
    notifier.deliver(note(3))
    assert notifier.failed == [note(1), note(2)]
    assert notifier.delivered == [note(3)]


def test_notifier_lists_deliveries_per_recipient_and_clears() -> None:
    notifier = RecordingNotifier()
    for n, who in enumerate(["ann", "bob", "ann"]):
        notifier.deliver(note(n, who))
    assert notifier.to("ann") == [note(0, "ann"), note(2, "ann")]
    notifier.clear()
    assert notifier.delivered == []


def test_sink_fails_the_next_n_posts_then_answers_with_its_status() -> None:
    sink = RecordingSink()
    sink.fail_next(1)
    with pytest.raises(DeliveryError, match=r"https://example\.test/hook"):
        sink.post(hook(1))
    assert sink.post(hook(2)) == 200
    sink.respond_with(410)
    assert sink.post(hook(3)) == 410
    assert sink.failed == [hook(1)]
    assert sink.posted == [hook(2), hook(3)]


def test_sink_lists_posts_per_url() -> None:
    sink = RecordingSink(status=204)
    assert sink.post(hook(1, "https://a.test/")) == 204
    sink.post(hook(2, "https://b.test/"))
    assert sink.to("https://a.test/") == [hook(1, "https://a.test/")]


def test_a_negative_failure_count_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        RecordingSink().fail_next(-1)


def test_the_test_kit_api_is_pinned() -> None:
    import reserver.core.adapters.memory
    import reserver.core.testing

    assert reserver.core.testing.__all__ == sorted(reserver.core.testing.__all__)
    assert set(reserver.core.testing.__all__) == {
        "ClockContract", "FailingStorage", "FixedClock", "NotifierContract",
        "PasswordHasherContract", "RecordingNotifier", "RecordingSink", "StorageContract",
        "InProcessStorageContract", "IdentityStorageContract", "booking_machine",
        "WebhookSinkContract", "at", "make_blackout", "make_group", "make_history_entry",
        "make_outbox_message", "make_reservation", "make_resource", "make_series", "span",
        "store",
    }  # fmt: skip
    assert reserver.core.adapters.memory.__all__ == ["InMemoryStorage"]


def test_failing_storage_fails_the_next_units_then_passes_through() -> None:
    from reserver.core.adapters.memory import InMemoryStorage
    from reserver.core.errors import StorageError
    from reserver.core.testing import FailingStorage, make_resource

    storage = FailingStorage(InMemoryStorage())
    resource = make_resource()
    storage.fail_next(2, reason="disk full")
    for _ in range(2):
        with pytest.raises(StorageError, match="disk full"):
            storage.transaction()
    with storage.transaction() as tx:
        tx.resources.add(resource)
    with storage.transaction(readonly=True) as tx:
        assert tx.resources.get(resource.id) == resource
