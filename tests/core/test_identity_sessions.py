from __future__ import annotations

import hmac
from datetime import UTC, datetime, timedelta

import pytest

from reserver.core import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    Principal,
    Reserver,
    ValidationError,
)
from reserver.core.adapters.clock import FixedClock
from reserver.core.adapters.hashing import ScryptPasswordHasher
from reserver.core.errors import AuthenticationError
from reserver.core.identity import Tokens, UserDraft, UserPatch
from reserver.core.identity.tokens import SignedTokens
from reserver.core.principals import Permission, Role
from reserver.core.settings import IdentitySettings

ROOT_PASSWORD = "violet hinges under a quiet harbour"  # as in conftest.py
ANN_PASSWORD = "seventeen paper lanterns drifting"
KEY = "0123456789abcdefghijklmnopqrstuvwxyz-KEY"
REOPEN = "reopen-0123456789abcdefghijklmnopqrstuvwxyz"


def topics(r: Reserver) -> list[str]:
    with r.storage.transaction(readonly=True) as tx:
        return [m.topic for m in tx.outbox.due(r.clock.now() + timedelta(days=400), 10_000)]


def login(r: Reserver, name: str, password: str, client: str = "203.0.113.5") -> Tokens:
    tokens = r.identity.login(name, password, client=client)
    assert isinstance(tokens, Tokens)
    return tokens


# -- setup ---------------------------------------------------------------------------------


def test_setup_creates_the_first_admin_once(ident: Reserver) -> None:
    assert ident.identity.setup_status().setup_complete is False
    admin = ident.identity.setup(UserDraft("root"), ROOT_PASSWORD)
    assert admin.roles == {Role.ADMIN}
    status = ident.identity.setup_status()
    assert (status.setup_complete, status.setup_reopened, status.user_count) == (True, False, 1)
    with pytest.raises(ConflictError, match="already complete"):
        ident.identity.setup(UserDraft("mallory"), "she wants the keys to everything")
    assert ident.identity.setup_status().user_count == 1


def test_reopening_setup_needs_the_configured_token(clock: FixedClock) -> None:
    closed = Reserver.in_memory(
        clock=clock,
        hasher=ScryptPasswordHasher(n=16, r=1, p=1),
        identity=IdentitySettings(secret_keys=(KEY,)),
    )
    with pytest.raises(PermissionDeniedError, match="no reopen token"):
        closed.identity.reopen_setup("anything")


def test_reopened_setup_runs_once_more_with_the_token(
    clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = Reserver.in_memory(
        clock=clock,
        hasher=ScryptPasswordHasher(n=16, r=1, p=1),
        identity=IdentitySettings(secret_keys=(KEY,), setup_reopen_token=REOPEN),
    )
    r.identity.setup(UserDraft("root"), ROOT_PASSWORD)
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    with pytest.raises(AuthenticationError):
        r.identity.reopen_setup(REOPEN[:-1] + "X", client="192.0.2.9")
    assert compared, "the token is compared with hmac.compare_digest"
    assert all(len(a) == len(b) for a, b in compared), "digests of equal length are compared"
    r.identity.reopen_setup(REOPEN, client="192.0.2.9")
    assert r.identity.setup_status().setup_reopened
    with pytest.raises(AuthenticationError, match="reopen token"):
        r.identity.setup(UserDraft("second"), "an extra admin for the night shift")
    second = r.identity.setup(
        UserDraft("second"), "an extra admin for the night shift", reopen_token=REOPEN
    )
    assert second.roles == {Role.ADMIN}
    with pytest.raises(ConflictError):
        r.identity.setup(UserDraft("third"), "and one more would be too many", reopen_token=REOPEN)
    assert "identity.setup_reopened" in topics(r)


def test_setup_promotes_an_existing_user_only_with_their_password(ident: Reserver) -> None:
    ident.identity.register(UserDraft("ann"), ANN_PASSWORD)
    with pytest.raises(AuthenticationError):
        ident.identity.setup(UserDraft("ann"), "not anns password at all, sorry")
    promoted = ident.identity.setup(UserDraft("ann"), ANN_PASSWORD)
    assert Role.ADMIN in promoted.roles


# -- registration --------------------------------------------------------------------------


def test_registration_makes_plain_users_with_lowercase_names(ident: Reserver) -> None:
    ann = ident.identity.register(UserDraft("Ann", email="Ann@Example.test"), ANN_PASSWORD)
    assert (ann.username, ann.roles) == ("ann", {Role.USER})
    with pytest.raises(ConflictError):
        ident.identity.register(UserDraft("ANN"), "another long enough passphrase")
    with pytest.raises(ConflictError):
        ident.identity.register(UserDraft("ann2", email="ann@example.TEST"), ANN_PASSWORD + "!")
    assert isinstance(ident.identity.login("ANN", ANN_PASSWORD), Tokens)


def test_registration_checks_every_field(ident: Reserver) -> None:
    with pytest.raises(ValidationError) as refused:
        ident.identity.register(
            UserDraft("a b", email="nope", timezone="Mars/Olympus", language="english!"),
            ANN_PASSWORD,
        )
    assert set(refused.value.fields) == {"username", "email", "timezone", "language"}


def test_invite_only_registration_needs_a_fresh_invite(clock: FixedClock) -> None:
    r = Reserver.in_memory(
        clock=clock,
        hasher=ScryptPasswordHasher(n=16, r=1, p=1),
        identity=IdentitySettings(secret_keys=(KEY,), registration="invite"),
    )
    r.identity.setup(UserDraft("root"), ROOT_PASSWORD)
    admin = r.identity.authenticate(login(r, "root", ROOT_PASSWORD).access_token)
    with pytest.raises(PermissionDeniedError, match="invite"):
        r.identity.register(UserDraft("ann"), ANN_PASSWORD)
    code = r.users.invite(admin)
    r.identity.register(UserDraft("ann"), ANN_PASSWORD, invite_code=code)
    with pytest.raises(PermissionDeniedError, match="wrong or used"):
        r.identity.register(UserDraft("bob"), "he has a long passphrase too", invite_code=code)
    late = r.users.invite(admin)
    clock.advance(timedelta(days=8))
    with pytest.raises(PermissionDeniedError, match="expired"):
        r.identity.register(UserDraft("bob"), "he has a long passphrase too", invite_code=late)


def test_admin_only_registration_refuses_everyone(clock: FixedClock) -> None:
    r = Reserver.in_memory(
        clock=clock,
        hasher=ScryptPasswordHasher(n=16, r=1, p=1),
        identity=IdentitySettings(secret_keys=(KEY,), registration="admin"),
    )
    with pytest.raises(PermissionDeniedError, match="administrator"):
        r.identity.register(UserDraft("ann"), ANN_PASSWORD)
    r.identity.setup(UserDraft("root"), ROOT_PASSWORD)
    admin = r.identity.authenticate(login(r, "root", ROOT_PASSWORD).access_token)
    made = r.users.create(admin, UserDraft("ann"), ANN_PASSWORD, roles=["guest"])
    assert made.roles == {Role.GUEST}


# -- log-in and sessions -------------------------------------------------------------------


def test_a_wrong_password_or_unknown_user_gets_the_same_answer(ident: Reserver) -> None:
    ident.identity.register(UserDraft("ann"), ANN_PASSWORD)
    with pytest.raises(AuthenticationError) as wrong:
        ident.identity.login("ann", "not the password at all")
    with pytest.raises(AuthenticationError) as unknown:
        ident.identity.login("nobody", "not the password at all")
    assert str(wrong.value) == str(unknown.value) == "wrong username or password"


def test_unknown_usernames_still_run_the_hasher(
    ident: Reserver, cheap_hasher: ScryptPasswordHasher, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = ScryptPasswordHasher.verify

    def counting(self: ScryptPasswordHasher, secret: str, hashed: str) -> bool:
        calls.append(hashed)
        return real(self, secret, hashed)

    monkeypatch.setattr(ScryptPasswordHasher, "verify", counting)
    with pytest.raises(AuthenticationError):
        ident.identity.login("nobody", "whatever they typed here")
    assert len(calls) == 1
    assert calls[0].startswith("scrypt$")


def test_an_access_token_names_the_user_and_its_rights(
    ident: Reserver, ann_user: Principal
) -> None:
    assert ann_user.permissions == {Permission.VIEW, Permission.BOOK, Permission.MANAGE_OWN}
    assert ann_user.session_id is not None
    assert ident.identity.me(ann_user).username == "ann"


def test_an_expired_or_tampered_access_token_is_refused(ident: Reserver, clock: FixedClock) -> None:
    ident.identity.register(UserDraft("ann"), ANN_PASSWORD)
    tokens = login(ident, "ann", ANN_PASSWORD)
    token = tokens.access_token
    assert ident.identity.authenticate(token).id  # verified once, and remembered
    # A character inside the signature: the last one may differ only in base64's padding bits
    # (the same signature), or already be the one written over it.
    inside = len(token) - 5
    tampered = token[:inside] + ("B" if token[inside] == "A" else "A") + token[inside + 1 :]
    with pytest.raises(AuthenticationError):
        ident.identity.authenticate(tampered)
    clock.advance(timedelta(minutes=15))
    with pytest.raises(AuthenticationError):
        ident.identity.authenticate(tokens.access_token)


def test_keys_rotate_the_first_signs_and_all_verify(ident: Reserver, clock: FixedClock) -> None:
    ident.identity.register(UserDraft("ann"), ANN_PASSWORD)
    old_token = login(ident, "ann", ANN_PASSWORD).access_token
    old_key = ident.identity_settings.secret_keys[0]
    new_key = "fresh-key-9876543210zyxwvutsrqponmlkjihg"
    rotated = Reserver(
        storage=ident.storage,
        clock=clock,
        hasher=ScryptPasswordHasher(n=16, r=1, p=1),
        identity=IdentitySettings(secret_keys=(new_key, old_key)),
    )
    assert rotated.identity.authenticate(old_token).id
    new_token = login(rotated, "ann", ANN_PASSWORD).access_token
    with pytest.raises(AuthenticationError):
        ident.identity.authenticate(new_token)  # signed by the new key only
    retired = Reserver(
        storage=ident.storage,
        clock=clock,
        hasher=ScryptPasswordHasher(n=16, r=1, p=1),
        identity=IdentitySettings(secret_keys=(new_key,)),
    )
    with pytest.raises(AuthenticationError):
        retired.identity.authenticate(old_token)


def test_refresh_rotates_and_a_reused_token_revokes_the_family(ident: Reserver) -> None:
    ident.identity.register(UserDraft("ann"), ANN_PASSWORD)
    first = login(ident, "ann", ANN_PASSWORD)
    other_device = login(ident, "ann", ANN_PASSWORD)
    second = ident.identity.refresh(first.refresh_token)
    assert second.refresh_token != first.refresh_token
    third = ident.identity.refresh(second.refresh_token)
    ident.identity.authenticate(third.access_token)
    with pytest.raises(AuthenticationError):
        ident.identity.refresh(first.refresh_token)  # stolen and replayed
    with pytest.raises(AuthenticationError):
        ident.identity.refresh(third.refresh_token)  # the whole family is dead
    with pytest.raises(AuthenticationError):
        ident.identity.authenticate(third.access_token)  # and so are its access tokens
    assert ident.identity.authenticate(other_device.access_token).id  # other sessions live
    assert "identity.session_revoked" in topics(ident)


def test_an_expired_refresh_token_is_refused(ident: Reserver, clock: FixedClock) -> None:
    ident.identity.register(UserDraft("ann"), ANN_PASSWORD)
    tokens = login(ident, "ann", ANN_PASSWORD)
    clock.advance(timedelta(days=14, seconds=1))
    with pytest.raises(AuthenticationError):
        ident.identity.refresh(tokens.refresh_token)


def test_logout_kills_the_access_token_at_once(ident: Reserver) -> None:
    ident.identity.register(UserDraft("ann"), ANN_PASSWORD)
    tokens = login(ident, "ann", ANN_PASSWORD)
    principal = ident.identity.authenticate(tokens.access_token)
    ident.identity.logout(principal)
    with pytest.raises(AuthenticationError):
        ident.identity.authenticate(tokens.access_token)
    with pytest.raises(AuthenticationError):
        ident.identity.refresh(tokens.refresh_token)


def test_garbage_bearers_are_refused(ident: Reserver) -> None:
    for bearer in ["", "Bearer ", "rk_nope", "ro_nope", "x" * 5000, "abc.def"]:
        with pytest.raises(AuthenticationError):
            ident.identity.authenticate(bearer)


# -- self-service and administration -------------------------------------------------------


def test_users_change_their_profile_but_not_their_roles(
    ident: Reserver, ann_user: Principal
) -> None:
    updated = ident.identity.update_me(
        ann_user, UserPatch(display_name="Ann Smith", timezone="Europe/Paris", language="fr")
    )
    assert (updated.display_name, updated.timezone, updated.language) == (
        "Ann Smith",
        "Europe/Paris",
        "fr",
    )
    with pytest.raises(ValidationError):
        ident.identity.update_me(ann_user, UserPatch(timezone="Nowhere/Land"))
    with pytest.raises(PermissionDeniedError):
        ident.users.set_roles(ann_user, ann_user.id, ["admin"])


def test_changing_the_password_revokes_the_other_sessions(ident: Reserver) -> None:
    ident.identity.register(UserDraft("ann"), ANN_PASSWORD)
    here, elsewhere = login(ident, "ann", ANN_PASSWORD), login(ident, "ann", ANN_PASSWORD)
    me = ident.identity.authenticate(here.access_token)
    with pytest.raises(AuthenticationError):
        ident.identity.change_password(me, "wrong old password here", "a brand new passphrase 42")
    with pytest.raises(ValidationError):
        ident.identity.change_password(me, ANN_PASSWORD, "password1234")
    ident.identity.change_password(me, ANN_PASSWORD, "a brand new passphrase 42")
    assert ident.identity.authenticate(here.access_token).id == me.id
    with pytest.raises(AuthenticationError):
        ident.identity.authenticate(elsewhere.access_token)
    with pytest.raises(AuthenticationError):
        ident.identity.login("ann", ANN_PASSWORD)
    login(ident, "ann", "a brand new passphrase 42")


def test_an_admin_reset_obeys_the_policy_and_ends_every_session(
    ident: Reserver, root: Principal
) -> None:
    ident.identity.register(UserDraft("ann"), ANN_PASSWORD)
    session = login(ident, "ann", ANN_PASSWORD)
    ann = ident.identity.authenticate(session.access_token)
    with pytest.raises(ValidationError, match="at least 12"):
        ident.users.reset_password(root, ann.id, "short")
    with pytest.raises(ValidationError, match="breached"):
        ident.users.reset_password(root, ann.id, "password1234")
    ident.users.reset_password(root, ann.id, "reset by the admin on monday")
    with pytest.raises(AuthenticationError):
        ident.identity.authenticate(session.access_token)
    login(ident, "ann", "reset by the admin on monday")


def test_a_deactivated_user_can_neither_log_in_nor_use_a_session(
    ident: Reserver, root: Principal, ann_user: Principal
) -> None:
    ident.users.set_active(root, ann_user.id, False)
    with pytest.raises(AuthenticationError):
        ident.identity.login("ann", ANN_PASSWORD)
    with pytest.raises(PermissionDeniedError):
        ident.users.set_active(root, root.id, False)


def test_user_administration_needs_the_right(
    ident: Reserver, root: Principal, ann_user: Principal
) -> None:
    with pytest.raises(PermissionDeniedError):
        ident.users.list(ann_user)
    names = [u.username for u in ident.users.list(root).items]
    assert names == ["ann", "root"]
    assert ident.users.get(ann_user, ann_user.id).username == "ann"
    with pytest.raises(PermissionDeniedError):
        ident.users.get(ann_user, root.id)
    with pytest.raises(NotFoundError):
        ident.users.get(root, "missing")  # type: ignore[arg-type]


def test_profiles_never_carry_secrets(ident: Reserver, ann_user: Principal) -> None:
    profile = ident.identity.me(ann_user)
    assert not hasattr(profile, "password_hash")
    assert not hasattr(profile, "totp_sealed")


def test_a_remembered_token_is_checked_for_its_expiry_and_never_shared_out() -> None:
    tokens = SignedTokens(("k" * 40,), "access", remembered=2)
    now = datetime(2030, 1, 7, 8, tzinfo=UTC)
    issued = [tokens.dump({"sub": f"u{n}"}, now, timedelta(minutes=15)) for n in range(3)]
    for token in issued * 2:  # the third fills the memory past its bound: it starts afresh
        assert tokens.load(token, now)["sub"] == f"u{issued.index(token)}"
    claims = tokens.load(issued[0], now)
    claims["sub"] = "mallory"  # the caller's copy
    assert tokens.load(issued[0], now)["sub"] == "u0"
    with pytest.raises(AuthenticationError):
        tokens.load(issued[0], now + timedelta(minutes=15))
    forged = SignedTokens(("x" * 40,), "access").dump({"sub": "u0"}, now, timedelta(minutes=15))
    with pytest.raises(AuthenticationError):
        tokens.load(forged, now)
