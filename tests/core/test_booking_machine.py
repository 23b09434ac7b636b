from __future__ import annotations

from hypothesis import HealthCheck, settings

from reserver.core.adapters.memory import InMemoryStorage
from reserver.core.testing.booking_machine import booking_machine

Machine = booking_machine(InMemoryStorage)
Machine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestBookingMachineOnMemory = Machine.TestCase
