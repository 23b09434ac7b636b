"""Recording notifier and webhook sink: in-process adapters for tests and embedding."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from reserver.core.errors import DeliveryError
from reserver.core.ids import UserId
from reserver.core.ports import Notification, WebhookDelivery


class _Failures:
    """A countdown of simulated failures, shared by threads."""

    def __init__(self) -> None:
        self._left = 0
        self._reason = ""

    def arm(self, times: int, reason: str) -> None:
        if times < 0:
            raise ValueError(f"times must not be negative, got {times}")
        self._left, self._reason = times, reason

    def take(self) -> str | None:
        """Use up one failure and return its reason, or ``None`` when none is armed."""
        if self._left == 0:
            return None
        self._left -= 1
        return self._reason


class RecordingNotifier:
    """A Notifier that keeps every notification in memory; ``fail_next`` simulates outages."""

    def __init__(self) -> None:
        self.delivered: list[Notification] = []
        self.failed: list[Notification] = []
        self._failures = _Failures()
        self._lock = threading.Lock()

    def deliver(self, notification: Notification) -> None:
        """Record ``notification``, or raise ``DeliveryError`` while failures are armed."""
        with self._lock:
            reason = self._failures.take()
            if reason is not None:
                self.failed.append(notification)
                raise DeliveryError(
                    f"{notification.channel} notification {notification.event_id} to "
                    f"{notification.recipient} failed: {reason}"
                )
            self.delivered.append(notification)

    def fail_next(self, times: int = 1, *, reason: str = "simulated outage") -> None:
        """Make the next ``times`` deliveries raise ``DeliveryError``."""
        with self._lock:
            self._failures.arm(times, reason)

    def to(self, recipient: UserId | str) -> list[Notification]:
        """The notifications delivered to ``recipient``, in order."""
        with self._lock:
            return [n for n in self.delivered if n.recipient == recipient]

    def clear(self) -> None:
        """Forget everything recorded so far."""
        with self._lock:
            self.delivered.clear()
            self.failed.clear()


class RecordingSink:
    """A WebhookSink that keeps every delivery in memory and answers with a chosen status."""

    def __init__(self, *, status: int = 200) -> None:
        self.posted: list[WebhookDelivery] = []
        self.failed: list[WebhookDelivery] = []
        self._status = status
        self._failures = _Failures()
        self._lock = threading.Lock()

    def post(self, delivery: WebhookDelivery) -> int:
        """Record ``delivery`` and return the status; raise ``DeliveryError`` while armed."""
        with self._lock:
            reason = self._failures.take()
            if reason is not None:
                self.failed.append(delivery)
                raise DeliveryError(
                    f"webhook {delivery.event_id} to {delivery.url} failed: {reason}"
                )
            self.posted.append(delivery)
            return self._status

    def fail_next(self, times: int = 1, *, reason: str = "connection refused (simulated)") -> None:
        """Make the next ``times`` posts raise ``DeliveryError``."""
        with self._lock:
            self._failures.arm(times, reason)

    def respond_with(self, status: int) -> None:
        """Answer every later post with ``status`` (410 asks the sender to unsubscribe)."""
        with self._lock:
            self._status = status

    def to(self, url: str) -> list[WebhookDelivery]:
        """The deliveries posted to ``url``, in order."""
        with self._lock:
            return [d for d in self.posted if d.url == url]

    def clear(self) -> None:
        """Forget everything recorded so far."""
        with self._lock:
            self.posted.clear()
            self.failed.clear()


if TYPE_CHECKING:
    from reserver.core.ports import Notifier, WebhookSink

    _notifier: type[Notifier] = RecordingNotifier
    _sink: type[WebhookSink] = RecordingSink
