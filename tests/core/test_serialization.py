from __future__ import annotations

from datetime import UTC, datetime

import pytest

from reserver.core import RecurrenceRule, ReservationRequest, ResourceDraft, ValidationError
from reserver.core.serialization import make_converter, structure


@pytest.fixture
def converter():
    return make_converter()


def test_request_round_trips(converter) -> None:
    request = ReservationRequest(
        "r1", datetime(2026, 1, 10, 9, tzinfo=UTC), datetime(2026, 1, 10, 10, tzinfo=UTC)
    )  # type: ignore[arg-type]
    data = converter.unstructure(request)
    assert data["start"] == "2026-01-10T09:00:00+00:00"
    assert structure(converter, data, ReservationRequest) == request


def test_unknown_field_is_refused_by_name(converter) -> None:
    with pytest.raises(ValidationError) as bad:
        structure(converter, {"name": "A", "is_admin": True}, ResourceDraft)
    assert bad.value.fields == {"is_admin": "unknown field"}


def test_naive_datetime_is_refused_with_the_hint(converter) -> None:
    data = {"resource_id": "r1", "start": "2026-01-10T09:00:00", "end": "2026-01-10T10:00:00+00:00"}
    with pytest.raises(ValidationError) as bad:
        structure(converter, data, ReservationRequest)
    assert "start" in bad.value.fields
    assert "UTC offset" in bad.value.fields["start"]


def test_wrong_type_and_missing_field_are_named(converter) -> None:
    with pytest.raises(ValidationError) as bad:
        structure(converter, {"frequency": "weekly", "count": "many"}, RecurrenceRule)
    assert "count" in bad.value.fields
    with pytest.raises(ValidationError) as bad:
        structure(converter, {"start": "2026-01-10T09:00:00+00:00"}, ReservationRequest)
    assert "resource_id" in bad.value.fields
