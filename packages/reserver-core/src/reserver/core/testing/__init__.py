"""Reserver's test kit: port contracts, fakes and model builders (extra ``reserver-core[testing]``).

Adapters run the contracts by subclassing them (see ``reserver.core.testing.contracts``);
services are tested with fakes (``FixedClock``, ``RecordingNotifier``, ``RecordingSink``,
``FailingStorage``) and the in-memory storage, never with mocks of our own ports.
"""

from reserver.core.testing.booking_machine import booking_machine
from reserver.core.testing.builders import (
    at,
    make_blackout,
    make_group,
    make_history_entry,
    make_outbox_message,
    make_reservation,
    make_resource,
    make_series,
    span,
    store,
)
from reserver.core.testing.contracts import (
    ClockContract,
    IdentityStorageContract,
    InProcessStorageContract,
    NotifierContract,
    PasswordHasherContract,
    StorageContract,
    WebhookSinkContract,
)
from reserver.core.testing.fakes import FailingStorage, FixedClock, RecordingNotifier, RecordingSink

__all__ = [
    "ClockContract",
    "FailingStorage",
    "FixedClock",
    "IdentityStorageContract",
    "InProcessStorageContract",
    "NotifierContract",
    "PasswordHasherContract",
    "RecordingNotifier",
    "RecordingSink",
    "StorageContract",
    "WebhookSinkContract",
    "at",
    "booking_machine",
    "make_blackout",
    "make_group",
    "make_history_entry",
    "make_outbox_message",
    "make_reservation",
    "make_resource",
    "make_series",
    "span",
    "store",
]
