from __future__ import annotations

import pytest

from reserver.core import ConfigurationError, Reserver, ValidationError
from reserver.core.adapters.clock import FixedClock
from reserver.core.adapters.hashing import ScryptPasswordHasher
from reserver.core.identity import Tokens, UserDraft
from reserver.core.identity.passwords import PasswordPolicy, is_breached
from reserver.core.settings import IdentitySettings

KEY = "0123456789abcdefghijklmnopqrstuvwxyz-KEY"


def test_a_short_password_is_refused() -> None:
    problems = PasswordPolicy(min_length=12).problems("eleven chrs")
    assert problems == ["must be at least 12 characters"]


def test_the_minimum_length_is_a_setting() -> None:
    assert PasswordPolicy(min_length=16).problems("fifteen letters") != []
    assert PasswordPolicy(min_length=14).problems("fifteen letters") == []
    with pytest.raises(ValueError, match="10 to 128"):
        IdentitySettings(password_min_length=8)


def test_long_passphrases_with_any_characters_are_welcome() -> None:
    phrase = "the café opens at 7 — bring the blue umbrella ☂ " * 4
    assert PasswordPolicy().problems(phrase) == []


@pytest.mark.parametrize(
    "common", ["password1234", "qwertyuiop123", "iloveyou1234", "Password123!"]
)
def test_a_common_or_breached_password_is_refused(common: str) -> None:
    assert is_breached(common)
    assert PasswordPolicy().problems(common) == ["is a common or breached password; choose another"]


def test_the_breached_check_ignores_case() -> None:
    assert is_breached("PASSWORD1234")
    assert not is_breached("violet hinges under a quiet harbour")


def test_a_password_containing_the_username_is_refused() -> None:
    problems = PasswordPolicy().problems("xXMargaret-Hamilton-1969", username="margaret")
    assert problems == ["must not contain the username"]
    assert PasswordPolicy().problems("xXMargaret-Hamilton-1969", username="ann") == []


def test_composition_rules_are_an_option_off_by_default() -> None:
    lower_only = "correct horse battery staple"
    assert PasswordPolicy().problems(lower_only) == []
    assert PasswordPolicy(composition_rules=True).problems(lower_only) == [
        "must contain an upper-case letter",
        "must contain a digit",
        "must contain a special character",
    ]
    assert PasswordPolicy(composition_rules=True).problems("Correct horse battery 9!") == []


def test_registration_reports_the_policy_for_the_password_field(ident: Reserver) -> None:
    with pytest.raises(ValidationError) as refused:
        ident.identity.register(UserDraft("zoe"), "password1234")
    assert refused.value.fields == {"password": "is a common or breached password; choose another"}


def test_composition_rules_apply_when_switched_on(clock: FixedClock) -> None:
    strict = Reserver.in_memory(
        clock=clock,
        hasher=ScryptPasswordHasher(n=16, r=1, p=1),
        identity=IdentitySettings(secret_keys=(KEY,), composition_rules=True),
    )
    with pytest.raises(ValidationError, match="upper-case"):
        strict.identity.register(UserDraft("zoe"), "violet hinges under a quiet harbour")
    strict.identity.register(UserDraft("zoe"), "Violet hinges under 1 quiet harbour!")


def test_login_rehashes_a_password_made_with_old_parameters(clock: FixedClock) -> None:
    old = ScryptPasswordHasher(n=16, r=1, p=1)
    new = ScryptPasswordHasher(n=32, r=1, p=1)
    settings = IdentitySettings(secret_keys=(KEY,))
    before = Reserver.in_memory(clock=clock, hasher=old, identity=settings)
    before.identity.register(UserDraft("ann"), "seventeen paper lanterns drifting")
    # Same storage, new parameters: the next log-in upgrades the stored hash.
    after = Reserver(storage=before.storage, clock=clock, hasher=new, identity=settings)
    with after.storage.transaction(readonly=True) as tx:
        stale = tx.identity.users.get_by_username("ann").password_hash
    assert new.needs_rehash(stale)
    assert isinstance(after.identity.login("ann", "seventeen paper lanterns drifting"), Tokens)
    with after.storage.transaction(readonly=True) as tx:
        fresh = tx.identity.users.get_by_username("ann").password_hash
    assert fresh != stale
    assert not new.needs_rehash(fresh)
    assert isinstance(after.identity.login("ann", "seventeen paper lanterns drifting"), Tokens)


def test_passwords_are_compared_after_unicode_normalization(ident: Reserver) -> None:
    composed = "caf\u00e9 au lait with two sugars"
    decomposed = "cafe\u0301 au lait with two sugars"
    ident.identity.register(UserDraft("ann"), composed)
    assert isinstance(ident.identity.login("ann", decomposed), Tokens)


@pytest.mark.parametrize(
    "key",
    ["your-secret-key-change-in-production", "short-key", "a" * 40, "change-me"],
)
def test_a_weak_or_default_key_refuses_to_start_outside_development(key: str) -> None:
    with pytest.raises(ConfigurationError, match="secret key"):
        Reserver.in_memory(identity=IdentitySettings(secret_keys=(key,)))
    dev = IdentitySettings(secret_keys=(key,), environment="development")
    assert Reserver.in_memory(identity=dev).identity_settings is dev


def test_the_default_key_is_random_and_strong() -> None:
    first, second = IdentitySettings(), IdentitySettings()
    assert first.secret_keys != second.secret_keys
    first.check()
