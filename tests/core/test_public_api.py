from __future__ import annotations

import reserver.core


def test_public_api_is_pinned() -> None:
    assert reserver.core.__all__ == sorted(reserver.core.__all__)
    assert set(reserver.core.__all__) == {
        "AdapterError",
        "Alternative",
        "Attributes",
        "AuthenticationError",
        "Blackout",
        "BookingPolicy",
        "ConfigurationError",
        "ConflictError",
        "CoreSettings",
        "DeliveryError",
        "Frequency",
        "Group",
        "GroupDraft",
        "HistoryEntry",
        "IdentitySettings",
        "MultiReservationRequest",
        "NotFoundError",
        "NthWeekday",
        "OAuthError",
        "OAuthErrorCode",
        "OccurrenceScope",
        "OpeningInterval",
        "Page",
        "PageRequest",
        "Permission",
        "PermissionDeniedError",
        "Principal",
        "Quota",
        "RecurrenceRule",
        "Reservation",
        "ReservationEdit",
        "ReservationQuery",
        "ReservationRequest",
        "ReservationStatus",
        "Reserver",
        "ReserverError",
        "Resource",
        "ResourceDraft",
        "ResourcePatch",
        "ResourceQuery",
        "ResourceStatus",
        "Role",
        "Rule",
        "Scope",
        "Series",
        "SeriesEdit",
        "SeriesRequest",
        "StorageError",
        "TimeSpan",
        "TooManyAttemptsError",
        "ValidationError",
        "Violation",
        "WeeklyHours",
    }
    for name in reserver.core.__all__:
        assert getattr(reserver.core, name) is not None


def test_registry_names_the_package_to_install() -> None:
    import pytest

    from reserver.core import ConfigurationError
    from reserver.core.registry import load_factory

    with pytest.raises(ConfigurationError, match="installed"):
        load_factory("reserver.storage", "mongodb")
