from __future__ import annotations

import functools
from datetime import timedelta

import pytest

from reserver.core import ConflictError, Principal, Reserver, ValidationError
from reserver.core.adapters.clock import FixedClock
from reserver.core.errors import AuthenticationError, PermissionDeniedError
from reserver.core.identity import MfaRequired, Tokens, UserDraft
from reserver.core.identity.totp import code_at
from reserver.core.testing.races import WON, race

PASSWORD = "seventeen paper lanterns drifting"
STEP = timedelta(seconds=30)


@pytest.fixture
def ann(ident: Reserver) -> Principal:
    ident.identity.register(UserDraft("ann"), PASSWORD)
    tokens = ident.identity.login("ann", PASSWORD, client="203.0.113.5")
    assert isinstance(tokens, Tokens)
    return ident.identity.authenticate(tokens.access_token)


def enable(r: Reserver, who: Principal) -> tuple[str, tuple[str, ...]]:
    enrolment = r.identity.mfa_enrol(who)
    codes = r.identity.mfa_confirm(who, code_at(enrolment.secret, r.clock.now()))
    return enrolment.secret, codes


def challenge(r: Reserver) -> str:
    started = r.identity.login("ann", PASSWORD, client="203.0.113.5")
    assert isinstance(started, MfaRequired)
    return started.challenge


def topics(r: Reserver) -> list[str]:
    with r.storage.transaction(readonly=True) as tx:
        return [m.topic for m in tx.outbox.due(r.clock.now() + timedelta(days=400), 10_000)]


def test_enrolment_shows_the_secret_as_text_and_as_an_otpauth_uri(
    ident: Reserver, ann: Principal
) -> None:
    enrolment = ident.identity.mfa_enrol(ann)
    assert enrolment.otpauth_uri.startswith("otpauth://totp/Reserver:ann?secret=")
    assert enrolment.secret in enrolment.otpauth_uri
    with pytest.raises(ValidationError):
        ident.identity.mfa_confirm(ann, "000000")
    assert not ident.identity.me(ann).mfa_enabled


def test_the_secret_is_sealed_at_rest(ident: Reserver, ann: Principal) -> None:
    secret, _ = enable(ident, ann)
    with ident.storage.transaction(readonly=True) as tx:
        stored = tx.identity.users.get(ann.id)
    assert stored.totp_sealed is not None
    assert secret not in stored.totp_sealed


def test_a_password_alone_no_longer_logs_in_once_mfa_is_on(
    ident: Reserver, ann: Principal, clock: FixedClock
) -> None:
    secret, codes = enable(ident, ann)
    assert len(codes) == 10
    assert len(set(codes)) == 10
    started = ident.identity.login("ann", PASSWORD)
    assert isinstance(started, MfaRequired)
    assert started.expires_in == 300
    clock.advance(STEP)
    tokens = ident.identity.login_mfa(started.challenge, code_at(secret, clock.now()))
    assert ident.identity.authenticate(tokens.access_token).id == ann.id


def test_a_totp_code_is_never_accepted_twice(
    ident: Reserver, ann: Principal, clock: FixedClock
) -> None:
    secret, _ = enable(ident, ann)
    with pytest.raises(AuthenticationError):  # the confirming code is spent already
        ident.identity.login_mfa(challenge(ident), code_at(secret, clock.now()))
    clock.advance(STEP)
    code = code_at(secret, clock.now())
    ident.identity.login_mfa(challenge(ident), code)
    with pytest.raises(AuthenticationError, match="wrong or used"):
        ident.identity.login_mfa(challenge(ident), code)
    with pytest.raises(AuthenticationError):  # nor is an older step, still inside the drift
        ident.identity.login_mfa(challenge(ident), code_at(secret, clock.now() - STEP))
    clock.advance(STEP)
    ident.identity.login_mfa(challenge(ident), code_at(secret, clock.now()))


def test_concurrent_uses_of_one_totp_code_have_one_winner(
    ident: Reserver, ann: Principal, clock: FixedClock
) -> None:
    secret, _ = enable(ident, ann)
    clock.advance(STEP)
    code, started = code_at(secret, clock.now()), challenge(ident)
    outcomes = race([functools.partial(ident.identity.login_mfa, started, code)] * 8)
    assert outcomes.count(WON) == 1, outcomes


def test_a_backup_code_works_once(ident: Reserver, ann: Principal) -> None:
    _, codes = enable(ident, ann)
    tokens = ident.identity.login_mfa(challenge(ident), codes[0].upper())
    assert ident.identity.authenticate(tokens.access_token).id == ann.id
    with pytest.raises(AuthenticationError):
        ident.identity.login_mfa(challenge(ident), codes[0])
    assert ident.identity.backup_codes_left(ann) == 9
    assert "identity.backup_code_used" in topics(ident)


def test_two_concurrent_uses_of_one_backup_code_have_one_winner(
    ident: Reserver, ann: Principal
) -> None:
    _, codes = enable(ident, ann)
    started = challenge(ident)
    outcomes = race([functools.partial(ident.identity.login_mfa, started, codes[3])] * 8)
    assert outcomes.count(WON) == 1, outcomes
    losers = {o.split(":")[0] for o in outcomes if o != WON}
    assert losers <= {"AuthenticationError", "TooManyAttemptsError"}, outcomes
    assert ident.identity.backup_codes_left(ann) == 9


def test_wrong_codes_are_throttled(ident: Reserver, ann: Principal) -> None:
    enable(ident, ann)
    started = challenge(ident)
    for _ in range(5):
        with pytest.raises(AuthenticationError):
            ident.identity.login_mfa(started, "123456", client="198.51.100.66")
    with pytest.raises(Exception, match="too many") as refused:
        ident.identity.login_mfa(started, "123456", client="198.51.100.66")
    assert type(refused.value).__name__ == "TooManyAttemptsError"


def test_turning_mfa_off_needs_the_password_and_a_code(
    ident: Reserver, ann: Principal, clock: FixedClock
) -> None:
    secret, codes = enable(ident, ann)
    clock.advance(STEP)
    with pytest.raises(AuthenticationError):
        ident.identity.mfa_disable(ann, "not my password at all", code_at(secret, clock.now()))
    with pytest.raises(AuthenticationError):
        ident.identity.mfa_disable(ann, PASSWORD, "000000")
    assert ident.identity.me(ann).mfa_enabled
    ident.identity.mfa_disable(ann, PASSWORD, codes[1])
    assert not ident.identity.me(ann).mfa_enabled
    assert isinstance(ident.identity.login("ann", PASSWORD), Tokens)
    with pytest.raises(ConflictError):
        ident.identity.mfa_disable(ann, PASSWORD, codes[2])


def test_regenerating_backup_codes_retires_the_old_ones(
    ident: Reserver, ann: Principal, clock: FixedClock
) -> None:
    secret, old = enable(ident, ann)
    clock.advance(STEP)
    with pytest.raises(AuthenticationError):
        ident.identity.regenerate_backup_codes(ann, old[0])  # a TOTP code is required
    new = ident.identity.regenerate_backup_codes(ann, code_at(secret, clock.now()))
    assert set(new).isdisjoint(old)
    with pytest.raises(AuthenticationError):
        ident.identity.login_mfa(challenge(ident), old[1])
    ident.identity.login_mfa(challenge(ident), new[1])


def test_api_keys_cannot_manage_mfa(ident: Reserver, ann: Principal) -> None:
    _, key = ident.api_keys.create(ann, "script", ["view"])
    via_key = ident.identity.authenticate(key)
    with pytest.raises(PermissionDeniedError):
        ident.identity.mfa_enrol(via_key)


def test_every_mfa_change_is_an_event(ident: Reserver, ann: Principal, clock: FixedClock) -> None:
    secret, _codes = enable(ident, ann)
    clock.advance(STEP)
    ident.identity.regenerate_backup_codes(ann, code_at(secret, clock.now()))
    clock.advance(STEP)
    ident.identity.mfa_disable(ann, PASSWORD, code_at(secret, clock.now()))
    assert topics(ident).count("identity.mfa_changed") == 4  # enrolled, on, codes, off
