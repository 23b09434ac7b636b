from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reserver.core import (
    NotFoundError,
    PermissionDeniedError,
    Principal,
    ReservationRequest,
    Reserver,
    ResourceDraft,
    ValidationError,
)
from reserver.core.adapters.clock import FixedClock
from reserver.core.errors import AuthenticationError
from reserver.core.principals import Permission

T0 = datetime(2026, 6, 2, 9, 0, tzinfo=UTC)


def topics(r: Reserver) -> list[str]:
    with r.storage.transaction(readonly=True) as tx:
        return [m.topic for m in tx.outbox.due(r.clock.now() + timedelta(days=400), 10_000)]


def test_a_key_is_shown_once_and_stored_as_a_digest(ident: Reserver, ann_user: Principal) -> None:
    key, plain = ident.api_keys.create(ann_user, "calendar sync", ["view"])
    assert plain.startswith("rk_")
    assert key.prefix in plain
    assert plain not in repr(key)
    assert key.key_hash != plain
    assert ident.api_keys.list(ann_user) == [key]


def test_a_key_acts_within_its_scopes_only(
    ident: Reserver, root: Principal, ann_user: Principal
) -> None:
    room = ident.resources.create(root, ResourceDraft(name="Room", timezone="UTC"))
    _, viewer = ident.api_keys.create(ann_user, "dashboard", ["view"])
    via_key = ident.identity.authenticate(viewer)
    assert via_key.id == ann_user.id
    assert via_key.permissions == {Permission.VIEW}
    assert ident.resources.get(via_key, room.id) == room
    with pytest.raises(PermissionDeniedError):
        ident.reservations.reserve(
            via_key, ReservationRequest(room.id, T0, T0 + timedelta(hours=1))
        )
    _, booker = ident.api_keys.create(ann_user, "bot", ["view", "book", "manage_own"])
    made = ident.reservations.reserve(
        ident.identity.authenticate(booker),
        ReservationRequest(room.id, T0, T0 + timedelta(hours=1)),
    )
    assert made.holder == ann_user.id


def test_a_key_never_exceeds_its_owners_rights(ident: Reserver, ann_user: Principal) -> None:
    with pytest.raises(PermissionDeniedError, match="manage_resources"):
        ident.api_keys.create(ann_user, "sneaky", ["view", "manage_resources"])
    with pytest.raises(ValidationError):
        ident.api_keys.create(ann_user, "typo", ["veiw"])


def test_a_key_cannot_mint_keys(ident: Reserver, ann_user: Principal) -> None:
    _, plain = ident.api_keys.create(ann_user, "script", ["view"])
    with pytest.raises(PermissionDeniedError):
        ident.api_keys.create(ident.identity.authenticate(plain), "child", ["view"])


def test_a_revoked_or_expired_key_stops_working(
    ident: Reserver, ann_user: Principal, root: Principal, clock: FixedClock
) -> None:
    key, plain = ident.api_keys.create(ann_user, "script", ["view"])
    _short, short_plain = ident.api_keys.create(
        ann_user, "temp", ["view"], expires_at=clock.now() + timedelta(hours=1)
    )
    ident.identity.authenticate(plain)
    with pytest.raises(NotFoundError):
        ident.api_keys.revoke(Principal.user("mallory"), key.id)
    ident.api_keys.revoke(ann_user, key.id)
    with pytest.raises(AuthenticationError):
        ident.identity.authenticate(plain)
    clock.advance(timedelta(hours=1))
    with pytest.raises(AuthenticationError):
        ident.identity.authenticate(short_plain)
    assert {"identity.api_key_changed"} <= set(topics(ident))
    with pytest.raises(ValidationError):
        ident.api_keys.create(ann_user, "past", ["view"], expires_at=clock.now())


def test_a_forged_key_with_a_real_prefix_is_refused(ident: Reserver, ann_user: Principal) -> None:
    key, _plain = ident.api_keys.create(ann_user, "script", ["view"])
    forged = f"rk_{key.prefix}_{'A' * 43}"
    with pytest.raises(AuthenticationError):
        ident.identity.authenticate(forged)


def test_a_key_records_when_it_was_last_used(
    ident: Reserver, ann_user: Principal, clock: FixedClock
) -> None:
    key, plain = ident.api_keys.create(ann_user, "script", ["view"])
    assert key.last_used_at is None
    ident.identity.authenticate(plain)
    (used,) = ident.api_keys.list(ann_user)
    assert used.last_used_at == clock.now()
    clock.advance(timedelta(minutes=5))
    ident.identity.authenticate(plain)
    (later,) = ident.api_keys.list(ann_user)
    assert later.last_used_at == clock.now()


def test_a_deactivated_users_keys_stop_working(
    ident: Reserver, root: Principal, ann_user: Principal
) -> None:
    _, plain = ident.api_keys.create(ann_user, "script", ["view"])
    ident.users.set_active(root, ann_user.id, False)
    with pytest.raises(AuthenticationError):
        ident.identity.authenticate(plain)
