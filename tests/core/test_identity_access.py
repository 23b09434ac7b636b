from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reserver.core import (
    BookingPolicy,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    Principal,
    ReservationRequest,
    ReservationStatus,
    Reserver,
    ResourceDraft,
    ValidationError,
)
from reserver.core.identity import Tokens, UserDraft
from reserver.core.models import Resource
from reserver.core.principals import Permission, Role
from reserver.core.queries import PageRequest

T0 = datetime(2026, 6, 2, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
BOB_PASSWORD = "forty winks beneath the cedar"


@pytest.fixture
def bob_user(ident: Reserver) -> Principal:
    ident.identity.register(UserDraft("bob"), BOB_PASSWORD)
    tokens = ident.identity.login("bob", BOB_PASSWORD)
    assert isinstance(tokens, Tokens)
    return ident.identity.authenticate(tokens.access_token)


def relogin(r: Reserver, name: str, password: str) -> Principal:
    tokens = r.identity.login(name, password)
    assert isinstance(tokens, Tokens)
    return r.identity.authenticate(tokens.access_token)


def topics(r: Reserver) -> list[str]:
    with r.storage.transaction(readonly=True) as tx:
        return [m.topic for m in tx.outbox.due(r.clock.now() + timedelta(days=400), 10_000)]


def book(r: Reserver, who: Principal, resource: Resource, hours: int = 0):
    start = T0 + timedelta(hours=hours)
    return r.reservations.reserve(who, ReservationRequest(resource.id, start, start + HOUR))


def test_built_in_roles_map_to_permissions() -> None:
    assert Principal.admin().permissions == set(Permission)
    assert Principal.user("u").permissions == {
        Permission.VIEW,
        Permission.BOOK,
        Permission.MANAGE_OWN,
    }
    assert Principal.guest().permissions == {Permission.VIEW}
    narrowed = Principal.admin("a").__class__(Principal.admin().id, {Role.ADMIN}, scopes=["view"])
    assert narrowed.permissions == {Permission.VIEW}
    assert not narrowed.is_admin


def test_a_custom_role_gives_its_permissions_to_its_holders(
    ident: Reserver, root: Principal, bob_user: Principal
) -> None:
    room = ident.resources.create(root, ResourceDraft(name="Room", timezone="UTC"))
    with pytest.raises(PermissionDeniedError):
        ident.resources.update(bob_user, room.id, _rename("Hall"), expected_version=1)
    ident.access.create_role(root, "facilities", ["view", "manage_resources", "manage_schedules"])
    ident.users.set_roles(root, bob_user.id, ["user"], ["facilities"])
    bob = relogin(ident, "bob", BOB_PASSWORD)
    assert bob.has(Permission.MANAGE_RESOURCES)
    assert not bob.has(Permission.MANAGE_USERS)
    assert ident.resources.update(bob, room.id, _rename("Hall"), expected_version=1).name == "Hall"
    # Changing the role changes what its holders may do, at their next request.
    ident.access.update_role(root, "facilities", ["view"])
    with pytest.raises(PermissionDeniedError):
        ident.resources.update(
            relogin(ident, "bob", BOB_PASSWORD), room.id, _rename("Aula"), expected_version=2
        )
    ident.access.delete_role(root, "facilities")
    assert relogin(ident, "bob", BOB_PASSWORD).granted == set()


def _rename(name: str):
    from reserver.core import ResourcePatch

    return ResourcePatch(name=name)


def test_nobody_hands_out_rights_they_lack(
    ident: Reserver, root: Principal, bob_user: Principal
) -> None:
    ident.access.create_role(root, "user-admins", ["view", "manage_users"])
    ident.users.set_roles(root, bob_user.id, ["user"], ["user-admins"])
    bob = relogin(ident, "bob", BOB_PASSWORD)
    with pytest.raises(PermissionDeniedError):
        ident.users.set_roles(bob, bob.id, ["admin"])
    with pytest.raises(PermissionDeniedError):
        ident.users.reset_password(bob, root.id, "taking over the admin account")
    with pytest.raises(PermissionDeniedError):
        ident.access.create_role(root.__class__(bob.id, bob.roles, granted=bob.granted), "x", [])
    with pytest.raises(ValidationError):
        ident.access.create_role(root, "admin", ["view"])
    with pytest.raises(ValidationError):
        ident.access.create_role(root, "odd", ["fly"])


def test_a_resource_granted_to_someone_is_hidden_from_everyone_else(
    ident: Reserver, root: Principal, ann_user: Principal, bob_user: Principal
) -> None:
    public = ident.resources.create(root, ResourceDraft(name="Atrium", timezone="UTC"))
    secret = ident.resources.create(root, ResourceDraft(name="Board room", timezone="UTC"))
    ident.access.grant(root, secret.id, f"user:{ann_user.id}", "see")
    assert ident.resources.get(ann_user, secret.id) == secret
    with pytest.raises(NotFoundError):
        ident.resources.get(bob_user, secret.id)
    with pytest.raises(NotFoundError):
        book(ident, bob_user, secret)
    with pytest.raises(NotFoundError):
        ident.availability.free_slots(bob_user, secret.id, HOUR, day=T0.date())
    assert [r.name for r in ident.resources.list(bob_user).items] == ["Atrium"]
    assert [r.name for r in ident.resources.list(ann_user).items] == ["Atrium", "Board room"]
    assert [f.resource.name for f in ident.availability.find(bob_user, span=_span())] == ["Atrium"]
    assert ident.resources.get(root, secret.id) == secret  # managers see everything
    assert book(ident, ann_user, secret).resource_id == secret.id
    del public


def _span():
    from reserver.core import TimeSpan

    return TimeSpan(T0, T0 + HOUR)


def test_listing_keeps_pages_full_around_hidden_resources(
    ident: Reserver, root: Principal, bob_user: Principal
) -> None:
    made = [
        ident.resources.create(root, ResourceDraft(name=f"Room {n:02}", timezone="UTC"))
        for n in range(10)
    ]
    for hidden in made[1:8:2]:
        ident.access.grant(root, hidden.id, "role:guest", "see")
    names, cursor = [], None
    while True:
        page = ident.resources.list(bob_user, page=PageRequest(limit=2, cursor=cursor))
        assert len(page.items) == 2 or page.next_cursor is None
        names += [r.name for r in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert names == ["Room 00", "Room 02", "Room 04", "Room 06", "Room 08", "Room 09"]


def test_a_role_grant_lets_every_holder_see(
    ident: Reserver, root: Principal, ann_user: Principal, bob_user: Principal
) -> None:
    lab = ident.resources.create(root, ResourceDraft(name="Lab", timezone="UTC"))
    ident.access.create_role(root, "chemists", ["view", "book", "manage_own"])
    ident.access.grant(root, lab.id, "role:chemists", "see")
    with pytest.raises(NotFoundError):
        ident.resources.get(bob_user, lab.id)
    ident.users.set_roles(root, bob_user.id, ["user"], ["chemists"])
    assert ident.resources.get(relogin(ident, "bob", BOB_PASSWORD), lab.id) == lab


def test_a_book_grant_is_required_to_book(
    ident: Reserver, root: Principal, ann_user: Principal, bob_user: Principal
) -> None:
    magnet = ident.resources.create(root, ResourceDraft(name="NMR magnet", timezone="UTC"))
    ident.access.grant(root, magnet.id, f"user:{ann_user.id}", "book")
    assert ident.resources.get(bob_user, magnet.id) == magnet  # visible, not bookable
    with pytest.raises(PermissionDeniedError, match="by grant only"):
        book(ident, bob_user, magnet)
    assert book(ident, ann_user, magnet).holder == ann_user.id
    guest = Principal.guest("g")
    with pytest.raises(PermissionDeniedError):
        ident.reservations.reserve(guest, ReservationRequest(magnet.id, T0, T0 + HOUR))


def test_an_approve_grant_lets_its_holder_skip_approval(
    ident: Reserver, root: Principal, ann_user: Principal, bob_user: Principal
) -> None:
    policy = BookingPolicy(requires_approval=True)
    hall = ident.resources.create(root, ResourceDraft(name="Hall", timezone="UTC", policy=policy))
    ident.access.grant(root, hall.id, f"user:{ann_user.id}", "approve")
    assert book(ident, bob_user, hall).status is ReservationStatus.PENDING_APPROVAL
    assert book(ident, ann_user, hall, hours=2).status is ReservationStatus.CONFIRMED


def test_grants_are_managed_by_role_managers_only(
    ident: Reserver, root: Principal, ann_user: Principal
) -> None:
    room = ident.resources.create(root, ResourceDraft(name="Room", timezone="UTC"))
    with pytest.raises(PermissionDeniedError):
        ident.access.grant(ann_user, room.id, f"user:{ann_user.id}", "see")
    with pytest.raises(ValidationError):
        ident.access.grant(root, room.id, "user:nobody", "see")
    with pytest.raises(ValidationError):
        ident.access.grant(root, room.id, "everyone", "see")
    with pytest.raises(ValidationError):
        ident.access.grant(root, room.id, "role:user", "fly")
    grant = ident.access.grant(root, room.id, "role:user", "book")
    with pytest.raises(ConflictError):
        ident.access.grant(root, room.id, "role:user", "book")
    assert ident.access.grants(root, room.id) == [grant]
    ident.access.revoke_grant(root, room.id, "role:user", "book")
    assert ident.access.grants(root, room.id) == []
    with pytest.raises(NotFoundError):
        ident.access.revoke_grant(root, room.id, "role:user", "book")


def test_managing_only_your_own_needs_manage_own(
    ident: Reserver, root: Principal, ann_user: Principal
) -> None:
    room = ident.resources.create(root, ResourceDraft(name="Room", timezone="UTC"))
    made = book(ident, ann_user, room)
    _, plain = ident.api_keys.create(ann_user, "booker", ["view", "book"])
    via_key = ident.identity.authenticate(plain)
    assert ident.reservations.get(via_key, made.id) == made  # may see it ...
    with pytest.raises(PermissionDeniedError):  # ... but not change it
        ident.reservations.cancel(via_key, made.id)
    assert ident.reservations.cancel(ann_user, made.id).status is ReservationStatus.CANCELLED


def test_every_security_action_is_an_event(
    ident: Reserver, root: Principal, ann_user: Principal
) -> None:
    room = ident.resources.create(root, ResourceDraft(name="Room", timezone="UTC"))
    ident.access.create_role(root, "night", ["view"])
    ident.users.set_roles(root, ann_user.id, ["user"], ["night"])
    ident.access.grant(root, room.id, "role:night", "see")
    key, _ = ident.api_keys.create(ann_user, "k", ["view"])
    ident.api_keys.revoke(ann_user, key.id)
    ident.users.invite(root)
    ident.identity.logout(ann_user)
    with pytest.raises(Exception, match="wrong"):
        ident.identity.login("ann", "not her password at all")
    found = set(topics(ident))
    assert {
        "identity.setup_completed",
        "identity.user_registered",
        "identity.login_succeeded",
        "identity.login_failed",
        "identity.custom_role_changed",
        "identity.roles_changed",
        "identity.grant_changed",
        "identity.api_key_changed",
        "identity.invite_created",
        "identity.session_revoked",
    } <= found


def test_identity_events_round_trip_through_the_converter(
    ident: Reserver, root: Principal, ann_user: Principal
) -> None:
    from reserver.core.events import EVENTS_BY_TOPIC
    from reserver.core.serialization import make_converter

    converter = make_converter()
    ident.access.create_role(root, "night", ["view"])
    with ident.storage.transaction(readonly=True) as tx:
        messages = tx.outbox.due(ident.clock.now() + timedelta(days=1), 1000)
    assert messages
    for message in messages:
        event = message.event
        data = converter.unstructure(event)
        assert converter.structure(data, EVENTS_BY_TOPIC[event.topic]) == event
        assert "password" not in str(data).replace("password_changed", "")
