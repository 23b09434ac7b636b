from __future__ import annotations

import pytest

from reserver.core.adapters.hashing import ScryptPasswordHasher
from reserver.core.errors import ConfigurationError
from reserver.core.ports import PasswordHasher
from reserver.core.testing import PasswordHasherContract

CHEAP = {"n": 16, "r": 1, "p": 1}


class TestScryptPasswordHasher(PasswordHasherContract):
    @pytest.fixture
    def hasher(self) -> PasswordHasher:
        return ScryptPasswordHasher(**CHEAP)

    @pytest.fixture
    def outdated_hash(self) -> tuple[str, str]:
        return "old secret", ScryptPasswordHasher(n=8, r=1, p=1).hash("old secret")


def test_the_hash_names_its_scheme_and_parameters() -> None:
    hashed = ScryptPasswordHasher(n=32, r=2, p=1).hash("s3cret")
    scheme, params, salt, key = hashed.split("$")
    assert (scheme, params) == ("scrypt", "n=32,r=2,p=1")
    assert len(salt) >= 22  # 16 random bytes
    assert len(key) >= 43  # 32 bytes of derived key


def test_default_parameters_follow_owasp() -> None:
    # needs_rehash reads the parameters without running the (deliberately slow) KDF.
    salt, key = "A" * 22, "A" * 43  # 16 and 32 zero bytes
    hasher = ScryptPasswordHasher()
    assert not hasher.needs_rehash(f"scrypt$n=8192,r=8,p=10${salt}${key}")
    # The earlier default (32 MiB a hash) is upgraded at the next sign-in.
    assert hasher.needs_rehash(f"scrypt$n=32768,r=8,p=3${salt}${key}")


@pytest.mark.parametrize("change", [{"n": 32}, {"r": 2}, {"p": 2}, {"key_bytes": 48}])
def test_any_parameter_change_asks_for_a_rehash(change: dict[str, int]) -> None:
    old = ScryptPasswordHasher(**CHEAP).hash("pw")
    newer = ScryptPasswordHasher(**{**CHEAP, **change})
    assert newer.verify("pw", old)
    assert newer.needs_rehash(old)


def test_a_shorter_salt_than_configured_asks_for_a_rehash() -> None:
    old = ScryptPasswordHasher(**CHEAP).hash("pw")
    assert ScryptPasswordHasher(**CHEAP, salt_bytes=32).needs_rehash(old)


@pytest.mark.parametrize(
    "params", ["n=3,r=1,p=1", "n=2097152,r=1,p=1", "n=16,r=64,p=1", "n=16,r=1,p=99", "n=16,r=1"]
)
def test_hashes_with_unsafe_parameters_verify_nothing(params: str) -> None:
    hasher = ScryptPasswordHasher(**CHEAP)
    _, _, salt, key = hasher.hash("pw").split("$")
    forged = f"scrypt${params}${salt}${key}"
    assert not hasher.verify("pw", forged)
    assert hasher.needs_rehash(forged)


def test_a_tampered_key_fails() -> None:
    hasher = ScryptPasswordHasher(**CHEAP)
    scheme, params, salt, key = hasher.hash("pw").split("$")
    flipped = ("B" if key[0] == "A" else "A") + key[1:]
    assert not hasher.verify("pw", f"{scheme}${params}${salt}${flipped}")


@pytest.mark.parametrize(
    "bad", [{"n": 15}, {"n": 1}, {"r": 0}, {"p": 0}, {"key_bytes": 8}, {"salt_bytes": 8}]
)
def test_unusable_parameters_fail_at_construction(bad: dict[str, int]) -> None:
    with pytest.raises(ConfigurationError, match="scrypt"):
        ScryptPasswordHasher(**{**CHEAP, **bad})
